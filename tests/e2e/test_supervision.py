"""Supervision in real headless chromium (issue 13 §3, journeys 6 and 8): Nikos, on the
dashboard in Portuguese, opens Rui's live chat read-only, whispers (Rui's desktop shows it
at once; the customer's widget never receives it), takes the chat over and writes to the
customer, and forces Rui offline (Rui's desktop follows)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from websockets.asyncio.client import ClientConnection

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from tests.e2e.test_desktop import _agent_message, _visitor

pytestmark = pytest.mark.browser

LIVE_MS = 3_000
SCREENSHOTS = "/tmp/supervision-{}.png"  # noqa: S108 - fixed paths a person can open after the run
WHISPER = "Ofereça-lhe o cartão expresso"


async def _open(browser: Browser, server: Running, email: str, locale: str) -> Page:
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900}, timezone_id="Europe/Lisbon", locale=locale
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await sign_in(page, server.base_url, email)
    return page


async def _drain(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), seconds)))
    except TimeoutError:
        return frames


async def test_supervisor_whispers_takes_over_and_writes(
    server: Running, world: World, browser: Browser
) -> None:
    rui = await _open(browser, server, "rui@example.com", "en-GB")
    await expect(rui.locator(".conn")).to_have_text("Live")
    await rui.get_by_label("Presence").select_option("available")
    nikos = await _open(browser, server, "nikos@example.com", "pt-PT")
    await nikos.goto(f"{server.base_url}/supervisor")
    live = nikos.get_by_test_id("live-conversations")
    await expect(live.get_by_role("heading", name="Conversas em curso")).to_be_visible()
    await expect(live).to_contain_text("Nenhuma conversa em curso.")

    async with _visitor(server, world, "Marta Silva") as visitor:
        await visitor.send(
            json.dumps({"type": "message", "client_id": "v-1", "text": "o meu cartão não chegou"})
        )
        offer = rui.get_by_test_id("offer")
        await expect(offer).to_be_visible(timeout=10_000)
        await offer.get_by_role("button", name="Accept").click()
        await expect(rui.get_by_test_id("timeline")).to_contain_text("Assigned to Rui")

        # the dashboard lists the chat live, by queue, with its agent; opened read-only
        row = live.locator("table[data-queue=General] tbody tr")
        await expect(row).to_contain_text("Marta Silva", timeout=LIVE_MS)
        await expect(row).to_contain_text("Rui")
        await expect(row).to_contain_text("Em atendimento")
        await row.get_by_test_id("sv-open").click()
        monitor = nikos.get_by_test_id("sv-monitor")
        await expect(monitor).to_contain_text("Conversa com Marta Silva")
        await expect(monitor).to_contain_text("Só leitura")
        timeline = nikos.get_by_test_id("sv-timeline")
        await expect(timeline).to_contain_text("o meu cartão não chegou")
        await expect(nikos.get_by_test_id("sv-reply")).to_be_hidden()  # no composer

        # the timeline follows live: the customer writes again
        await visitor.send(
            json.dumps({"type": "message", "client_id": "v-2", "text": "ainda estou à espera"})
        )
        await expect(timeline).to_contain_text("ainda estou à espera", timeout=LIVE_MS)

        # whisper: Rui sees it at once, the customer never does
        await nikos.get_by_label("Sussurrar a Rui").fill(WHISPER)
        await monitor.get_by_role("button", name="Sussurrar", exact=True).click()
        card = rui.get_by_test_id("sv-whisper-card")
        await expect(card).to_contain_text(WHISPER, timeout=LIVE_MS)
        await expect(card).to_contain_text("Whisper from Nikos")
        await expect(timeline.locator("[data-kind=whisper]")).to_contain_text(WHISPER)
        assert WHISPER not in json.dumps(await _drain(visitor, 1.0))

        # take over: Rui is released and told; Nikos writes to the customer
        nikos.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await monitor.get_by_test_id("sv-take-over").click()
        await expect(rui.get_by_text("Nikos took over one of your conversations.")).to_be_visible(
            timeout=LIVE_MS
        )
        await expect(timeline).to_contain_text("Nikos assumiu a conversa")
        reply = nikos.get_by_test_id("sv-reply")
        await expect(reply).to_be_visible()
        await reply.fill("Olá Marta, sou o Nikos: vou tratar do seu cartão.")
        await monitor.get_by_role("button", name="Enviar").click()
        said = await _agent_message(visitor)
        assert said["body"] == "Olá Marta, sou o Nikos: vou tratar do seu cartão."
        assert said["author_name"] == "Nikos"
        assert WHISPER not in json.dumps(said)
        await expect(timeline).to_contain_text("sou o Nikos")
        await nikos.screenshot(path=SCREENSHOTS.format("dashboard"), full_page=True)
        await rui.screenshot(path=SCREENSHOTS.format("desktop"))

    # presence: Nikos forces Rui offline from the agents board; Rui's desktop follows
    rui_row = nikos.locator("[data-presence=available] li[data-agent=Rui]")
    await rui_row.get_by_test_id("set-presence").select_option("offline")
    await expect(rui.get_by_label("Presence")).to_have_value("offline", timeout=LIVE_MS)
    await expect(rui.get_by_text("A supervisor set your presence to Offline.")).to_be_visible()
    await expect(nikos.locator("[data-presence=offline] li[data-agent=Rui]")).to_be_visible()
    assert not rui.errors and not nikos.errors  # type: ignore[attr-defined]
