"""Journey 5 (Sofia) in real headless chromium: in the widget the bot answers her PIN
question from the knowledge base and she taps "Yes" (deflected, counted); her next question
is unclear, the bot offers buttons, she taps one and gives the last four digits; Rui gets
the offer and his first screen shows the bot's card (intent, what it collected, the
transcript), then the conversation."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from tests.integration.test_bot import (  # noqa: F401 - fixtures
    ARTICLES,
    WordMatchArticles,
    bot_of,
    bot_widget,
    intent_models,
    settings,
)
from threadline.selfservice.bot.models import BotOutcome

pytestmark = pytest.mark.browser
WIDGET = "#threadline-widget"


@pytest.mark.usefixtures("bot_widget")
async def test_sofia_self_service_then_a_person_with_context(
    server: Running, world: World, browser: Browser
) -> None:
    bot_of(server).knowledge = WordMatchArticles(ARTICLES)
    visitor_ctx = await browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
    agent_ctx = await browser.new_context(locale="en-GB")
    visitor, agent = await visitor_ctx.new_page(), await agent_ctx.new_page()
    errors: list[str] = []
    for page in (visitor, agent):
        page.on("pageerror", lambda exc: errors.append(str(exc)))

    await sign_in(agent, server.base_url, "rui@example.com")
    await expect(agent.locator(".conn")).to_have_text("Live")
    await agent.get_by_label("Presence").select_option("available")

    # Sofia asks how to change her PIN: the answer comes from the knowledge base.
    await visitor.goto(f"{server.base_url}/demo-site?widget={world.widget.key}")
    await visitor.locator(f"{WIDGET} .launcher").click()
    box = visitor.locator(f"{WIDGET} textarea")
    await box.fill("How do I change my PIN?")
    await box.press("Enter")
    log = visitor.locator(f"{WIDGET} li.them .bubble")
    await expect(log.filter(has_text="Change PIN")).to_have_count(1, timeout=10_000)
    await expect(visitor.locator(f"{WIDGET} .waiting")).to_be_hidden()  # no line: a bot talks
    await visitor.locator(f"{WIDGET} .choices button", has_text="Yes").click()
    await expect(log.last).to_have_text("Glad I could help. Goodbye!", timeout=10_000)
    await expect(visitor.locator(f"{WIDGET} .choices")).to_have_count(0)

    # Her next question is not clear: buttons, then the digits, then a person.
    await box.fill("I would like to know something about my thing")
    await box.press("Enter")
    choice = visitor.locator(f"{WIDGET} .choices button", has_text="My card has not arrived")
    await choice.click(timeout=10_000)
    await expect(log.last).to_contain_text("last 4 digits", timeout=10_000)
    await box.fill("4321")
    await box.press("Enter")
    await expect(log.last).to_contain_text("card specialist", timeout=10_000)
    await expect(visitor.locator(f"{WIDGET} .waiting")).to_be_visible()  # now in line

    offer = agent.get_by_test_id("offer")
    await expect(offer).to_be_visible(timeout=10_000)
    await offer.get_by_role("button", name="Accept").click()
    card = agent.get_by_test_id("bot-card")
    await expect(card).to_be_visible(timeout=10_000)
    await expect(agent.get_by_test_id("bot-intent")).to_contain_text("card_arrival")
    await expect(agent.get_by_test_id("bot-intent")).to_contain_text("% sure")
    await expect(agent.get_by_test_id("bot-slots")).to_have_text("card_last4: 4321")
    await card.locator("summary").click()
    await expect(card.locator(".bot-transcript li").first).to_contain_text(
        "I would like to know something about my thing"
    )

    async with server.ctx.db.sessions() as db:
        outcomes = list(await db.scalars(select(BotOutcome).order_by(BotOutcome.at)))
    assert [(o.outcome, o.intent) for o in outcomes] == [
        ("deflected", "change_pin"),
        ("handed_off", "card_arrival"),
    ]
    assert errors == []
