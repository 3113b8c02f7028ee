"""The sign-in page in the agent's language (issue 13): chosen by the browser's
Accept-Language, a `?lang=` from the page's language picker (then remembered in a cookie);
every error (missing fields, wrong password, throttled, network down) in that language. In
real headless chromium, on a phone (390x844) and a desktop screen."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Route, expect

import threadline.web
from tests.conftest import PASSWORD, Running, World

pytestmark = pytest.mark.browser

LOCALES = Path(threadline.web.__file__).parent / "locales" / "login"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def _strings(language: str) -> dict[str, str]:
    return dict(json.loads((LOCALES / f"{language}.json").read_text("utf-8")))


async def _open(browser: Browser, server: Running, locale: str, viewport: dict[str, int]) -> Page:
    context = await browser.new_context(viewport=viewport, locale=locale)  # type: ignore[arg-type]
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{server.base_url}/login")
    return page


async def _submit(page: Page, t: dict[str, str], email: str, password: str) -> None:
    await page.get_by_label(t["email"]).fill(email)
    await page.get_by_label(t["password"], exact=True).fill(password)
    await page.get_by_role("button", name=t["submit"]).click()


@pytest.mark.parametrize(
    ("locale", "language", "viewport"),
    [
        ("pt-PT", "pt", PHONE),
        ("el-GR", "el", DESKTOP),
        ("el-GR", "el", PHONE),
        ("pt-BR", "pt", DESKTOP),
    ],
)
async def test_the_login_speaks_the_browsers_language(
    server: Running,
    world: World,
    browser: Browser,
    locale: str,
    language: str,
    viewport: dict[str, int],
) -> None:
    t, en = _strings(language), _strings("en")
    page = await _open(browser, server, locale, viewport)
    assert await page.get_attribute("html", "lang") == language
    await expect(page).to_have_title(f"{t['title']} · Threadline")
    await expect(page.get_by_role("heading", level=1)).to_have_text(t["heading"])
    await expect(page.get_by_test_id("login-language")).to_have_value(language)
    assert t["heading"] != en["heading"] and t["submit"] != en["submit"]
    # nothing wider than the screen
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], width

    await page.get_by_role("button", name=t["submit"]).click()
    await expect(page.get_by_test_id("login-error")).to_have_text(t["missing"])

    await _submit(page, t, "rui@example.com", "not my password")
    await expect(page.get_by_test_id("login-error")).to_have_text(t["wrong"])
    assert page.url.endswith("/login")
    await expect(page.get_by_label(t["password"], exact=True)).to_be_focused()

    # The server down: the network error, in the same language.
    async def refuse(route: Route) -> None:
        await route.abort("connectionrefused")

    await page.route("**/api/v1/auth/login", refuse)
    await _submit(page, t, "rui@example.com", PASSWORD)
    await expect(page.get_by_test_id("login-error")).to_have_text(t["net_error"])
    await page.unroute("**/api/v1/auth/login")

    await _submit(page, t, "rui@example.com", PASSWORD)
    await page.wait_for_url("**/desktop")
    assert page.errors == []  # type: ignore[attr-defined]
    await page.context.close()


async def test_too_many_attempts_say_when_to_try_again_in_greek(
    server: Running, world: World, browser: Browser
) -> None:
    t = _strings("el")
    page = await _open(browser, server, "el-GR", PHONE)
    for _ in range(server.ctx.settings.login_failures_per_account):
        await _submit(page, t, "olga@example.com", "not my password")
        await expect(page.get_by_test_id("login-error")).to_have_text(t["wrong"])
    await _submit(page, t, "olga@example.com", PASSWORD)
    said = t["throttled_s"].replace("{n}", r"\d+")
    await expect(page.get_by_test_id("login-error")).to_have_text(re.compile(f"^{said}$"))
    assert page.url.endswith("/login")
    await page.context.close()


async def test_the_picker_changes_the_language_and_it_is_remembered(
    server: Running, world: World, browser: Browser
) -> None:
    el, pt = _strings("el"), _strings("pt")
    page = await _open(browser, server, "en-GB", DESKTOP)
    await expect(page.get_by_role("heading", level=1)).to_have_text(_strings("en")["heading"])

    async with page.expect_navigation():
        await page.get_by_test_id("login-language").select_option("el")
    assert page.url.endswith("/login?lang=el")
    await expect(page.get_by_role("heading", level=1)).to_have_text(el["heading"])
    await expect(page.get_by_test_id("login-language")).to_have_value("el")

    # back later, without ?lang=: still Greek, over the browser's English
    await page.goto(f"{server.base_url}/login")
    await expect(page.get_by_role("heading", level=1)).to_have_text(el["heading"])
    # a ?lang= link wins over the remembered choice; an unknown one changes nothing
    await page.goto(f"{server.base_url}/login?lang=pt")
    await expect(page.get_by_role("heading", level=1)).to_have_text(pt["heading"])
    await page.goto(f"{server.base_url}/login?lang=xx")
    await expect(page.get_by_role("heading", level=1)).to_have_text(pt["heading"])
    await _submit(page, pt, "rui@example.com", PASSWORD)
    await page.wait_for_url("**/desktop")
    assert page.errors == []  # type: ignore[attr-defined]
    await page.context.close()
