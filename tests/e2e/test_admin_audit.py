"""The audit log page in real headless chromium: an admin filters the log by action and
reads it in their language; an agent gets 403."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from threadline.orgs.services import audit

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("locale", "heading", "empty"),
    [
        ("en-GB", "Audit log", "No entry matches"),
        ("pt-PT", "Registo de auditoria", "Nenhuma entrada"),
    ],
)
async def test_an_admin_filters_the_log(
    server: Running, world: World, browser: Browser, locale: str, heading: str, empty: str
) -> None:
    async with server.ctx.uow() as uow:
        audit(uow.session, world.org_id, world.agents["admin"].id, "queue.update", "cards-queue")
        audit(uow.session, world.org_id, None, "customer.erase", "customer-42", identities=2)
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900}, locale=locale, base_url=server.base_url
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await sign_in(page, server.base_url, "admin@example.com")
    await page.goto("/admin/audit")
    await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    rows = page.get_by_test_id("audit-row")
    await expect(rows.first).to_contain_text("customer.erase")  # newest first
    await expect(rows.first).to_contain_text("identities: 2")
    await expect(rows.nth(1)).to_contain_text("queue.update")
    await expect(rows.nth(1)).to_contain_text("Admin")

    await page.get_by_test_id("filter-action").select_option("queue.update")
    await page.locator("form.audit-filters button[type=submit]").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("cards-queue")

    await page.get_by_test_id("filter-target").fill("nothing-like-this")
    await page.locator("form.audit-filters button[type=submit]").click()
    await expect(page.get_by_test_id("empty")).to_contain_text(empty)
    assert errors == []
    await context.close()


async def test_an_agent_is_refused(server: Running, world: World, browser: Browser) -> None:
    context = await browser.new_context(base_url=server.base_url)
    page = await context.new_page()
    await sign_in(page, server.base_url, "rui@example.com")
    response = await page.goto("/admin/audit")
    assert response is not None and response.status == 403
    await context.close()
