"""One customer, three channels, one thread (issue 3's end-to-end check; journey 4).

João, whom the bank knows by his phone and email, texts about his blocked card (a signed
Twilio webhook, retried once), then calls and goes through the IVR (signed voice
webhooks: incoming, language, reason, queued) and hangs up while waiting, then emails his
receipt (a real SMTP client into the built-in SMTP server). Rui, in the desktop in a real
browser, sees one customer and one thread with all three, and answers; the answer leaves
by email through the outbox to the relay, threaded under João's email, and João's reply to
it lands in the same thread, live on Rui's screen."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import func, select

from tests.conftest import Running, World, add_endpoint, eventually, login, set_capacity
from tests.e2e.conftest import sign_in
from tests.e2e.test_desktop import _page
from tests.fakes.smtp_relay import FakeRelay, running_fake_relay
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, running_fake_twilio
from tests.integration.test_email_outbound import (
    CARDS,
    CUSTOMER,
    CUSTOMER_ID,
    EARLIER_ID,
    Mailboxes,
    customer_email,
    email_settings,
)
from tests.integration.test_sms import CUSTOMER as PHONE
from tests.integration.test_sms import NUMBER, sms_endpoint
from tests.integration.test_sms import inbound as sms_inbound
from tests.integration.test_sms import webhook_url as sms_webhook_url
from tests.integration.test_voice import IVR, call_into_queue
from tests.integration.test_voice import url as voice_url
from threadline.channels.email.parsing import provider_id
from threadline.config import Settings
from threadline.customers.models import Customer
from threadline.threads.models import Thread, ThreadEvent

pytestmark = pytest.mark.browser

SMS_TEXT = "O meu cartão foi bloqueado no multibanco"
EMAIL_TEXT = "Segue o recibo do levantamento."
REPLY = "Olá João, o cartão já está desbloqueado."
ANSWER_ID = "<CAF7k2x9.card.0003@mail.example.pt>"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return email_settings(settings, tmp_path)


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


@pytest.fixture
def relay() -> Iterator[FakeRelay]:
    with running_fake_relay() as fake:
        yield fake


@pytest.fixture
async def mail(server: Running, world: World, twilio: FakeTwilio, relay: FakeRelay) -> Mailboxes:
    """The bank's SMS number, phone line with its IVR and cards mailbox, configured by the
    admin through the API, all into the general queue; and João's customer record."""
    general = world.queues["general"].id
    await add_endpoint(server, **sms_endpoint(twilio, general))
    await add_endpoint(
        server,
        channel="voice",
        key=NUMBER,
        name="Phone line",
        queue_id=general,
        secret=AUTH_TOKEN,
        settings={"account_sid": ACCOUNT_SID, "ivr": IVR},
    )
    await add_endpoint(server, **relay.mailbox(CARDS, "Cards", general, from_name="Test Bank"))
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, sms=3, email=3)
    admin = await login(server, "admin@example.com")
    known = await admin.post(
        "/api/v1/customers", json={"name": "João Silva", "phone": PHONE, "email": CUSTOMER}
    )
    assert known.status_code == 201, known.text
    await admin.aclose()
    return Mailboxes(server, world, relay)


