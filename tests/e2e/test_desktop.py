"""The agent desktop and the supervisor page in real headless chromium (journeys 1 and 6).

A visitor is simulated from Python over the widget's WebSocket; the agent works only
through the browser, as a person would.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import PASSWORD, Running, World
from tests.e2e.conftest import sign_in
from threadline.agents.models import Agent
from threadline.threads.models import ThreadEvent

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/desktop.png"  # noqa: S108 - a fixed path a person can open after the run


async def _recv_until(ws: ClientConnection, wanted: str, timeout: float = 10) -> dict[str, Any]:
    async def _loop() -> dict[str, Any]:
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == wanted:
                return dict(frame)

    return await asyncio.wait_for(_loop(), timeout)


async def _agent_message(ws: ClientConnection) -> dict[str, Any]:
    """The next agent message the visitor receives (skipping assigned and other events)."""
    while True:
        event = (await _recv_until(ws, "event"))["event"]
        if event["kind"] == "message" and event["author_type"] == "agent":
            return dict(event)


@asynccontextmanager
async def _visitor(server: Running, world: World, name: str) -> AsyncIterator[ClientConnection]:
    """A chat visitor on the widget WebSocket who has told us their name."""
    async with server.client() as http:
        session = (
            await http.post(f"/api/v1/widget/{world.widget.key}/session", json={"locale": "pt-PT"})
        ).json()
    url = f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws"
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": session["visitor_token"]}))
        await ws.send(json.dumps({"type": "identify", "name": name}))
        await _recv_until(ws, "identified")
        yield ws


async def _page(browser: Browser) -> tuple[BrowserContext, Page, list[str]]:
    # A time zone other than the server's: times on the timeline are the agent's local time.
    context = await browser.new_context(
        viewport={"width": 1400, "height": 860}, timezone_id="Europe/Lisbon", locale="en-GB"
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


async def test_agent_takes_a_chat_from_offer_to_resolution(
    server: Running, world: World, browser: Browser
) -> None:
    context, page, errors = await _page(browser)

    # A wrong password says so clearly and stays on the form.
    await page.goto(f"{server.base_url}/login")
    await page.get_by_label("Email").fill("rui@example.com")
    await page.get_by_label("Password").fill("not my password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Wrong email or password. Please try again."
    )
    assert page.url.endswith("/login")

    await sign_in(page, server.base_url, "rui@example.com")
    await expect(page.locator(".conn")).to_have_text("Live")
    async with page.expect_response("**/api/v1/agents/me/presence") as presence:
        await page.get_by_label("Presence").select_option("available")
    assert (await presence.value).ok

    async with _visitor(server, world, "Marta Silva") as visitor:
        await visitor.send(
            json.dumps(
                {
                    "type": "message",
                    "client_id": "v-1",
                    "text": "o meu cartão não chegou <b>ainda</b>",
                }
            )
        )
        offer = page.get_by_test_id("offer")
        await expect(offer).to_be_visible(timeout=10_000)
        await expect(offer).to_contain_text("Marta Silva")
        await expect(offer).to_contain_text("General")
        await expect(offer).to_contain_text("o meu cartão não chegou <b>ainda</b>")  # escaped
        await expect(offer.get_by_test_id("offer-countdown")).to_have_text(re.compile(r"^\d+ s$"))
        await offer.get_by_role("button", name="Accept").click()

        timeline = page.get_by_test_id("timeline")
        await expect(timeline.locator("[data-kind=message]")).to_contain_text(
            "o meu cartão não chegou <b>ainda</b>"
        )
        await expect(timeline).to_contain_text("Assigned to Rui")
        await expect(page.get_by_test_id("profile")).to_contain_text("Marta Silva")
        profile_link = page.get_by_test_id("profile-link")  # the customer's full profile page
        await expect(profile_link).to_have_attribute("href", re.compile(r"^/customers/[\w-]+$"))
        await expect(page.get_by_test_id("thread-item")).to_have_count(1)

        # The customer types; the agent sees it.
        await visitor.send(json.dumps({"type": "typing", "on": True}))
        await expect(page.get_by_test_id("customer-typing")).to_have_text("Marta Silva is typing…")

        draft = page.get_by_label("Reply", exact=True)
        await draft.fill("Olá Marta! Vou verificar o envio.")
        await draft.press("Enter")
        reply = await _agent_message(visitor)
        assert reply["body"] == "Olá Marta! Vou verificar o envio."
        assert reply["client_msg_id"]  # crypto.randomUUID(): a retry is stored once
        await expect(timeline.locator(".msg-out")).to_contain_text(
            "Olá Marta! Vou verificar o envio."
        )
        await expect(draft).to_have_value("")

        await page.get_by_test_id("mode-note").check()
        await page.get_by_label("Internal note (only agents see it)").fill(
            "Card posted on the 3rd."
        )
        await page.get_by_role("button", name="Add note").click()
        await expect(timeline.locator(".note")).to_contain_text("Card posted on the 3rd.")
        await expect(timeline.locator(".note")).to_contain_text("Internal note")
        await page.screenshot(path=SCREENSHOT)

        await page.get_by_role("button", name="Resolve").click()
        dialog = page.get_by_role("dialog", name="Resolve conversation")
        await dialog.get_by_role("button", name="Resolve").click()  # no reason yet
        await expect(dialog.get_by_role("alert")).to_have_text("A wrap-up reason is required.")
        await dialog.get_by_role("button", name="card_arrival").click()
        await dialog.get_by_role("button", name="Resolve").click()
        await expect(dialog).to_be_hidden()
        await expect(timeline.locator("[data-kind=resolved]")).to_contain_text(
            "Resolved by Rui · card_arrival"
        )
        await expect(page.get_by_test_id("thread-status")).to_have_text("resolved")
        await expect(page.get_by_test_id("thread-item")).to_have_count(0)

    async with server.ctx.db.sessions() as db:
        rows = (
            await db.execute(
                select(ThreadEvent.kind, ThreadEvent.author_type, ThreadEvent.data)
                .where(ThreadEvent.org_id == world.org_id)
                .order_by(ThreadEvent.seq)
            )
        ).all()
    assert [(kind, author) for kind, author, _ in rows] == [
        ("message", "customer"),
        ("queued", "system"),
        ("assigned", "agent"),
        ("message", "agent"),
        ("note", "agent"),
        ("resolved", "agent"),
    ]
    assert rows[-1].data == {"reason": "card_arrival"}
    assert errors == []
    await context.close()


async def test_supervisor_sees_a_waiting_contact_live(
    server: Running, world: World, browser: Browser
) -> None:
    context, page, errors = await _page(browser)
    await sign_in(page, server.base_url, "nikos@example.com")
    await page.get_by_role("link", name="Supervisor").click()
    await page.wait_for_url("**/supervisor")
    await expect(page.locator(".conn")).to_have_text("Live")
    general = page.locator("tr[data-queue=General]")
    await expect(general.locator("[data-col=waiting]")).to_have_text("0")

    # Nobody is available: the visitor's contact waits, and the page shows it without a reload.
    async with _visitor(server, world, "Dmitri Volkov") as visitor:
        await visitor.send(json.dumps({"type": "message", "client_id": "v-1", "text": "lost card"}))
        await _recv_until(visitor, "ack")
        await expect(general.locator("[data-col=waiting]")).to_have_text("1", timeout=3_000)
        await expect(page.get_by_test_id("total-waiting")).to_have_text("1")
        longest = general.locator("[data-col=longest]")
        first = await longest.text_content()
        await expect(longest).not_to_have_text(first or "", timeout=3_000)  # the clock ticks
        await expect(general).to_contain_text("80% in 20 s")

        # Agents grouped by presence, updated live from agent.presence frames.
        available = page.locator("[data-presence=available]")
        await expect(available).not_to_contain_text("Olga")
        async with server.client() as olga:
            await olga.post(
                "/api/v1/auth/login", json={"email": "olga@example.com", "password": PASSWORD}
            )
            await olga.put("/api/v1/agents/me/presence", json={"presence": "available"})
        await expect(available).to_contain_text("Olga", timeout=3_000)
        # Olga has the skill: the contact is offered to her, no longer waiting.
        await expect(general.locator("[data-col=waiting]")).to_have_text("0", timeout=3_000)

    async with server.ctx.db.sessions() as db:
        olga_presence = await db.scalar(
            select(Agent.presence).where(Agent.email == "olga@example.com")
        )
    assert olga_presence == "available"
    assert errors == []
    await context.close()


async def test_an_agent_cannot_open_the_supervisor_page(
    server: Running, world: World, browser: Browser
) -> None:
    context, page, _ = await _page(browser)
    await sign_in(page, server.base_url, "rui@example.com")
    await expect(page.get_by_role("link", name="Supervisor")).to_have_count(0)
    await page.goto(f"{server.base_url}/supervisor")
    assert page.url.endswith("/desktop")
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/login")
    async with server.ctx.db.sessions() as db:
        rui_presence = await db.scalar(
            select(Agent.presence).where(Agent.email == "rui@example.com")
        )
    assert rui_presence == "offline"
    await context.close()
