"""The flows editor (/admin/flows) in real headless chromium, at desktop size and under the
page's Content-Security-Policy: an admin creates a flow, adds a question step with its
options through the forms, sees the server's reason beside the step when a text is
missing, fixes it, saves, sees the diff, publishes, and walks the flow in the preview
(buttons on chat, numbered choices on SMS); an agent gets 403."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, expect

from tests.conftest import Running, World, login
from tests.e2e.conftest import sign_in
from tests.e2e.test_csp import REPORT_VIOLATIONS, Watch

pytestmark = pytest.mark.browser


@pytest.fixture
async def watched(browser: Browser) -> AsyncIterator[tuple[BrowserContext, Watch]]:
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="en-GB", timezone_id="Europe/Lisbon"
    )
    watch = Watch()
    await context.expose_binding(
        "reportViolation", lambda _source, text: watch.violations.append(text)
    )
    await context.add_init_script(REPORT_VIOLATIONS)
    context.on("page", watch.attach)
    yield context, watch
    await context.close()


async def test_an_admin_builds_publishes_and_tries_a_flow(
    server: Running, world: World, watched: tuple[BrowserContext, Watch]
) -> None:
    context, watch = watched
    page = await context.new_page()
    await sign_in(page, server.base_url, "admin@example.com")
    await page.goto(f"{server.base_url}/admin/flows")
    await expect(page.get_by_role("heading", name="Flows", level=1)).to_be_visible()
    await expect(page.get_by_test_id("flow-list")).to_contain_text("Demo Bank assistant")

    await page.get_by_test_id("new-flow").fill("hello")
    await page.get_by_test_id("create-flow").click()
    await expect(page.get_by_test_id("notice")).to_have_text(
        "Flow hello created (version 1, not published yet)."
    )
    editor = page.get_by_test_id("editor")
    await expect(editor.get_by_test_id("step-welcome")).to_be_visible()
    await expect(editor.get_by_test_id("step-done")).to_be_visible()

    # a question with two options, between the greeting and the end
    await page.get_by_test_id("new-step-kind").select_option("ask")
    await page.get_by_test_id("new-step-id").fill("menu")
    await page.get_by_test_id("add-step").click()
    menu = editor.get_by_test_id("step-menu")
    await menu.get_by_test_id("slot-kind").select_option("choice")
    await menu.get_by_test_id("prompt").fill("Cards or loans?")
    await menu.get_by_test_id("add-option").click()
    await menu.get_by_test_id("add-option").click()
    await menu.get_by_test_id("option-id").nth(0).fill("cards")
    await menu.get_by_test_id("option-label").nth(0).fill("Cards")
    await menu.get_by_test_id("option-id").nth(1).fill("loans")
    await menu.get_by_test_id("option-label").nth(1).fill("Loans")
    await menu.get_by_test_id("next").select_option("done")
    await editor.get_by_test_id("step-welcome").get_by_test_id("next").select_option("menu")

    await page.get_by_test_id("save").click()  # the question's reprompt is still empty
    await expect(page.get_by_test_id("notice")).to_have_text(
        "Not saved: see the reasons beside the steps."
    )
    await expect(page.get_by_test_id("errors-menu")).to_contain_text("reprompt has no text in en")
    await expect(page.get_by_test_id("errors-welcome")).to_be_hidden()

    await menu.get_by_test_id("reprompt").fill("Please pick one.")
    await page.get_by_test_id("save").click()
    await expect(page.get_by_test_id("notice")).to_have_text("Saved as version 2.")
    await expect(page.get_by_test_id("errors-menu")).to_be_hidden()
    # the tree: the question under the greeting, the end under the question
    steps = editor.locator("article.fl-step")
    await expect(steps).to_have_count(3)
    assert [await s.get_attribute("data-testid") for s in await steps.all()] == [
        "step-welcome",
        "step-menu",
        "step-done",
    ]
    await expect(editor.get_by_test_id("step-menu")).to_have_class("fl-step depth-1")
    await expect(page.get_by_test_id("versions").locator("li")).to_have_count(2)
    await page.get_by_role("button", name="Changes from the previous version").first.click()
    await expect(page.get_by_test_id("diff")).to_contain_text('+        "en": "Cards or loans?"')

    await page.get_by_test_id("publish").click()
    await expect(page.get_by_test_id("notice")).to_have_text(
        "Version 2 is live: new conversations run it."
    )
    await expect(page.get_by_test_id("flow-list")).to_contain_text("live: v2")

    preview = page.get_by_test_id("preview")
    await preview.get_by_test_id("preview-start").click()
    log = page.get_by_test_id("preview-log")
    await expect(log.locator(".fl-bot")).to_have_text(["Hello! How can I help?", "Cards or loans?"])
    await preview.get_by_test_id("choice-cards").click()
    await expect(log).to_contain_text("The conversation is over: ended by the bot.")
    await expect(log.locator(".fl-customer")).to_have_text(["Cards"])

    await preview.get_by_test_id("preview-channel").select_option("sms")
    await preview.get_by_test_id("preview-start").click()
    await expect(log.locator(".fl-bot").last).to_contain_text("1. Cards")
    await preview.get_by_test_id("preview-text").fill("0")
    await preview.get_by_test_id("preview-send").click()
    await expect(log).to_contain_text("handed to a person")

    admin = await login(server, "admin@example.com")  # what the page saved is what is served
    served = (await admin.get("/api/v1/flows/hello")).json()
    await admin.aclose()
    assert served["published"] == 2
    menu_step = next(s for s in served["definition"]["steps"] if s["id"] == "menu")
    assert [o["id"] for o in menu_step["options"]] == ["cards", "loans"]
    assert watch.violations == []
    # the refused save is the one failed request, and the browser's log line about it
    assert watch.failed == [f"422 POST {server.base_url}/api/v1/flows/hello/versions"]
    assert [e for e in watch.errors if "status of 422" not in e] == []

    agent = await context.new_page()
    await agent.context.clear_cookies()
    await sign_in(agent, server.base_url, "rui@example.com")
    refused = await agent.goto(f"{server.base_url}/admin/flows")
    assert refused is not None and refused.status == 403
