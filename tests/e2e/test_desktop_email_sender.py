"""The agent sees which emails' senders are not proven, in real headless chromium: a forged
(unsigned) From naming a customer shows "sender not verified" on its timeline entry, in the
agent's language; the same customer's DKIM-signed email does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.channels.test_email_authentication import RECORD, Dns, _message, _signed
from tests.conftest import Running, World, set_capacity, take_thread
from tests.e2e.conftest import sign_in
from tests.integration.test_email_inbound import add_mailbox
from threadline.attachments import AttachmentStore
from threadline.channels.email.service import EmailReceiver
from threadline.threads.models import ThreadEvent

pytestmark = pytest.mark.browser

ANA = "ana@bank-customer.example"


async def test_a_forged_from_is_marked_on_the_timeline(
    server: Running, world: World, browser: Browser, tmp_path: Path
) -> None:
    mailbox = await add_mailbox(server.ctx, world)
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, email=3)
    receiver = EmailReceiver(server.ctx, AttachmentStore(tmp_path / "attachments"))
    receiver.dkim_dns = Dns({"s1._domainkey.bank-customer.example": RECORD})
    signed = _signed(_message(ANA), "bank-customer.example")
    forged = _message(ANA).replace(b"a1@", b"a2@").replace(b"recusado", b"desbloqueado, ok?")
    await receiver.receive(mailbox, signed, envelope_from=ANA)
    await receiver.receive(mailbox, forged, envelope_from="mallory@forger.example")
    async with server.ctx.db.sessions() as db:
        first = await db.scalar(select(ThreadEvent).where(ThreadEvent.kind == "message"))
    assert first is not None
    rui = await take_thread(server, "rui@example.com", first.thread_id)
    await rui.aclose()

    context = await browser.new_context(viewport={"width": 1400, "height": 860}, locale="el-GR")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, server.base_url, "rui@example.com")
    await page.get_by_test_id("thread-item").first.click()
    messages = page.get_by_test_id("timeline").locator("[data-kind=message]")
    await expect(messages).to_have_count(2)
    await expect(messages.nth(0).get_by_test_id("sender-not-verified")).to_be_hidden()
    mark = messages.nth(1).get_by_test_id("sender-not-verified")
    await expect(mark).to_be_visible()
    await expect(mark).to_have_text("μη επαληθευμένος αποστολέας")  # the agent's Greek
    assert "DKIM" in (await mark.get_attribute("title") or "")
    assert errors == []
    await context.close()
