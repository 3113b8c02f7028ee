"""Knowledge suggestions beside the thread, in real headless chromium: a Portuguese visitor
asks about their PIN, the agent accepts and sees the demo bank's PIN article suggested in
Portuguese; a second question refreshes the suggestions; "insert link" puts the article's
title and help-center link into the reply at the cursor, and sending it delivers it to the
widget; the search box finds another article."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from tests.e2e.test_desktop import _agent_message, _page, _visitor
from tests.e2e.test_help_center_editor import _org_slug
from threadline.selfservice.knowledge.demo_articles import load_demo_articles

pytestmark = pytest.mark.browser


async def test_agent_inserts_a_suggested_article_link_into_the_reply(
    server: Running, world: World, browser: Browser
) -> None:
    await load_demo_articles(server.ctx, world.org_id, None)
    slug = await _org_slug(server, world)
    context, page, errors = await _page(browser)
    # a CSP violation or an expression the Alpine CSP build refuses is a console error
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await sign_in(page, server.base_url, "rui@example.com")
    await expect(page.locator(".conn")).to_have_text("Live")
    async with page.expect_response("**/api/v1/agents/me/presence"):
        await page.get_by_label("Presence").select_option("available")

    async with _visitor(server, world, "Marta Silva") as visitor:
        say = {"type": "message", "client_id": "v-1", "text": "Como altero o PIN do cartão?"}
        await visitor.send(json.dumps(say))
        offer = page.get_by_test_id("offer")
        await expect(offer).to_be_visible(timeout=10_000)
        await offer.get_by_role("button", name="Accept").click()

        panel = page.get_by_test_id("kb-panel")
        await expect(panel.get_by_role("heading", name="Suggested articles")).to_be_visible()
        first = panel.get_by_test_id("kb-hit").first
        await expect(first).to_contain_text("Como altero o PIN do meu cartão?", timeout=10_000)
        await expect(first.locator(".kb-mark").first).to_be_visible()  # the matching words

        # The customer asks something else: the suggestions follow.
        say = {"type": "message", "client_id": "v-2", "text": "perdi o cartão, foi roubado"}
        await visitor.send(json.dumps(say))
        lost = panel.get_by_test_id("kb-hit").filter(has_text="Perdi o cartão ou foi roubado")
        await expect(lost).to_have_count(1, timeout=10_000)

        # Search brings the PIN article back; insert its link where the cursor is.
        await panel.get_by_test_id("kb-search").fill("PIN")
        await panel.get_by_test_id("kb-search").press("Enter")
        await expect(panel.get_by_role("heading", name="Articles found")).to_be_visible()
        pin = panel.get_by_test_id("kb-hit").filter(has_text="Como altero o PIN")
        await expect(pin).to_have_count(1)
        link = f"{server.base_url}/help/{slug}/pt/articles/change-pin"

        draft = page.get_by_label("Reply", exact=True)
        await draft.fill("Olá Marta! Veja aqui. Obrigado")
        await draft.evaluate("box => box.setSelectionRange(21, 21)")  # after "Veja aqui."
        await pin.get_by_test_id("kb-insert").click()
        expected = f"Olá Marta! Veja aqui. Como altero o PIN do meu cartão?: {link} Obrigado"
        await expect(draft).to_have_value(expected)
        await expect(draft).to_be_focused()

        await draft.press("Enter")
        reply = await _agent_message(visitor)
        assert reply["body"] == expected
        assert link in reply["body"]

        await panel.get_by_role("button", name="Back to the suggestions").click()
        await expect(panel.get_by_role("heading", name="Suggested articles")).to_be_visible()
        await expect(lost).to_have_count(1)
    assert errors == []
    await context.close()
