"""The demo's simulated providers, in real chromium (issue 13 §5): the demo company as
`threadline demo` loads it, served with `demo_simulated` on, the customer on the phone, mail
and voice pages (desktop and 390x844), Rui on the agent desktop. Everything the pages do
reaches Threadline through the providers' signed webhooks, the built-in SMTP server and
Twilio's voice webhooks; the agent's answers leave through the outbox to the simulated APIs
and relay, and show on the pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import func, select

from tests.conftest import Running
from tests.e2e.conftest import sign_in
from tests.fakes.http_server import free_port
from tests.integration.test_bot import intent_models  # noqa: F401 - a fixture
from threadline.app import create_app
from threadline.config import Settings
from threadline.customers.models import Customer
from threadline.demo import DEMO_PASSWORD, load_demo
from threadline.simulated.demo_world import CARLOS_EMAIL
from threadline.threads.models import Thread, ThreadEvent

pytestmark = pytest.mark.browser
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, intent_models: Path) -> Settings:  # noqa: F811
    return demo_settings(settings, tmp_path, intent_models)


def demo_settings(settings: Settings, tmp_path: Path, intent_models: Path) -> Settings:  # noqa: F811
    """The demo's settings (simulated providers, the SMTP server) on free ports."""
    return settings.model_copy(
        update={
            "demo_simulated": True,
            "demo_relay_port": free_port(),
            "demo_telegram_port": free_port(),
            "email_smtp_port": free_port(),
            "email_attachments_dir": tmp_path / "email",
            "intent_models_dir": intent_models,
            "event_poll_s": 0.2,
            "outbox_backoff_s": 0.1,
            "outbox_backoff_max_s": 0.3,
        }
    )


@pytest.fixture
async def demo(server: Running) -> AsyncIterator[Running]:
    """The demo company, as `threadline demo` loads it into the running server."""
    assert await load_demo(server.ctx)
    yield server


