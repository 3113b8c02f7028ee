"""The admins' channel endpoints page in real headless chromium: an admin adds an SMS
number and a Telegram bot through the form (a server-side validation error shown next to
its field first), copies a webhook URL, and the secrets typed never come back, neither in
the page nor in any API answer; agents and supervisors get 403 on the page and the API."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, Response, expect
from sqlalchemy import select

from tests.conftest import Running, World, add_endpoint, login
from tests.e2e.conftest import sign_in
from tests.fakes.telegram import BOT_TOKEN, BOT_USERNAME
from tests.fakes.twilio import ACCOUNT_SID, FakeTwilio
from tests.integration.test_bot import twilio  # noqa: F401 - a fixture
from tests.integration.test_voice import voice_endpoint
from threadline.channels.models import Endpoint

pytestmark = pytest.mark.browser

NUMBER = "+15005550006"
TWILIO_TOKEN = "tw-auth-token-never-shown-4f1c"


async def _admin_page(browser: Browser, server: Running, locale: str = "en-GB") -> Page:
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900}, locale=locale, base_url=server.base_url
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    await sign_in(page, server.base_url, "admin@example.com")
    return page


async def test_an_admin_adds_an_sms_number_and_a_telegram_bot(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _admin_page(browser, server)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    answers: list[Response] = []
    page.on("response", lambda r: answers.append(r) if "/api/v1/endpoints" in r.url else None)

    await page.get_by_role("link", name="Channels").click()
    await page.wait_for_url("**/admin/channels")
    await expect(page.get_by_role("heading", name="Channels", exact=True)).to_be_visible()
    table = page.get_by_test_id("endpoints")
    await expect(table.locator(f"tr[data-endpoint='{world.widget.key}']")).to_contain_text("set")

    # An SMS number; the server refuses a number not in E.164, next to the field
    await page.get_by_role("button", name="Add endpoint").click()
    form = page.get_by_role("form", name="New endpoint")
    await form.get_by_label("Channel", exact=True).select_option("sms")
    await form.get_by_label("Name", exact=True).fill("Support line")
    await form.get_by_label("Phone number (E.164, e.g. +15005550006)").fill("0049301234")
    await form.get_by_label("Queue", exact=True).select_option(label="General")
    await form.get_by_label("Auth token").fill(TWILIO_TOKEN)
    await form.get_by_label("Account SID").fill(ACCOUNT_SID)
    await form.get_by_role("button", name="Create").click()
    await expect(form.locator("#err-key")).to_contain_text("E.164")
    await expect(form.locator("#f-key")).to_have_attribute("aria-invalid", "true")
    await form.get_by_label("Phone number (E.164, e.g. +15005550006)").fill(NUMBER)
    await form.get_by_label("API base URL (optional)").fill("ftp://api.twilio.com")
    await form.get_by_role("button", name="Create").click()
    await expect(form.locator("#err-f-api_base")).to_have_text("an http(s) URL")
    await expect(form.locator("#err-key")).to_be_hidden()
    await form.get_by_label("API base URL (optional)").fill("")
    await form.get_by_role("button", name="Create").click()
    await expect(form).to_be_hidden()
    sms_row = table.locator(f"tr[data-endpoint='{NUMBER}']")
    await expect(sms_row.locator("[data-col=secret]")).to_have_text("set")
    await expect(sms_row).to_contain_text("General")
    hook = f"{server.base_url}/webhooks/sms/twilio/%2B15005550006"
    await expect(sms_row.get_by_test_id("webhook-url")).to_have_value(hook)
    await sms_row.get_by_role("button", name="Copy the webhook URL of Support line").click()
    await expect(sms_row.get_by_role("button", name="Copy the webhook URL")).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == hook

    # A Telegram bot: a channel of its own fields
    await page.get_by_role("button", name="Add endpoint").click()
    form = page.get_by_role("form", name="New endpoint")
    await form.get_by_label("Channel", exact=True).select_option("telegram")
    await expect(form.get_by_label("Account SID")).to_have_count(0)
    await form.get_by_label("Name", exact=True).fill("Support bot")
    await form.get_by_label("Bot username (without @)").fill(BOT_USERNAME)
    await form.get_by_label("Bot token").fill(BOT_TOKEN)
    await form.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("status")).to_contain_text("Created Support bot.")
    bot_row = table.locator(f"tr[data-endpoint='{BOT_USERNAME}']")
    await expect(bot_row.locator("[data-col=secret]")).to_have_text("set")
    await expect(bot_row.get_by_test_id("webhook-url")).to_have_value(
        f"{server.base_url}/webhooks/telegram/{BOT_USERNAME}"
    )

    # Editing shows the settings, never the secret
    await sms_row.get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name="Edit endpoint")
    await expect(form.get_by_label("Account SID")).to_have_value(ACCOUNT_SID)
    await expect(form.get_by_label("Auth token")).to_have_value("")
    await expect(form).to_contain_text("A secret is set.")
    await form.get_by_role("button", name="Cancel").click()

    # The secrets went to the server, and never came back
    async with server.ctx.db.sessions() as db:
        stored = {e.key: e for e in await db.scalars(select(Endpoint))}
    assert stored[NUMBER].secret == TWILIO_TOKEN and stored[BOT_USERNAME].secret == BOT_TOKEN
    assert stored[NUMBER].queue_id == world.queues["general"].id
    html = await page.content()
    bodies = [await r.text() for r in answers if r.request.method in ("GET", "POST")]
    assert any(NUMBER in b for b in bodies) and any(BOT_USERNAME in b for b in bodies)
    for secret in (TWILIO_TOKEN, BOT_TOKEN, BOT_TOKEN.split(":")[1]):
        assert secret not in html
        assert not any(secret in body for body in bodies)
    assert errors == []
    await page.context.close()


@pytest.mark.parametrize("email", ["rui@example.com", "nikos@example.com"])
async def test_agents_and_supervisors_cannot_open_the_page(
    server: Running, world: World, browser: Browser, email: str
) -> None:
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    await sign_in(page, server.base_url, email)
    await expect(page.get_by_role("link", name="Desktop")).to_be_visible()
    await expect(page.get_by_role("link", name="Channels")).to_have_count(0)
    response = await page.goto(f"{server.base_url}/admin/channels")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("alert")).to_contain_text(
        "Only administrators can manage channels."
    )
    client = await login(server, email)
    listed = await client.get("/api/v1/endpoints")
    assert listed.status_code == 403 and listed.json()["code"] == "forbidden"
    created = await client.post(
        "/api/v1/endpoints",
        json={"channel": "telegram", "key": BOT_USERNAME, "name": "x", "secret": BOT_TOKEN},
    )
    assert created.status_code == 403
    await client.aclose()
    await context.close()


async def test_the_page_speaks_the_admins_language(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _admin_page(browser, server, locale="pt-PT")
    await page.goto("/admin/channels")
    await expect(page.get_by_role("heading", name="Canais", exact=True)).to_be_visible()
    assert await page.get_attribute("html", "lang") == "pt"
    await page.get_by_role("button", name="Adicionar ponto de contacto").click()
    form = page.get_by_role("form", name="Novo ponto de contacto")
    await form.get_by_role("button", name="Criar").click()  # nothing filled in
    await expect(form.locator("#err-name")).to_have_text("Obrigatório.")
    anonymous = await page.context.browser.new_context()  # type: ignore[union-attr]
    signed_out = await (await anonymous.new_page()).goto(f"{server.base_url}/admin/channels")
    assert signed_out is not None and signed_out.url.endswith("/login")
    await anonymous.close()
    await page.context.close()


async def test_an_admin_turns_on_conference_calls_and_a_trusted_mail_relay(
    server: Running,
    world: World,
    browser: Browser,
    twilio: FakeTwilio,  # noqa: F811 - the fixture
) -> None:
    """The switches that were only in the API: a voice number's conference mode (hold and
    call coaching) and a mailbox's way of checking senders, with the server's refusal of a
    relay without its name shown beside that field."""
    voice = voice_endpoint(world, twilio)
    await add_endpoint(server, **voice)
    await add_endpoint(server, channel="email", key="help@testbank.example", name="Help")
    page = await _admin_page(browser, server)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto("/admin/channels")
    table = page.get_by_test_id("endpoints")

    await (
        table.locator(f"tr[data-endpoint='{voice['key']}']")
        .get_by_role("button", name="Edit")
        .click()
    )
    form = page.get_by_role("form", name="Edit endpoint")
    conference = form.get_by_label("Calls in a conference", exact=False)
    await expect(conference).not_to_be_checked()
    await conference.check()
    await form.get_by_role("button", name="Save").click()
    await expect(form).to_be_hidden()

    mailbox = table.locator("tr[data-endpoint='help@testbank.example']")
    await mailbox.get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name="Edit endpoint")
    mode = form.get_by_label("How the sender is checked")
    await expect(mode).to_have_value("dkim")
    await mode.select_option("relay")
    await form.get_by_role("button", name="Save").click()
    await expect(form.locator("#err-f-sender_auth-authserv_id")).to_contain_text(
        "needed with mode 'relay'"
    )
    await form.get_by_label("The relay's name in Authentication-Results").fill(
        "mx.testbank.example"
    )
    await form.get_by_role("button", name="Save").click()
    await expect(form).to_be_hidden()

    async with server.ctx.db.sessions() as db:
        stored = {e.key: e.settings for e in await db.scalars(select(Endpoint))}
    assert stored[voice["key"]]["conference"] is True
    assert stored[voice["key"]]["record"] is False
    assert stored[voice["key"]]["ivr"] == voice["settings"]["ivr"]  # the tree is kept
    assert stored["help@testbank.example"]["sender_auth"] == {
        "mode": "relay",
        "authserv_id": "mx.testbank.example",
    }
    assert errors == []
    await page.context.close()
