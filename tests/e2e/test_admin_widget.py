"""The chat widget's settings on the channels page, in real headless chromium: an admin adds
a widget with a colour (seen in the preview), Portuguese and English with a Portuguese
greeting, and the sites allowed to embed it (a wrong origin refused beside its field); its
identity secret is shown once with a copy button, and a new one replaces it. The widget on
the demo site then greets a Portuguese visitor with those words, in that colour."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.conftest import Running, World
from tests.e2e.test_admin_agents import _watch
from tests.e2e.test_admin_channels import _admin_page
from threadline.channels.models import Endpoint

pytestmark = pytest.mark.browser

WIDGET = "#threadline-widget"
KEY = "shop-widget"
GREETING = "Olá! Somos o Banco Teste, em que podemos ajudar?"


async def test_an_admin_sets_up_a_widget(server: Running, world: World, browser: Browser) -> None:
    page = await _admin_page(browser, server)
    errors = _watch(page)
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto("/admin/channels")
    await page.get_by_role("button", name="Add endpoint").click()
    await page.locator("#f-channel").select_option("chat")
    await page.locator("#f-name").fill("Shop")
    await page.locator("#f-key").fill(KEY)
    form = page.get_by_test_id("widget-form")
    await form.get_by_test_id("widget-color").fill("#aa3300")
    head = form.locator(".widget-preview-head")
    await expect(head).to_have_css("background-color", "rgb(170, 51, 0)")
    await form.locator("input[data-language=pt]").check()
    await form.locator("#w-language").select_option("pt")
    await form.locator("textarea[data-greeting=pt]").fill(GREETING)
    await expect(form.locator(".widget-preview-bubble")).to_have_text(GREETING)
    await form.locator("#w-origins").fill("ftp://shop.example")
    await page.get_by_role("button", name="Create", exact=True).click()
    await expect(page.locator("#err-w-origins")).to_contain_text("ftp://shop.example")
    await form.locator("#w-origins").fill(f"https://shop.example\n{server.base_url}")
    await page.get_by_role("button", name="Create", exact=True).click()

    shown = page.get_by_test_id("widget-secret")
    await expect(shown).to_be_visible()
    secret_box = page.get_by_test_id("identity-secret")
    await expect(secret_box).to_have_value(re.compile(r"^[0-9a-f]{64}$"))
    first = await secret_box.input_value()
    await page.get_by_test_id("copy-identity-secret").click()
    assert await page.evaluate("navigator.clipboard.readText()") == first
    await shown.get_by_role("button", name="I have stored it").click()
    await expect(shown).to_be_hidden()
    row = page.locator(f"tr[data-endpoint='{KEY}']")
    await expect(row.locator("[data-col=secret]")).to_contain_text("set")
    await page.reload()
    assert first not in await page.content()

    await row.get_by_test_id("new-identity-secret").click()
    await expect(secret_box).to_have_value(re.compile(r"^[0-9a-f]{64}$"))
    second = await secret_box.input_value()
    assert second != first
    async with server.ctx.db.sessions() as db:
        stored = await db.scalar(select(Endpoint).where(Endpoint.key == KEY))
    assert stored is not None and stored.secret == second
    assert stored.settings["languages"] == ["pt", "en"]
    assert stored.settings["allowed_origins"] == ["https://shop.example", server.base_url]
    assert errors == [] or all("422" in e for e in errors), errors

    # A Portuguese visitor on the demo site (an allowed origin) reads the greeting.
    visitor_ctx = await browser.new_context(
        viewport={"width": 390, "height": 844}, locale="pt-PT", base_url=server.base_url
    )
    visitor = await visitor_ctx.new_page()
    await visitor.goto(f"/demo-site?widget={KEY}")
    launcher = visitor.locator(f"{WIDGET} .launcher")
    await expect(launcher).to_have_css("background-color", "rgb(170, 51, 0)")
    await launcher.click()
    await expect(visitor.locator(f"{WIDGET} li.greeting")).to_have_text(GREETING)
    await visitor_ctx.close()
    await page.context.close()
