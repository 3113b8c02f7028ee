"""Journey 1 end to end, both people in real headless chromium: a visitor writes in the
widget on a web page, the agent receives the offer on the desktop, accepts and replies, the
visitor sees the reply, the agent resolves; the stored timeline holds every event once."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import func, select

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from threadline.threads.models import Thread, ThreadEvent

pytestmark = pytest.mark.browser
WIDGET = "#threadline-widget"  # Playwright's CSS engine pierces the widget's open shadow root


async def test_visitor_and_agent_in_the_browser(
    server: Running, world: World, browser: Browser
) -> None:
    visitor_ctx = await browser.new_context(locale="pt-PT", timezone_id="Europe/Lisbon")
    agent_ctx = await browser.new_context(locale="en-GB", timezone_id="Europe/Athens")
    visitor, agent = await visitor_ctx.new_page(), await agent_ctx.new_page()
    errors: list[str] = []
    for page in (visitor, agent):
        page.on("pageerror", lambda exc: errors.append(str(exc)))

    # The agent signs in and becomes available.
    await sign_in(agent, server.base_url, "rui@example.com")
    await expect(agent.locator(".conn")).to_have_text("Live")
    await agent.get_by_label("Presence").select_option("available")

    # The visitor opens the company's page and writes in the widget.
    await visitor.goto(f"{server.base_url}/demo-site?widget={world.widget.key}")
    await visitor.locator(f"{WIDGET} .launcher").click()
    box = visitor.locator(f"{WIDGET} textarea")
    await box.fill("Olá, o meu cartão não chegou")
    await box.press("Enter")
    await expect(visitor.locator(f"{WIDGET} li.me .status")).to_have_text("✓ Enviada")

    # The offer reaches the agent live; they accept and read the message.
    offer = agent.get_by_test_id("offer")
    await expect(offer).to_be_visible(timeout=10_000)
    await expect(offer).to_contain_text("Olá, o meu cartão não chegou")
    await offer.get_by_role("button", name="Accept").click()
    timeline = agent.get_by_test_id("timeline")
    await expect(timeline.locator("[data-kind=message]")).to_contain_text(
        "Olá, o meu cartão não chegou"
    )
    await expect(visitor.locator(f"{WIDGET} li.system")).to_have_text("Rui entrou na conversa")

    # The agent replies; the visitor sees it.
    draft = agent.get_by_label("Reply", exact=True)
    await draft.fill("Olá! Vou verificar o envio do seu cartão.")
    await draft.press("Enter")
    reply = visitor.locator(f"{WIDGET} li.them .bubble").last
    await expect(reply).to_have_text("Olá! Vou verificar o envio do seu cartão.")

    # The visitor answers; the agent sees it live, then resolves with a reason.
    await box.fill("Obrigada!")
    await box.press("Enter")
    await expect(timeline.locator("[data-kind=message]").last).to_contain_text("Obrigada!")
    await agent.get_by_role("button", name="Resolve").click()
    dialog = agent.get_by_role("dialog", name="Resolve conversation")
    await dialog.get_by_label("Wrap-up reason").fill("card_arrival")
    await dialog.get_by_role("button", name="Resolve").click()
    await expect(timeline.locator("[data-kind=resolved]")).to_contain_text("card_arrival")

    async with server.ctx.db.sessions() as db:
        thread = await db.scalar(select(Thread).where(Thread.org_id == world.org_id))
        assert thread is not None and thread.status == "resolved"
        rows = (
            await db.execute(
                select(ThreadEvent.kind, ThreadEvent.author_type, ThreadEvent.body)
                .where(ThreadEvent.thread_id == thread.id)
                .order_by(ThreadEvent.seq)
            )
        ).all()
        seqs = await db.scalar(
            select(func.count(func.distinct(ThreadEvent.seq))).where(
                ThreadEvent.thread_id == thread.id
            )
        )
    assert [(kind, author) for kind, author, _ in rows] == [
        ("message", "customer"),
        ("queued", "system"),
        ("assigned", "agent"),
        ("message", "agent"),
        ("message", "customer"),
        ("resolved", "agent"),
    ]
    assert seqs == len(rows)  # every event once, in one order
    assert errors == []
    await visitor_ctx.close()
    await agent_ctx.close()
