"""The admins' webhooks page in real headless chromium, at desktop size: an admin reaches it
from the desktop, adds a webhook (a refused URL shown next to its field first), copies the
signing secret shown once, sends a test event that the receiver refuses, redelivers it and
sees both attempts; the secret never comes back; an agent gets 403."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from tests.fakes.http_server import serving
from tests.integration.test_webhooks import Receiver
from threadline.config import Settings

pytestmark = pytest.mark.browser


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhooks_allow_http": True})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    fake = Receiver()
    async with serving(fake) as base_url:
        fake.url = f"{base_url}/crm/events"
        yield fake


async def _page(browser: Browser, server: Running, email: str) -> Page:
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900}, locale="en-GB", base_url=server.base_url
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    await sign_in(page, server.base_url, email)
    return page


async def test_an_admin_adds_a_webhook_tests_it_and_redelivers(
    server: Running, world: World, browser: Browser, receiver: Receiver
) -> None:
    page = await _page(browser, server, "admin@example.com")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # console errors (CSP refusals among them), but not the refused save's 422 on purpose
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )
    page.on("dialog", lambda dialog: dialog.accept())

    await page.get_by_role("link", name="Webhooks").click()
    await page.wait_for_url("**/admin/webhooks")
    await expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    await expect(page.get_by_test_id("webhooks")).to_contain_text("No webhooks yet.")

    # a URL the server refuses: the reason next to the field; nothing is created
    await page.get_by_role("button", name="Add webhook").click()
    form = page.get_by_role("form", name="New webhook")
    await form.get_by_label("URL (https)").fill("ftp://crm.example.com/in")
    await form.get_by_role("button", name="Create").click()
    await expect(form.locator("#err-event_types")).to_have_text("Pick at least one event, or all.")
    await form.get_by_label("contact.resolved").check()
    await form.get_by_role("button", name="Create").click()
    await expect(form.locator("#err-url")).to_contain_text("https")
    await expect(form.locator("#f-url")).to_have_attribute("aria-invalid", "true")

    await form.get_by_label("URL (https)").fill(receiver.url)
    await form.get_by_label("Description").fill("Our CRM")
    await form.get_by_label("All events").check()
    await form.get_by_role("button", name="Create").click()
    await expect(form).to_be_hidden()
    secret_box = page.get_by_test_id("secret")
    await expect(secret_box).to_have_value(re.compile(r"^whsec_[A-Za-z0-9+/=]{40,}$"))
    secret = await secret_box.input_value()
    assert secret.startswith("whsec_")
    await page.get_by_test_id("secret-panel").get_by_role("button", name="Copy").click()
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    receiver.secret = secret
    await page.get_by_role("button", name="I have copied it").click()
    await expect(page.get_by_test_id("secret-panel")).to_be_hidden()

    row = page.get_by_test_id("webhooks").locator("tbody tr[data-webhook]")
    await expect(row).to_contain_text(receiver.url)
    await expect(row).to_contain_text("All events")
    await expect(row.locator("[data-col=status]")).to_have_text("active")

    # a test event the receiver refuses, then delivered when redelivered
    receiver.script = [(500, {})]
    await row.get_by_role("button", name="Send test").click()
    deliveries = page.get_by_test_id("deliveries")
    delivery = deliveries.locator("tbody[data-delivery]").first
    await expect(delivery).to_have_attribute("data-status", "failed", timeout=10000)
    await expect(delivery).to_contain_text("webhook.test")
    await delivery.get_by_role("button", name="Redeliver").click()
    await expect(delivery).to_have_attribute("data-status", "delivered", timeout=10000)
    await expect(delivery.locator("[data-col=attempts]")).to_have_text("2")
    await delivery.get_by_role("button", name="Attempts").click()
    attempts = delivery.get_by_test_id("attempts").locator("tbody tr")
    await expect(attempts).to_have_count(2)
    await expect(attempts.nth(0)).to_contain_text("500")
    await expect(attempts.nth(1)).to_contain_text("200")
    await expect(attempts.nth(1)).to_contain_text("thanks")
    assert len(receiver.hits) == 2 and all(h.payload is not None for h in receiver.hits)
    assert receiver.ids()[0] == receiver.ids()[1]

    # disabled from the list; the secret is nowhere after a reload
    await row.get_by_role("button", name="Disable").click()
    await expect(row.locator("[data-col=status]")).to_have_text("disabled")
    await page.reload()
    await expect(page.get_by_test_id("webhooks")).to_contain_text(receiver.url)
    assert secret not in await page.content()
    assert not errors, errors
    await page.context.close()


async def test_an_agent_may_not_open_the_webhooks_page(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _page(browser, server, "rui@example.com")
    answer = await page.goto(f"{server.base_url}/admin/webhooks")
    assert answer is not None and answer.status == 403
    await expect(page.get_by_text("Only administrators can manage webhooks.")).to_be_visible()
    await page.context.close()
