"""Spikes flagged on the live dashboard, in real headless chromium: the top contact reasons
show a reason under its taxonomy label, and the moment the reasons consumer raises a spike
(`reason.spiked` over the stream) the row gets a spike badge, without a reload and well under
the page's 5 s poll; in Portuguese."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import Running, World, login
from tests.e2e.conftest import sign_in
from tests.integration.test_reason_spikes_live import a_quiet_history, one_more_lost_card

pytestmark = pytest.mark.browser

LIVE_MS = 1_500


async def test_a_spiking_reason_is_flagged_live(
    server: Running, world: World, browser: Browser
) -> None:
    rui = await login(server, "rui@example.com")
    await a_quiet_history(server, world, rui)
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900}, locale="pt-PT", base_url=server.base_url
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, server.base_url, "nikos@example.com")
    await page.goto("/supervisor")
    await expect(page.locator(".conn")).to_have_text("Em direto")
    row = page.locator("li[data-reason=lost-card]")
    # today's lost card so far, under the taxonomy's label in the page's language
    await expect(row).to_contain_text("Cartão perdido ou roubado")
    await expect(row.get_by_test_id("spike")).to_have_count(0)

    await one_more_lost_card(server, world, rui)
    await expect(row.get_by_test_id("spike")).to_have_text("Pico", timeout=LIVE_MS)
    title = await row.get_by_test_id("spike").get_attribute("title")
    assert title is not None and title.startswith("8 contactos hoje")
    await expect(row.locator(".dash-count")).to_have_text("2", timeout=LIVE_MS)
    await page.screenshot(path="/tmp/dashboard-spike.png", full_page=True)  # noqa: S108
    assert errors == []
    await rui.aclose()
    await context.close()
