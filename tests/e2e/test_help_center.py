"""The public help center in a real browser, on a phone (390x844) and a desktop: browse,
search, read, answer "did this help?" without any script, nothing wider than the screen."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from tests.conftest import Running, World
from threadline.orgs.models import Organization
from threadline.selfservice.knowledge.demo_articles import load_demo_articles
from threadline.selfservice.knowledge.models import KbFeedback

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


async def _org_slug(server: Running, world: World) -> str:
    await load_demo_articles(server.ctx, world.org_id, world.agents["admin"].id)
    async with server.ctx.db.sessions() as session:
        org = await session.get(Organization, world.org_id)
    assert org is not None
    return org.slug


async def _fits(page: Page) -> None:
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_browse_search_read_and_answer(
    browser: Browser, server: Running, world: World, viewport: dict[str, int]
) -> None:
    slug = await _org_slug(server, world)
    context = await browser.new_context(
        locale="pt-PT",
        viewport=viewport,
        java_script_enabled=False,  # type: ignore[arg-type]
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    await page.goto(f"{server.base_url}/help/{slug}/")  # the browser's language: Portuguese
    await expect(page).to_have_url(f"{server.base_url}/help/{slug}/pt/")
    await expect(page.get_by_role("heading", name="Como podemos ajudar?")).to_be_visible()
    await expect(page.get_by_test_id("help-category")).to_have_count(2)
    await _fits(page)

    await page.get_by_test_id("help-search-input").fill("o meu cartão não chegou")
    await page.get_by_role("button", name="Pesquisar").click()
    results = page.get_by_test_id("search-result")
    await expect(results.first).to_contain_text("O meu cartão não chegou")
    await expect(results.first.locator("mark").first).to_be_visible()
    await _fits(page)

    await results.first.get_by_role("link").click()
    await expect(page.get_by_test_id("article-title")).to_have_text("O meu cartão não chegou")
    await expect(page.get_by_test_id("article-body").locator("strong").first).to_have_text(
        "7 dias úteis"
    )
    assert await page.title() == "O meu cartão não chegou · Test Bank"
    await _fits(page)
    yes = page.get_by_test_id("feedback-yes")
    box = await yes.bounding_box()
    assert box is not None and box["height"] >= 44  # a finger's size
    await yes.click()
    await expect(page.get_by_test_id("feedback-thanks")).to_have_text("Obrigado por nos dizer.")

    # the same article in Greek, through the footer's language links
    await page.get_by_role("link", name="Ελληνικά").click()
    await expect(page.get_by_test_id("article-title")).to_have_text("Η κάρτα μου δεν έφτασε")
    await _fits(page)

    async with server.ctx.db.sessions() as session:
        answers = list(await session.scalars(select(KbFeedback)))
    assert [(a.language, a.helpful, a.source) for a in answers] == [("pt", True, "help_center")]
    assert errors == []
    await context.close()
