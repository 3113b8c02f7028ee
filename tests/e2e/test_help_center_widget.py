"""The chat widget suggests help articles while the visitor types (journey 5's first
step): in their language, opened inside the widget, "did this help?" recorded, back to the
chat with what they typed kept; at a phone's size too."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.conftest import Running, World, eventually
from threadline.selfservice.knowledge.demo_articles import load_demo_articles
from threadline.selfservice.knowledge.models import KbFeedback

pytestmark = pytest.mark.browser
WIDGET = "#threadline-widget"  # Playwright's CSS engine pierces the open shadow root


@pytest.mark.parametrize(
    "viewport",
    [{"width": 1200, "height": 800}, {"width": 390, "height": 844}],
    ids=["desktop", "phone"],
)
async def test_articles_are_suggested_while_typing(
    browser: Browser, server: Running, world: World, viewport: dict[str, int]
) -> None:
    await load_demo_articles(server.ctx, world.org_id, world.agents["admin"].id)
    context = await browser.new_context(locale="pt-PT", viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{server.base_url}/demo-site?widget={world.widget.key}")
    await page.wait_for_function("() => window.Threadline && window.Threadline.ready === true")
    await page.locator(f"{WIDGET} .launcher").click()

    composer = page.locator(f"{WIDGET} textarea")
    await composer.press_sequentially("o meu cartão não cheg", delay=20)
    suggestions = page.locator(f"{WIDGET} .help")
    await expect(suggestions).to_be_visible()
    await expect(suggestions.get_by_role("button").first).to_have_text("O meu cartão não chegou")

    await suggestions.get_by_role("button").first.click()
    article = page.locator(f"{WIDGET} .article")
    await expect(article.locator("h3")).to_have_text("O meu cartão não chegou")
    await expect(article.locator(".body strong").first).to_have_text("7 dias úteis")
    await article.get_by_role("button", name="Sim").click()
    await expect(article.locator(".helped")).to_have_text("Obrigado por nos dizer.")

    async def recorded() -> list[tuple[str, bool, str]]:
        async with server.ctx.db.sessions() as session:
            rows = await session.scalars(select(KbFeedback))
            return [(r.language, r.helpful, r.source) for r in rows]

    assert await eventually(recorded) == [("pt", True, "widget")]
    await article.get_by_role("button", name="‹ Voltar à conversa").click()
    await expect(article).to_be_hidden()
    await expect(composer).to_have_value("o meu cartão não cheg")  # nothing typed is lost
    await composer.fill("")
    await composer.press_sequentially("ab")  # too short to suggest
    await expect(suggestions).to_be_hidden()
    assert errors == []
    await context.close()
