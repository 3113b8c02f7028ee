"""The API tokens and organisation settings pages in real headless chromium: a token is
shown once with a copy button, works, and is revoked; the settings are saved, with the
server's refusal shown beside the field, in Greek as in English."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from tests.e2e.test_admin_agents import _watch
from threadline.orgs.models import Organization

pytestmark = pytest.mark.browser


async def test_a_token_is_shown_once_and_revoked(
    server: Running, world: World, browser: Browser
) -> None:
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900}, locale="en-GB", base_url=server.base_url
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    errors = _watch(page)
    page.on("dialog", lambda dialog: dialog.accept())
    await sign_in(page, server.base_url, "admin@example.com")
    await page.goto("/admin/tokens")
    await expect(page.get_by_test_id("no-tokens")).to_be_visible()
    await page.get_by_role("button", name="Create token").click()
    await expect(page.locator("#err-name")).to_have_text("Required.")
    await page.get_by_label("Name").fill("CRM sync")
    await page.get_by_role("button", name="Create token").click()
    await expect(page.get_by_test_id("token-value")).to_have_value(re.compile(r"^tl_"))
    value = await page.get_by_test_id("token-value").input_value()
    assert value.startswith("tl_")
    await page.get_by_test_id("copy-token").click()
    await expect(page.get_by_test_id("copy-token")).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == value
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": f"Bearer {value}"}
    ) as bearer:
        assert (await bearer.get("/api/v1/auth/me")).json()["name"] == "Admin"
        await page.get_by_role("button", name="I have stored it").click()
        await expect(page.get_by_test_id("new-token")).to_be_hidden()
        await page.reload()
        row = page.locator("tr[data-token='CRM sync']")
        await expect(row).to_be_visible()
        assert value not in await page.content()  # never shown again
        await row.get_by_role("button", name="Revoke").click()
        await expect(row).to_have_count(0)
        assert (await bearer.get("/api/v1/auth/me")).status_code == 401
    assert errors == []
    await context.close()


async def test_settings_in_greek(server: Running, world: World, browser: Browser) -> None:
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900}, locale="el-GR", base_url=server.base_url
    )
    page = await context.new_page()
    errors = _watch(page)
    await sign_in(page, server.base_url, "admin@example.com")
    await page.goto("/admin/settings")
    await expect(page.get_by_role("heading", name="Ρυθμίσεις οργανισμού")).to_be_visible()
    await expect(page.get_by_label("Όνομα")).to_have_value("Test Bank")
    await page.get_by_label("Ζώνη ώρας").fill("Europe/Atlantis")
    await page.get_by_label("Προεπιλεγμένη περιοχή τηλεφώνων").select_option("GR")
    await page.locator("input[data-language=el]").check()
    await page.get_by_role("button", name="Αποθήκευση ρυθμίσεων").click()
    await expect(page.locator("#err-timezone")).to_contain_text("Europe/Atlantis")
    await page.get_by_label("Ζώνη ώρας").fill("Europe/Athens")
    await page.get_by_role("button", name="Αποθήκευση ρυθμίσεων").click()
    await expect(page.get_by_test_id("notice")).to_have_text("Οι ρυθμίσεις αποθηκεύτηκαν.")

    await page.get_by_label("Αφαίρεση του περιεχομένου").check()
    await page.get_by_label("Ημέρες").fill("3")
    await page.get_by_role("button", name="Αποθήκευση πολιτικής διατήρησης").click()
    await expect(page.locator("#err-days")).not_to_be_empty()
    await page.get_by_label("Ημέρες").fill("90")
    await page.get_by_role("button", name="Αποθήκευση πολιτικής διατήρησης").click()
    await expect(page.get_by_test_id("notice")).to_have_text("Η πολιτική διατήρησης αποθηκεύτηκε.")
    async with server.ctx.db.sessions() as db:
        org = await db.get(Organization, world.org_id)
    assert org is not None
    assert (org.timezone, org.phone_region, org.retention_days) == ("Europe/Athens", "GR", 90)
    assert org.languages == ["en", "el"]
    assert [e for e in errors if "422" not in e] == []
    await context.close()
