"""The supervisor's live dashboard in real headless chromium (journey 6): contacts driven
through the widget and the routing API show on the page within moments of each event, well
under the page's 5 s poll (a contact queued, answered, abandoned), with the charts drawn; the
wallboard is dark, fits a 1920x1080 TV without controls, and keeps updating; in Greek."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from tests.conftest import PASSWORD, Running, World
from tests.e2e.conftest import sign_in
from tests.e2e.test_desktop import _recv_until, _visitor
from threadline.routing.models import Contact

pytestmark = pytest.mark.browser

# an event shows within this, half the 5 s poll (1.5 s was missed twice in 20 runs on a
# loaded 2-core machine)
LIVE_MS = 2_500


async def _agent(server: Running, email: str) -> httpx.AsyncClient:
    client = server.client()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


async def _write(visitor: Any, text: str) -> None:
    await visitor.send(json.dumps({"type": "message", "client_id": text, "text": text}))
    await _recv_until(visitor, "ack")


async def _offer(agent: httpx.AsyncClient) -> dict[str, Any]:
    for _ in range(100):
        offers = (await agent.get("/api/v1/offers")).json()
        if offers:
            return dict(offers[0])
        await asyncio.sleep(0.05)
    raise AssertionError("no offer came")


async def _open(browser: Browser, server: Running, *, wallboard: bool, locale: str) -> Page:
    size = {"width": 1920, "height": 1080} if wallboard else {"width": 1400, "height": 900}
    context = await browser.new_context(viewport=size, timezone_id="Europe/Lisbon", locale=locale)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await sign_in(page, server.base_url, "nikos@example.com")
    await page.goto(f"{server.base_url}/supervisor" + ("?wallboard=1" if wallboard else ""))
    return page


async def test_the_dashboard_follows_contacts_queued_answered_and_abandoned(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _open(browser, server, wallboard=False, locale="en-GB")
    await expect(page.locator(".conn")).to_have_text("Live")
    general = page.locator("tr[data-queue=General]")
    await expect(general.locator("[data-col=target]")).to_have_text("80% in 20 s")
    await expect(general.locator("[data-col=waiting]")).to_have_text("0")
    await expect(general.locator("[data-col=sl_today]")).to_have_text("—")
    olga = await _agent(server, "olga@example.com")

    async with _visitor(server, world, "Dmitri Volkov") as visitor:
        # queued: nobody is available
        await _write(visitor, "lost card")
        await expect(general.locator("[data-col=waiting]")).to_have_text("1", timeout=LIVE_MS)
        await expect(page.get_by_test_id("total-waiting")).to_have_text("1")
        longest = general.locator("[data-col=longest]")
        first = await longest.text_content()
        await expect(longest).not_to_have_text(first or "", timeout=3_000)  # the clock ticks

        # answered: Olga comes in, is offered the contact and accepts it
        await olga.put("/api/v1/agents/me/presence", json={"presence": "available"})
        await expect(page.locator("[data-presence=available]")).to_contain_text(
            "Olga", timeout=LIVE_MS
        )
        offer = await _offer(olga)
        accepted = await olga.post(f"/api/v1/offers/{offer['id']}/accept")
        assert accepted.status_code == 200, accepted.text
        await expect(general.locator("[data-col=in_service]")).to_have_text("1", timeout=LIVE_MS)
        await expect(general.locator("[data-col=waiting]")).to_have_text("0")
        await expect(page.locator("li[data-agent=Olga]")).to_contain_text("1 in service")
        # resolved: it is counted, answered within the target
        done = await olga.post(
            f"/api/v1/threads/{offer['thread_id']}/resolve", json={"reason": "card"}
        )
        assert done.status_code == 200, done.text
        await expect(general.locator("[data-col=answered]")).to_have_text("1", timeout=LIVE_MS)
        await expect(general.locator("[data-col=sl_today]")).to_have_text("100%")
        await expect(general.locator("[data-col=sl_recent]")).to_have_text("100%")
        await expect(general.locator("[data-col=sl_today]")).to_have_class("sl-ok")
        await expect(page.get_by_test_id("total-answered")).to_have_text("1")
        await expect(page.locator("li[data-reason=card]")).to_contain_text("card1")
        assert await general.locator("[data-col=asa]").text_content() != "—"

    # abandoned: Olga is away, a customer waits past the short-abandon threshold and leaves
    await olga.put("/api/v1/agents/me/presence", json={"presence": "away"})
    async with _visitor(server, world, "Marta Silva") as visitor:
        await _write(visitor, "hello?")
        await expect(general.locator("[data-col=waiting]")).to_have_text("1", timeout=LIVE_MS)
        await asyncio.sleep(6)  # abandons of 5 s or less are short ones, not counted
        async with server.ctx.uow() as uow:
            contact = await uow.session.scalar(
                select(Contact).where(Contact.org_id == world.org_id, Contact.status == "queued")
            )
            assert contact is not None
            assert await server.ctx.routing.abandon(uow, contact, "the customer left")
        await expect(general.locator("[data-col=waiting]")).to_have_text("0", timeout=LIVE_MS)
        await expect(general.locator("[data-col=abandoned]")).to_have_text("1", timeout=LIVE_MS)
        await expect(page.get_by_test_id("total-abandoned")).to_have_text("1")
        # 1 of 2 within the target now, under 80 %: flagged
        await expect(general.locator("[data-col=sl_today]")).to_have_text("50%")
        await expect(general.locator("[data-col=sl_today]")).to_have_class("sl-low")

    # the charts are drawn (Chart.js on the canvases) with today's intervals
    drawn = await page.evaluate(
        "() => ['chart-volume', 'chart-sl'].map((id) => {"
        " const chart = window.Chart.getChart(id);"
        " return chart ? chart.data.datasets[0].data.reduce((a, b) => a + (b || 0), 0) : null; })"
    )
    assert drawn[0] == 2 and drawn[1] > 0, drawn  # 2 offered; a service level per interval
    hours = await page.evaluate("() => window.Chart.getChart('chart-volume').data.labels")
    assert all(re.fullmatch(r"\d\d:[03]0", label) for label in hours), hours  # en-GB: 24 h
    await page.screenshot(path="/tmp/dashboard.png", full_page=True)  # noqa: S108
    assert page.errors == []  # type: ignore[attr-defined]
    await olga.aclose()
    await page.context.close()


async def test_the_wallboard_fits_a_tv_and_keeps_updating_in_greek(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _open(browser, server, wallboard=True, locale="el-GR")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ζωντανή λειτουργία")
    await expect(page.locator(".conn")).to_have_text("Ζωντανά")
    # no controls: no navigation, no sign-out
    await expect(page.get_by_role("navigation")).to_have_count(0)
    await expect(page.get_by_role("button")).to_have_count(0)
    dark = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert dark == "rgb(11, 18, 32)", dark
    fits = await page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight,"
        " document.querySelector('[data-testid=agents-by-presence]')"
        ".getBoundingClientRect().bottom]"
    )
    assert fits[0] <= 1920 and fits[1] <= 1080 and fits[2] <= 1080, fits
    table = page.locator(".dash-scroll")
    widths = await table.evaluate("(el) => [el.scrollWidth, el.clientWidth]")
    assert widths[0] <= widths[1], widths  # every column of the queues shows
    big = await page.get_by_test_id("total-waiting").evaluate(
        "(el) => parseFloat(getComputedStyle(el).fontSize)"
    )
    assert big >= 40, big

    general = page.locator("tr[data-queue=General]")
    await expect(general.locator("[data-col=target]")).to_have_text("80% σε 20 δευτ.")
    async with _visitor(server, world, "Eleni") as visitor:
        await _write(visitor, "γεια")
        await expect(general.locator("[data-col=waiting]")).to_have_text("1", timeout=LIVE_MS)
    await page.screenshot(path="/tmp/wallboard.png")  # noqa: S108
    assert page.errors == []  # type: ignore[attr-defined]
    await page.context.close()
