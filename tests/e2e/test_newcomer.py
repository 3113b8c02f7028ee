"""The newcomer's walk (issue 13 §5): from the demo setup (`threadline demo`'s data, served
with the simulated providers on), a scripted browser walks journeys 1, 2 and 4 of
shared/JOURNEYS.md the way someone trying Threadline would, through the demo site, the app
page and the simulated phone, mail and voice pages, with no provider account.

1. Marta, signed in on the demo site, writes in Portuguese; the bot asks what it is about,
   she picks "my card has not arrived" and gives her card's last digits; the chat goes to
   Rui, who helped her last week; he answers, she sees it, he resolves with a reason.
2. Dmitri, in the app, picks "lost card", answers two questions, waits, asks to be called
   back keeping his place; an SMS confirms (his phone page); when a tier-2 agent comes on,
   the bank calls him back (his voice page rings), he answers and is connected.
4. Carlos texts about a refund, emails the receipt, then writes on WhatsApp: one customer,
   one thread; Rui's answer goes out on WhatsApp and shows on Carlos's phone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from tests.conftest import Running
from tests.e2e.test_simulated_pages import (
    DESKTOP,
    PHONE,
    accept_offer,
    available_agent,
    bank_lines,
    demo_settings,
    new_page,
    reply,
)
from tests.integration.test_bot import intent_models  # noqa: F401 - a fixture
from threadline.callbacks.models import Callback
from threadline.config import Settings
from threadline.customers.models import Customer
from threadline.demo import load_demo
from threadline.simulated.demo_world import CARLOS_PHONE, MARTA_EMAIL
from threadline.threads.models import Thread, ThreadEvent

pytestmark = pytest.mark.browser
WIDGET = "#threadline-widget"
DMITRI_PHONE = "+351913330444"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, intent_models: Path) -> Settings:  # noqa: F811
    return demo_settings(settings, tmp_path, intent_models)


@pytest.fixture
async def demo(server: Running) -> AsyncIterator[Running]:
    assert await load_demo(server.ctx)
    yield server


async def test_journey_1_marta_on_the_demo_site_reaches_rui(
    demo: Running, browser: Browser
) -> None:
    rui, (rui_ctx, rui_errors) = await available_agent(browser, demo, "rui@demo.bank")
    context, site, errors = await new_page(browser, DESKTOP)
    await site.goto(f"{demo.base_url}/demo-site")
    await expect(site.locator("#signed-in")).to_have_text("Marta Silva")  # the site vouches
    await expect(site.locator("#demo-log")).to_contain_text("signed in as Marta Silva")
    await site.locator(f"{WIDGET} .launcher").click()
    box = site.locator(f"{WIDGET} textarea")
    await box.fill("o meu cartão não chegou")
    await box.press("Enter")
    # the bot is not sure: she picks among the likeliest, then gives the last digits
    choice = site.locator(f"{WIDGET} .choices button", has_text="O meu cartão não chegou")
    await choice.click(timeout=15_000)
    question = site.locator(f"{WIDGET} li.them .bubble").last
    await expect(question).to_contain_text("4 dígitos", timeout=15_000)
    await box.fill("0417")
    await box.press("Enter")

    await accept_offer(rui, "Marta Silva")
    await expect(rui.locator(".convo-title")).to_have_text("Marta Silva")
    timeline = rui.get_by_test_id("timeline")
    await expect(timeline).to_contain_text("o meu cartão não chegou")
    await reply(rui, "Olá Marta, o seu cartão segue amanhã por correio.")
    answer = site.locator(f"{WIDGET} li.them .bubble").last
    await expect(answer).to_have_text("Olá Marta, o seu cartão segue amanhã por correio.")
    await rui.get_by_role("button", name="Resolve").click()
    dialog = rui.get_by_role("dialog", name="Resolve conversation")
    await dialog.get_by_label("Wrap-up reason").fill("card_arrival")
    await dialog.get_by_role("button", name="Resolve").click()
    # last week's conversation is on the timeline above this one
    resolved = timeline.locator("[data-kind=resolved]")
    await expect(resolved.first).to_contain_text("card_activation")
    await expect(resolved.last).to_contain_text("card_arrival")

    async with demo.ctx.db.sessions() as db:
        marta = await db.scalar(select(Customer).where(Customer.email == MARTA_EMAIL))
        assert marta is not None
        # her chat is on her own record, the one with last week's conversation
        written = await db.scalar(
            select(ThreadEvent).where(ThreadEvent.body == "o meu cartão não chegou")
        )
        assert written is not None and written.author_id == marta.id
        thread = await db.get(Thread, written.thread_id)
        assert thread is not None and thread.customer_id == marta.id
    assert errors == [] and rui_errors == []
    await context.close()
    await rui_ctx.close()


async def test_journey_2_dmitri_keeps_his_place_and_is_called_back(
    demo: Running, browser: Browser
) -> None:
    context, app, errors = await new_page(browser, PHONE, locale="en-GB")
    await app.goto(f"{demo.base_url}/app/demo")
    await app.get_by_role("button", name="Lost card").click()
    await app.get_by_label("Which card?").select_option("debit")
    await app.get_by_label("Did you block it in the app?").select_option("yes")
    await app.get_by_role("button", name="Talk to someone").click()
    await expect(app.get_by_test_id("wait")).to_contain_text("1st")
    await app.get_by_role("button", name="Call me back, keep my place").click()
    await app.get_by_label("Your phone number").fill(DMITRI_PHONE)
    await app.get_by_role("button", name="Call me back", exact=True).click()
    await expect(app.get_by_test_id("callback")).to_be_visible()
    await app.close()  # he closes the app

    # an SMS confirms, on his phone
    phone = await context.new_page()
    await phone.goto(f"{demo.base_url}/simulated/phone")
    await phone.locator(".sim-who summary").click()
    await phone.locator("#sim-name").fill("Dmitri")
    await phone.locator("#sim-phone").fill(DMITRI_PHONE)
    await phone.locator("#sim-phone").dispatch_event("change")
    await expect(bank_lines(phone, "phone-thread")).not_to_have_count(0, timeout=15_000)

    # his voice page waits for the call; María (tier 2) comes on and is reserved for him
    voice = await context.new_page()
    await voice.goto(f"{demo.base_url}/simulated/voice")
    await voice.locator("#sim-phone").fill(DMITRI_PHONE)
    maria, (maria_ctx, maria_errors) = await available_agent(browser, demo, "maria@demo.bank")
    await accept_offer(maria, "lost_or_stolen_card")
    # she sees his answers before the phone rings
    await expect(maria.get_by_test_id("timeline")).to_contain_text("card: debit; blocked: yes")
    ringing = voice.get_by_test_id("incoming-call")
    await expect(ringing).to_be_visible(timeout=20_000)
    await ringing.get_by_role("button", name="Answer").click()
    heard = voice.get_by_test_id("heard")
    await expect(heard.locator("[data-verb=Dial]")).to_contain_text("Connected to an agent")
    async with demo.ctx.db.sessions() as db:
        callback = await db.scalar(select(Callback))
        assert callback is not None and callback.phone == DMITRI_PHONE
    assert errors == [] and maria_errors == []
    await context.close()
    await maria_ctx.close()


async def _type(page: Page, text: str) -> None:
    await page.get_by_placeholder("Mensagem").fill(text)
    await page.get_by_role("button", name="Enviar").click()
    mine = page.get_by_test_id("phone-thread").locator("[data-from=me]").last
    await expect(mine).to_contain_text(text)


async def test_journey_4_carlos_on_sms_mail_and_whatsapp_is_one_thread(
    demo: Running, browser: Browser
) -> None:
    rui, (rui_ctx, rui_errors) = await available_agent(browser, demo, "rui@demo.bank")
    context, phone, errors = await new_page(browser, PHONE)
    await phone.goto(f"{demo.base_url}/simulated/phone")
    await _type(phone, "Cobraram-me duas vezes, quero o reembolso")
    await accept_offer(rui, "Cobraram-me duas vezes")
    timeline = rui.get_by_test_id("timeline")

    mail = await context.new_page()
    await mail.goto(f"{demo.base_url}/simulated/mail")
    await mail.get_by_label("Mensagem").fill("Segue o recibo da compra.")
    await mail.get_by_role("button", name="Enviar email").click()
    await expect(timeline.locator("[data-kind=message]").last).to_contain_text("Segue o recibo")

    await phone.bring_to_front()
    await phone.get_by_role("tab", name="WhatsApp").click()
    await _type(phone, "Já enviei o recibo por email")
    await expect(timeline.locator("[data-kind=message]").last).to_contain_text("Já enviei")
    await reply(rui, "Obrigado Carlos, o reembolso foi feito.")
    await expect(bank_lines(phone, "phone-thread").last).to_contain_text(
        "o reembolso foi feito", timeout=15_000
    )

    async with demo.ctx.db.sessions() as db:
        carlos = await db.scalar(select(Customer).where(Customer.phone == CARLOS_PHONE))
        assert carlos is not None
        threads = list(await db.scalars(select(Thread).where(Thread.customer_id == carlos.id)))
        assert len(threads) == 1
        channels = set(
            await db.scalars(
                select(ThreadEvent.channel).where(
                    ThreadEvent.thread_id == threads[0].id, ThreadEvent.kind == "message"
                )
            )
        )
        assert {"sms", "email", "whatsapp"} <= channels
        answer = await db.scalar(
            select(ThreadEvent).where(ThreadEvent.body == "Obrigado Carlos, o reembolso foi feito.")
        )
        assert answer is not None and answer.channel == "whatsapp"
    assert errors == [] and rui_errors == []
    await context.close()
    await rui_ctx.close()