async def new_page(
    browser: Browser, viewport: dict[str, int], locale: str = "pt-PT"
) -> tuple[BrowserContext, Page, list[str]]:
    context = await browser.new_context(
        viewport=viewport, locale=locale, timezone_id="Europe/Lisbon", has_touch=viewport == PHONE
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # the pages' own script runs under the CSP (no inline script): a violation fails the test
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return context, page, errors


async def available_agent(browser: Browser, server: Running, email: str) -> tuple[Page, Any]:
    """An agent of the demo signed in on the desktop, available."""
    context, page, errors = await new_page(browser, DESKTOP, locale="en-GB")
    await sign_in(page, server.base_url, email, DEMO_PASSWORD)
    await expect(page.locator(".conn")).to_have_text("Live")
    await page.get_by_label("Presence").select_option("available")
    return page, (context, errors)


async def accept_offer(agent: Page, containing: str) -> None:
    offer = agent.get_by_test_id("offer")
    await expect(offer).to_be_visible(timeout=15_000)
    await expect(offer).to_contain_text(containing)
    await offer.get_by_role("button", name="Accept").click()


async def reply(agent: Page, text: str) -> None:
    draft = agent.get_by_label("Reply", exact=True)
    await draft.fill(text)
    await draft.press("Enter")


def bank_lines(page: Page, test_id: str) -> Any:
    return page.get_by_test_id(test_id).locator("[data-from=bank]")


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_an_sms_from_the_phone_page_reaches_rui_and_his_answer_comes_back(
    demo: Running, browser: Browser, viewport: dict[str, int]
) -> None:
    agent, (agent_ctx, agent_errors) = await available_agent(browser, demo, "rui@demo.bank")
    context, phone, errors = await new_page(browser, viewport)
    await phone.goto(f"{demo.base_url}/simulated/phone")
    await expect(phone.get_by_test_id("simulated-banner")).to_contain_text("simulados")
    await expect(phone.get_by_role("tab", name="SMS")).to_have_attribute("aria-selected", "true")

    await phone.get_by_placeholder("Mensagem").fill("Cobraram-me duas vezes a mesma compra")
    await phone.get_by_role("button", name="Enviar").click()
    mine = phone.get_by_test_id("phone-thread").locator("[data-from=me]")
    await expect(mine).to_contain_text("Cobraram-me duas vezes a mesma compra")

    await accept_offer(agent, "Cobraram-me duas vezes")
    await expect(agent.locator(".convo-title")).to_have_text("Carlos Mendes")
    await reply(agent, "Olá Carlos, o reembolso segue hoje.")
    await expect(bank_lines(phone, "phone-thread").last).to_contain_text(
        "Olá Carlos, o reembolso segue hoje.", timeout=15_000
    )
    # (the phone's SMS tab shows what the simulated Twilio's Messages API took for his number)
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"]  # nothing wider than the screen
    assert errors == [] and agent_errors == []
    await context.close()
    await agent_ctx.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_a_mail_from_the_mail_page_is_answered_and_the_reply_to_it_threads(
    demo: Running, browser: Browser, viewport: dict[str, int]
) -> None:
    agent, (agent_ctx, agent_errors) = await available_agent(browser, demo, "rui@demo.bank")
    context, mail, errors = await new_page(browser, viewport, locale="en-GB")
    await mail.goto(f"{demo.base_url}/simulated/mail")
    await expect(mail.get_by_test_id("simulated-banner")).to_contain_text("Simulated providers")
    await mail.get_by_label("Message").fill("Here is the receipt of the double charge.")
    await mail.get_by_role("button", name="Send mail").click()
    await expect(mail.get_by_role("status")).to_contain_text("support@demo.bank")

    await accept_offer(agent, "receipt of the double charge")
    await reply(agent, "Thank you Carlos, the refund is on its way.")
    answer = bank_lines(mail, "mailbox").first
    await expect(answer).to_contain_text("the refund is on its way", timeout=15_000)
    await answer.get_by_role("button", name="Reply").click()
    await expect(mail.get_by_label("Subject")).to_have_value("Re: Refund for a double charge")
    await mail.get_by_label("Message").fill("Thanks, received!")
    await mail.get_by_role("button", name="Send mail").click()

    timeline = agent.get_by_test_id("timeline")
    await expect(timeline.locator("[data-kind=message]").last).to_contain_text("Thanks, received!")
    async with demo.ctx.db.sessions() as db:
        carlos = await db.scalar(select(Customer).where(Customer.email == CARLOS_EMAIL))
        assert carlos is not None
        threads = select(func.count()).select_from(Thread).where(Thread.customer_id == carlos.id)
        assert await db.scalar(threads) == 1
    assert errors == [] and agent_errors == []
    await context.close()
    await agent_ctx.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_a_call_from_the_voice_page_goes_through_the_menu_to_an_agent(
    demo: Running, browser: Browser, viewport: dict[str, int]
) -> None:
    agent, (agent_ctx, agent_errors) = await available_agent(browser, demo, "rui@demo.bank")
    context, voice, errors = await new_page(browser, viewport)
    await voice.goto(f"{demo.base_url}/simulated/voice")
    await voice.get_by_role("button", name="Ligar para o Demo Bank").click()
    heard = voice.get_by_test_id("heard")
    # Carlos's language is known (Portuguese): the menu, not the language question
    await expect(heard).to_contain_text("Bem-vindo ao Demo Bank")
    await expect(heard).to_contain_text("Para cartões, prima 1.")
    await voice.get_by_role("group", name="Teclado").get_by_role("button", name="1").click()
    await expect(heard.locator("[data-verb=Say]").last).to_contain_text("fila")

    await accept_offer(agent, "Carlos Mendes")
    await expect(heard.locator("[data-verb=Dial]")).to_contain_text("Ligado a um agente")
    await voice.get_by_role("button", name="Desligar").click()
    await expect(voice.get_by_test_id("call-state")).to_have_text("Chamada terminada")
    async with demo.ctx.db.sessions() as db:
        calls = select(func.count()).where(ThreadEvent.kind == "call")
        assert await db.scalar(calls) >= 1
    assert errors == [] and agent_errors == []
    await context.close()
    await agent_ctx.close()


async def test_a_demo_call_reaches_the_agent_in_its_conference_and_is_held_and_resumed(
    demo: Running, browser: Browser
) -> None:
    """The demo's line is in conference mode: the simulated Twilio picks up the agent's
    softphone leg, Rui's Hold button holds Carlos (the voice page says so), Resume takes
    him back."""
    agent, (agent_ctx, agent_errors) = await available_agent(browser, demo, "rui@demo.bank")
    context, voice, errors = await new_page(browser, DESKTOP)
    await voice.goto(f"{demo.base_url}/simulated/voice")
    await voice.get_by_role("button", name="Ligar para o Demo Bank").click()
    heard = voice.get_by_test_id("heard")
    await expect(heard).to_contain_text("Para cartões, prima 1.")
    await voice.get_by_role("group", name="Teclado").get_by_role("button", name="1").click()
    await expect(heard.locator("[data-verb=Say]").last).to_contain_text("fila")

    await accept_offer(agent, "Carlos Mendes")
    await expect(heard.locator("[data-verb=Dial]")).to_contain_text("Ligado a um agente")
    hold = agent.get_by_test_id("hold-call")
    await expect(hold).to_have_text("Hold", timeout=15_000)  # the caller is in the conference
    state = voice.get_by_test_id("call-state")
    await hold.click()
    await expect(hold).to_have_text("Resume", timeout=15_000)
    await expect(state).to_have_text("Em espera: o agente volta já a falar consigo")
    await expect(agent.get_by_text("The caller is on hold")).to_be_visible()
    await hold.click()
    await expect(hold).to_have_text("Hold", timeout=15_000)
    await expect(state).not_to_have_text("Em espera: o agente volta já a falar consigo")
    await expect(agent.get_by_text("The caller is back from hold")).to_be_visible()
    async with demo.ctx.db.sessions() as db:
        kinds = select(ThreadEvent.kind).where(ThreadEvent.kind.in_(["call_held", "call_resumed"]))
        assert sorted(await db.scalars(kinds)) == ["call_held", "call_resumed"]
    await voice.get_by_role("button", name="Desligar").click()
    await expect(state).to_have_text("Chamada terminada")
    assert errors == [] and agent_errors == []
    await context.close()
    await agent_ctx.close()


async def test_the_simulated_providers_are_off_unless_configured(settings: Settings) -> None:
    """Without `demo_simulated` (the default) no simulated page or provider API exists."""
    off = settings.model_copy(update={"demo_simulated": False})
    for configured, status in ((settings, 200), (off, 404)):
        transport = httpx.ASGITransport(app=create_app(configured))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for path in ("/simulated/phone", "/simulated/mail", "/simulated/voice"):
                assert (await client.get(path)).status_code == status, path
            api = "/simulated/twilio/2010-04-01/Accounts/AC1/Messages.json"
            assert (await client.post(api)).status_code == (401 if status == 200 else 404)
    assert Settings(_env_file=None).demo_simulated is False  # type: ignore[call-arg]


@pytest.mark.parametrize("channel", ["Telegram", "Messenger", "WhatsApp"])
async def test_the_bots_buttons_are_tappable_on_the_phone_page(
    demo: Running, browser: Browser, channel: str
) -> None:
    """A new customer on a channel the bot answers: its choices show as buttons (an inline
    keyboard, quick replies, reply buttons) and a tap goes back as the provider sends it."""
    context, phone, errors = await new_page(browser, PHONE)
    await phone.goto(f"{demo.base_url}/simulated/phone")
    await phone.locator(".sim-who summary").click()
    await phone.locator("#sim-name").fill("Inês Costa")
    await phone.locator("#sim-phone").fill("+351936000222")
    await phone.get_by_role("tab", name=channel).click()
    await phone.get_by_placeholder("Mensagem").fill("o meu cartão não chegou")
    await phone.get_by_role("button", name="Enviar").click()
    thread = phone.get_by_test_id("phone-thread")
    # (Messenger clips a quick reply's title to 20 characters)
    choice = thread.get_by_role("button", name=re.compile("^O meu cartão não"))
    await choice.click(timeout=15_000)
    await expect(thread.locator("[data-from=me]").last).to_contain_text("O meu cartão não")
    await expect(bank_lines(phone, "phone-thread").last).to_contain_text("4 dígitos")
    assert errors == []
    await context.close()
