"""The knowledge-base editor (/admin/help) in real headless chromium: an admin adds a
category and an article, writes it in Portuguese, saves twice, sees both versions and the
diff, publishes it, and the public help center shows it; an agent gets 403."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from tests.conftest import Running, World, eventually
from tests.e2e.conftest import sign_in
from threadline.orgs.models import Organization
from threadline.selfservice.knowledge.models import KbCategory

pytestmark = pytest.mark.browser


async def _page(browser: Browser, server: Running, email: str) -> Page:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="pt-PT", base_url=server.base_url
    )
    page = await context.new_page()
    await sign_in(page, server.base_url, email)
    return page


async def test_an_admin_writes_versions_and_publishes(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _page(browser, server, "admin@example.com")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto("/admin/help")
    await expect(page.get_by_role("heading", name="Centro de ajuda", level=1)).to_be_visible()

    await page.get_by_test_id("new-category").fill("cartoes")
    await page.get_by_test_id("new-category").press("Enter")
    await expect(page.get_by_test_id("new-article-category")).to_have_value(
        await _first_category_id(server, world)
    )
    await page.get_by_test_id("new-article").fill("perdi-o-cartao")
    await page.get_by_test_id("new-article").press("Enter")
    editor = page.get_by_test_id("editor")
    await expect(editor.get_by_role("heading", name="perdi-o-cartao")).to_be_visible()

    await page.get_by_test_id("title").fill("Perdi o cartão")
    await page.get_by_test_id("body").fill("Bloqueie o cartão na app.")
    await page.get_by_test_id("save").click()
    await expect(page.get_by_test_id("notice")).to_have_text("Guardado como versão 1.")
    await page.get_by_test_id("body").fill("Bloqueie o cartão na app.\n\nDepois peça **outro**.")
    await page.get_by_test_id("save").click()
    await expect(page.get_by_test_id("notice")).to_have_text("Guardado como versão 2.")
    await expect(page.get_by_test_id("versions").locator("li")).to_have_count(2)
    await page.get_by_role("button", name="Alterações face à versão anterior").click()
    await expect(page.get_by_test_id("diff")).to_contain_text("+Depois peça **outro**.")

    await page.get_by_test_id("publish").click()
    await expect(page.get_by_test_id("unpublish")).to_be_visible()
    slug = await _org_slug(server, world)
    await page.goto(f"/help/{slug}/pt/articles/perdi-o-cartao")
    await expect(page.get_by_test_id("article-body").locator("strong")).to_have_text("outro")
    assert errors == []

    agent = await _page(browser, server, "rui@example.com")
    refused = await agent.goto("/admin/help")
    assert refused is not None and refused.status == 403


async def _first_category_id(server: Running, world: World) -> str:
    async def made() -> str | None:
        async with server.ctx.db.sessions() as session:
            return await session.scalar(
                select(KbCategory.id).where(KbCategory.org_id == world.org_id)
            )

    return await eventually(made)


async def _org_slug(server: Running, world: World) -> str:
    async with server.ctx.db.sessions() as session:
        org = await session.get(Organization, world.org_id)
    assert org is not None
    return org.slug
