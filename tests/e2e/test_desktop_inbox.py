"""The inbox in real headless chromium: an agent searches, opens a past resolved
conversation, answers the current one with a canned reply ("/" in the composer, its
variables filled), and labels and resolves it with a macro; the shortcuts are documented
on the page, and the inbox speaks the agent's language."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import Running, World, login, take_thread
from tests.e2e.conftest import sign_in
from threadline.channels.contract import InboundMessage
from threadline.channels.inbound import do_ingest
from threadline.customers.models import Customer
from threadline.threads.models import Thread, ThreadEvent

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/desktop_inbox.png"  # noqa: S108 - a fixed path a person can open after the run


async def _past_conversation(server: Running, world: World) -> str:
    """Elena's conversation of last month, resolved."""
    async with server.ctx.uow() as uow:
        elena = Customer(org_id=world.org_id, name="Elena Petrova", email="elena@example.com")
        uow.session.add(elena)
        await uow.session.flush()
        thread = Thread(
            org_id=world.org_id, customer_id=elena.id, status="resolved", channel="email"
        )
        uow.session.add(thread)
        await uow.session.flush()
        uow.session.add(
            ThreadEvent(
                org_id=world.org_id,
                thread_id=thread.id,
                seq=1,
                kind="message",
                channel="email",
                author_type="customer",
                author_name="Elena Petrova",
                body="Where do I send the passport renewal form?",
            )
        )
        thread.last_seq = 1
        return thread.id


async def test_search_canned_reply_and_macro(
    server: Running, world: World, browser: Browser
) -> None:
    await _past_conversation(server, world)
    ingested = await do_ingest(
        server.ctx,
        world.widget,
        InboundMessage(
            channel="chat",
            identity_kind="visitor",
            identity_value="marta-1",
            body="my card has not arrived",
            client_msg_id="m-1",
            sender_name="Marta Silva",
        ),
    )
    current = ingested.thread.id
    rui = await take_thread(server, "rui@example.com", current)
    nikos = await login(server, "nikos@example.com")
    try:
        made = await rui.post(
            "/api/v1/canned-replies",
            json={
                "shortcut": "hello",
                "title": "Greeting",
                "body": "Hi {customer.first_name}, {agent.name} here.",
                "personal": True,
            },
        )
        assert made.status_code == 201, made.text
        label = (await nikos.post("/api/v1/labels", json={"name": "Cards"})).json()["id"]
        macro = await nikos.post(
            "/api/v1/macros",
            json={
                "name": "Card on its way",
                "label_ids": [label],
                "then": "resolve",
                "resolve_reason": "card_arrival",
            },
        )
        assert macro.status_code == 201, macro.text
    finally:
        await rui.aclose()
        await nikos.aclose()

    context = await browser.new_context(
        viewport={"width": 1400, "height": 900}, timezone_id="Europe/Lisbon", locale="en-GB"
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, server.base_url, "rui@example.com")
    await expect(page.locator(".conn")).to_have_text("Live")
    inbox = page.get_by_test_id("inbox")
    await expect(inbox.get_by_test_id("view-resolved")).to_contain_text("1")

    # "/" searches; a past, resolved conversation opens from its message
    await page.locator("body").press("/")
    await expect(page.get_by_test_id("inbox-search")).to_be_focused()
    await page.keyboard.type("passport")
    await page.keyboard.press("Enter")
    hit = inbox.get_by_test_id("message-hit")
    await expect(hit).to_have_count(1)
    await expect(hit).to_contain_text("passport renewal")
    await hit.click()
    timeline = page.get_by_test_id("timeline")
    await expect(timeline).to_contain_text("Where do I send the passport renewal form?")
    await expect(page.get_by_test_id("thread-status")).to_have_text("resolved")
    await expect(page.get_by_test_id("reopen")).to_be_visible()

    # the current conversation: "/" in the composer, a canned reply with its variables
    await page.get_by_test_id("thread-item").first.click()
    await expect(timeline).to_contain_text("my card has not arrived")
    draft = page.get_by_test_id("draft")
    await draft.click()
    await draft.type("/hel")
    picker = page.get_by_test_id("canned-picker")
    await expect(picker).to_be_visible()
    await expect(picker.get_by_test_id("canned-option")).to_have_count(1)
    await page.screenshot(path=SCREENSHOT)
    await draft.press("Enter")  # picks, does not send
    await expect(draft).to_have_value("Hi Marta, Rui here.")
    await expect(picker).to_be_hidden()
    await draft.press("Enter")  # sends
    await expect(timeline.locator("[data-kind=message]").last).to_contain_text(
        "Hi Marta, Rui here."
    )

    # a macro labels and resolves it
    await page.get_by_test_id("run-macro").select_option(label="Card on its way")
    await expect(page.get_by_test_id("thread-label")).to_contain_text("Cards")
    await expect(page.get_by_test_id("thread-status")).to_have_text("resolved")
    await expect(timeline).to_contain_text("Rui added label Cards")
    await expect(inbox.get_by_test_id("view-resolved")).to_contain_text("2", timeout=10_000)

    # the shortcuts are documented on the page
    await page.locator("body").click(position={"x": 5, "y": 300})
    await page.keyboard.press("?")
    help_dialog = page.get_by_test_id("shortcuts-help")
    await expect(help_dialog).to_be_visible()
    await expect(help_dialog).to_contain_text("resolve the open conversation")
    await page.keyboard.press("Escape")
    await expect(help_dialog).to_be_hidden()
    assert errors == []
    await context.close()


async def test_the_inbox_speaks_the_agents_language(
    server: Running, world: World, browser: Browser
) -> None:
    context = await browser.new_context(locale="pt-PT")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, server.base_url, "rui@example.com")
    inbox = page.get_by_test_id("inbox")
    await expect(inbox).to_contain_text("Caixa de entrada")
    await expect(inbox.get_by_test_id("view-unassigned")).to_contain_text("Sem agente")
    await expect(page.get_by_test_id("manage-open")).to_have_text("Respostas, etiquetas e macros")
    assert errors == []
    await context.close()