async def test_sms_call_and_email_are_one_thread_and_the_email_reply_threads(
    server: Running, browser: Browser, twilio: FakeTwilio, mail: Mailboxes
) -> None:
    relay = mail.relay
    # 1. João texts; the provider retries the webhook: stored once
    for _ in range(2):
        texted = await twilio.post_signed(sms_webhook_url(server), sms_inbound("SM-J1", SMS_TEXT))
        assert texted.status_code == 200, texted.text
    # 2. he calls: the IVR already knows his language from his text (Portuguese), so it
    # asks only the reason: cards, queued ... and he hangs up while waiting
    hold = await call_into_queue(server, twilio, "CA-J1", ("1",))
    assert hold.find("Redirect") is not None and hold.find("Dial") is None
    hung_up = await twilio.call_webhook(
        voice_url(server, "/status"), "CA-J1", PHONE, NUMBER, "completed", CallDuration="95"
    )
    assert hung_up.status_code == 200, hung_up.text
    # 3. he emails his receipt
    await mail.asend(customer_email(EMAIL_TEXT, subject="Cartão bloqueado"))
    thread_id = await eventually(lambda: _one_thread_with(server, "sms", "voice", "email"))

    # 4. Rui, in the desktop, takes it and sees everything in one thread
    context, page, errors = await _page(browser)
    await sign_in(page, server.base_url, "rui@example.com")
    await expect(page.locator(".conn")).to_have_text("Live")
    await page.get_by_label("Presence").select_option("available")
    offer = page.get_by_test_id("offer")
    await expect(offer).to_be_visible(timeout=10_000)
    await offer.get_by_role("button", name="Accept").click()
    timeline = page.get_by_test_id("timeline")
    messages = timeline.locator("[data-kind=message]")
    await expect(messages.filter(has_text=SMS_TEXT)).to_have_count(1)
    await expect(messages.filter(has_text=EMAIL_TEXT)).to_have_count(1)
    await expect(timeline.locator("[data-kind=call]")).to_have_count(1)
    await expect(page.locator(".convo-title")).to_have_text("João Silva")
    channels = await timeline.locator(".badge-channel").all_inner_texts()
    assert {"sms", "email"} <= set(channels)

    # 5. he answers; it leaves by email (the channel João wrote on last), threaded
    draft = page.get_by_label("Reply", exact=True)
    await draft.fill(REPLY)
    await draft.press("Enter")
    await expect(messages.filter(has_text=REPLY).get_by_test_id("delivery")).to_have_text("sent")
    [sent] = relay.messages
    ours = sent.message
    assert sent.rcpt_tos == [CUSTOMER] and ours["From"].addresses[0].addr_spec == CARDS
    assert ours["Subject"] == "Re: Cartão bloqueado"
    assert ours["In-Reply-To"] == CUSTOMER_ID
    assert ours["References"].split() == [EARLIER_ID, CUSTOMER_ID]
    body = ours.get_body(("plain",))
    assert body is not None and REPLY in body.get_content()

    # 6. João's reply to it lands in the same thread, live on Rui's screen
    await mail.asend(
        customer_email(
            "Obrigado, já funciona!",
            message_id=ANSWER_ID,
            subject=f"Re: {ours['Subject']}",
            in_reply_to=ours["Message-ID"],
            references=f"{EARLIER_ID} {CUSTOMER_ID} {ours['Message-ID']}",
        )
    )
    await expect(messages.last).to_contain_text("Obrigado, já funciona!")
    async with server.ctx.db.sessions() as db:
        answer = await db.scalar(
            select(ThreadEvent).where(
                ThreadEvent.provider_msg_id == provider_id(CUSTOMER, ANSWER_ID, b"")
            )
        )
        assert answer is not None and answer.thread_id == thread_id
        assert await db.scalar(select(func.count()).select_from(Customer)) == 1
        assert await db.scalar(select(func.count()).select_from(Thread)) == 1
        sms = select(func.count()).where(ThreadEvent.provider_msg_id == "SM-J1")
        assert await db.scalar(sms) == 1
    assert len(relay.messages) == 1 and errors == []
    await context.close()


async def _one_thread_with(server: Running, *channels: str) -> str | None:
    """The thread id, once the customer's one thread holds messages or calls on all these
    channels (and there is no other customer or thread)."""
    async with server.ctx.db.sessions() as db:
        rows: Any = (
            await db.execute(
                select(ThreadEvent.thread_id, ThreadEvent.channel).where(
                    ThreadEvent.author_type == "customer"
                )
            )
        ).all()
        customers = await db.scalar(select(func.count()).select_from(Customer))
    threads = {thread for thread, _ in rows}
    if customers != 1 or len(threads) != 1 or not set(channels) <= {c for _, c in rows}:
        return None
    return str(threads.pop())
