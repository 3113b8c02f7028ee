"""The agent desktop and the supervisor dashboard in Greek and in Russian (issue 13 §2), in
real headless chromium: no navigation link, button, label or heading left in English, and
times written in the page's language and the agent's time zone (their profile's when they
chose one, else the browser's)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

import threadline.web
from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from tests.e2e.test_desktop import _visitor
from threadline.agents.models import Agent

pytestmark = pytest.mark.browser

LOCALES = Path(threadline.web.__file__).parent / "locales"
PAGES = ("desktop", "inbox", "supervision", "supervisor")
BROWSER_ZONE = "America/New_York"
SCRIPT = {"el": re.compile(r"[\u0370-\u03ff]"), "ru": re.compile(r"[\u0400-\u04ff]")}
# what a person reads first on each page: the links, buttons, labels, headings, options
VISIBLE = "nav a, button:visible, label:visible, h1:visible, h2:visible, h3:visible, option"


def _strings(page: str, language: str) -> dict[str, str]:
    return dict(json.loads((LOCALES / page / f"{language}.json").read_text("utf-8")))


def _english_left(language: str) -> set[str]:
    """Every English string of the pages' catalogues that the language writes otherwise."""
    english: set[str] = set()
    for page in PAGES:
        theirs = _strings(page, language)
        english |= {text for key, text in _strings(page, "en").items() if theirs.get(key) != text}
    return english


async def _texts(page: Page) -> list[str]:
    texts = await page.locator(VISIBLE).all_inner_texts()
    return [t.strip() for t in texts if t.strip()]


async def _open_desktop(browser: Browser, server: Running, language: str) -> Page:
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900}, locale=language, timezone_id=BROWSER_ZONE
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await sign_in(page, server.base_url, "admin@example.com")
    return page


async def _no_english(page: Page, language: str, must_show: list[str]) -> None:
    english = _english_left(language)
    texts = await _texts(page)
    for text in must_show:
        assert text in texts, (text, texts)
    left = [t for t in texts if t in english]
    assert not left, left
    assert any(SCRIPT[language].search(t) for t in texts)


@pytest.mark.parametrize(("language", "profile_zone"), [("el", "Asia/Tokyo"), ("ru", None)])
async def test_desktop_and_supervisor_in_the_agents_language_and_zone(
    server: Running, world: World, browser: Browser, language: str, profile_zone: str | None
) -> None:
    if profile_zone:
        async with server.ctx.uow() as uow:
            admin = await uow.session.get(Agent, world.agents["admin"].id)
            assert admin is not None
            admin.timezone = profile_zone
    page = await _open_desktop(browser, server, language)
    t = _strings("desktop", language)
    assert await page.locator("html").get_attribute("lang") == language
    nav = page.get_by_role("navigation", name=t["nav_label"])
    await expect(nav.get_by_role("link", name=t["nav_supervisor"])).to_be_visible()
    await expect(nav.get_by_role("link", name=t["nav_queues"])).to_be_visible()
    await expect(page.locator(".conn")).to_have_text(t["conn_live"])
    await expect(page.get_by_role("heading", name=t["no_selection"])).to_be_visible()
    voice = page.get_by_test_id("filter-channel").locator("option[value=voice]")
    await expect(voice).to_have_text(t["channel_voice"])  # the inbox borrows the desktop's names
    await _no_english(
        page,
        language,
        [t["nav_desktop"], t["nav_agents"], t["sign_out"], t["presence_available"]],
    )

    # times: the profile's zone when the agent chose one, else the browser's; in the language
    zone = await page.evaluate("window.TLDesk.ZONE")
    assert zone == (profile_zone or BROWSER_ZONE)
    at = "2026-01-15T22:30:00Z"
    shown = await page.evaluate("(iso) => window.TLDesk.formatFull(iso)", at)
    expected = await page.evaluate(
        """([iso, zone, lang]) => new Intl.DateTimeFormat(lang,
             { dateStyle: "full", timeStyle: "long", timeZone: zone }).format(new Date(iso))""",
        [at, zone, language],
    )
    assert shown == expected
    assert SCRIPT[language].search(shown), shown  # the weekday and month in the language
    # 22:30 UTC is 07:30 the next day in Tokyo, 17:30 in New York: the day is shown too
    when = await page.evaluate("(iso) => window.TLDesk.formatTime(iso)", at)
    assert ("16" if profile_zone else "15") in when, when
    assert ("07:30" if profile_zone else "17:30") in when, when

    # the supervisor dashboard
    s = _strings("supervisor", language)
    await page.goto(f"{server.base_url}/supervisor")
    await expect(page.get_by_role("heading", name=s["heading"])).to_be_visible()
    await expect(page.locator(".conn").first).to_have_text(s["conn_live"])
    await _no_english(page, language, [s["nav_supervisor"], s["nav_planning"], s["sign_out"]])
    assert await page.evaluate("window.TLDesk.ZONE") == (profile_zone or BROWSER_ZONE)
    assert not page.errors  # type: ignore[attr-defined]


async def test_an_offer_and_its_conversation_in_greek(
    server: Running, world: World, browser: Browser
) -> None:
    """What the desktop builds as it goes (the offer card, the timeline's lines, the
    customer's panel) is Greek too."""
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900}, locale="el", timezone_id=BROWSER_ZONE
    )
    page = await context.new_page()
    problems: list[str] = []  # an expression Alpine's CSP build cannot run is a console error
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await sign_in(page, server.base_url, "rui@example.com")
    t = _strings("desktop", "el")
    await expect(page.locator(".conn")).to_have_text(t["conn_live"])
    async with page.expect_response("**/api/v1/agents/me/presence") as presence:
        await page.get_by_test_id("presence").select_option("available")
    assert (await presence.value).ok

    async with _visitor(server, world, "Marta Silva") as visitor:
        await visitor.send(json.dumps({"type": "message", "client_id": "v-1", "text": "olá"}))
        offer = page.get_by_test_id("offer")
        await expect(offer).to_be_visible(timeout=10_000)
        await expect(offer.locator(".badge-channel")).to_have_text(t["channel_chat"])
        await expect(offer.get_by_test_id("offer-countdown")).to_have_text(re.compile(r"^\d+ δ$"))
        await expect(offer.get_by_role("button", name=t["reject"])).to_be_visible()
        await offer.get_by_role("button", name=t["accept"]).click()

        timeline = page.get_by_test_id("timeline")
        await expect(timeline).to_contain_text(t["sys_assigned"].format(who="Rui"))
        await expect(timeline).to_contain_text(t["current_conversation"])
        profile = page.get_by_test_id("profile")
        await expect(profile).to_contain_text(t["customer_since"].format(day=""))
        await expect(page.get_by_test_id("profile-link")).to_have_text(t["full_profile"])
        await expect(page.get_by_test_id("thread-status")).to_have_text(t["status_assigned"])
        await expect(page.get_by_test_id("draft")).to_have_attribute("placeholder", t["ph_reply"])
        await _no_english(page, "el", [t["transfer"], t["resolve"], t["mode_reply"]])
    assert not problems, problems
