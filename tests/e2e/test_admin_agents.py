"""The agents page in real headless chromium: an admin invites an agent with skills and a
chat capacity, the agent opens the invitation (in Portuguese), chooses a password, lands on
the desktop, becomes available and gets a visitor's chat offered; the admin sees errors
beside the field, files the agent in a team, filters by it, and deactivates them (signed
out). An agent gets 403."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from tests.e2e.test_desktop import _visitor

pytestmark = pytest.mark.browser


def _watch(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


async def test_an_invited_agent_gets_offers(
    server: Running, world: World, browser: Browser
) -> None:
    admin_ctx = await browser.new_context(
        viewport={"width": 1400, "height": 900}, locale="en-GB", base_url=server.base_url
    )
    page = await admin_ctx.new_page()
    errors = _watch(page)
    page.on("dialog", lambda dialog: dialog.accept())
    await sign_in(page, server.base_url, "admin@example.com")
    await page.get_by_role("link", name="Agents").click()  # the staff navigation leads there
    await page.wait_for_url("**/admin/agents")
    await expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    await expect(page.locator("tr[data-agent='rui@example.com']")).to_contain_text("general 3")

    # A team first, to put her in.
    await page.get_by_label("Team name").fill("Lisbon")
    await page.get_by_role("button", name="Add team").click()
    await expect(page.locator("tr[data-team=Lisbon]")).to_be_visible()

    await page.get_by_test_id("add-agent").click()
    form = page.get_by_test_id("agent-form")
    await form.locator("#a-name").fill("Beatriz Costa")
    await form.locator("#a-email").fill("rui@example.com")  # taken: said beside the field
    await form.get_by_label("Portuguese").check()
    await form.get_by_test_id("skill-name").fill("general")
    await form.get_by_test_id("skill-level").select_option("4")
    await form.locator("input[data-channel=chat]").fill("2")
    await form.get_by_label("Team", exact=True).select_option(label="Lisbon")
    await form.get_by_role("button", name="Add agent").click()
    await expect(page.locator("#err-email")).to_contain_text("already exists")
    await form.locator("#a-email").fill("beatriz@example.com")
    await form.get_by_role("button", name="Add agent").click()
    invite = page.get_by_test_id("invite")
    await expect(invite).to_be_visible()
    invite_url = await page.get_by_test_id("invite-url").input_value()
    assert "/invite#" in invite_url
    row = page.locator("tr[data-agent='beatriz@example.com']")
    await expect(row).to_contain_text("general 4")
    await expect(row).to_contain_text("Lisbon")

    # She opens the link in her own browser, in Portuguese, and sets her password.
    agent_ctx = await browser.new_context(
        viewport={"width": 390, "height": 844}, locale="pt-PT", base_url=server.base_url
    )
    her = await agent_ctx.new_page()
    her_errors = _watch(her)
    await her.goto(invite_url)
    await expect(her.get_by_role("heading", name="Bem-vindo ao Threadline")).to_be_visible()
    await expect(her.get_by_test_id("invite-welcome")).to_contain_text("Beatriz Costa")
    assert "#" not in her.url  # the token leaves the address bar
    await her.get_by_label("Nova palavra-passe").fill("short")
    await her.get_by_role("button", name="Definir a palavra-passe e entrar").click()
    await expect(her.locator("#err-password")).to_have_text("Pelo menos 8 caracteres.")
    await her.get_by_label("Nova palavra-passe").fill("beatriz secret 9")
    await her.get_by_label("Repita a palavra-passe").fill("beatriz secret 9")
    await her.get_by_role("button", name="Definir a palavra-passe e entrar").click()
    await her.wait_for_url("**/desktop")
    await expect(her.locator(".conn")).not_to_have_text("Connecting…", timeout=10_000)
    async with her.expect_response("**/api/v1/agents/me/presence") as presence:
        await her.locator("#presence").select_option("available")
    assert (await presence.value).ok

    async with _visitor(server, world, "Marta Silva") as visitor:
        await visitor.send(json.dumps({"type": "message", "client_id": "v-1", "text": "Olá"}))
        offer = her.get_by_test_id("offer")
        await expect(offer).to_be_visible(timeout=10_000)
        await expect(offer).to_contain_text("Marta Silva")

    # The link was for once.
    again = await agent_ctx.new_page()
    await again.goto(invite_url)
    await expect(again.get_by_test_id("invite-broken")).to_contain_text("já não é válido")

    # Filtered by team; then deactivated: she is signed out.
    await page.get_by_test_id("invite").get_by_role("button", name="Done").click()
    await page.get_by_test_id("filter-team").select_option(label="Lisbon")
    await expect(page.locator("table[data-testid=agents] tbody tr[data-agent]")).to_have_count(1)
    await row.get_by_role("button", name="Deactivate").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("deactivated")
    await expect(row).to_have_count(0)
    await page.get_by_test_id("filter-standing").select_option("inactive")
    await expect(row.locator("[data-col=presence]")).to_have_text("Deactivated")
    await her.reload()
    await her.wait_for_url("**/login")
    # the taken email's 409 is the one failed request the browser logs
    assert [e for e in errors if "409 (Conflict)" not in e] == []
    assert [e for e in her_errors if "401" not in e] == []
    await agent_ctx.close()
    await admin_ctx.close()


async def test_an_agent_is_refused(server: Running, world: World, browser: Browser) -> None:
    context = await browser.new_context(base_url=server.base_url)
    page = await context.new_page()
    await sign_in(page, server.base_url, "rui@example.com")
    for path in ("/admin/agents", "/admin/tokens", "/admin/settings"):
        response = await page.goto(path)
        assert response is not None and response.status == 403, path
    await context.close()
