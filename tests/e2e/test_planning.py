"""The planning page in real headless chromium, in another time zone than the queue's: a
supervisor reaches it from the supervisor page, picks last week of a queue with history and
sees both charts drawn (every half hour of the week), the model the backtest chose with its
error, and one day's table in their own time; they plan agents in the roster grid, save, and
the day's table shows them against the agents required; they simulate the day and watch the
progress until the results, callbacks off and on, are shown in plain words. An agent is
refused the page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import Running, World, login
from tests.e2e.conftest import sign_in
from tests.integration.test_planning import LISBON, last_monday, seed_history

pytestmark = pytest.mark.browser

ZONE = "America/Sao_Paulo"  # the queue is in Lisbon: 09:00 there is 06:00 here in December


async def _signed_in(browser: Browser, server: Running, email: str) -> tuple[Page, list[str]]:
    context = await browser.new_context(
        base_url=server.base_url,
        timezone_id=ZONE,
        viewport={"width": 1400, "height": 900},
        locale="en-GB",
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )
    await sign_in(page, server.base_url, email)
    return page, errors


def _local(moment: datetime) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(ZONE)).strftime("%H:%M")


async def _chart_points(page: Page, canvas: str) -> list[int]:
    found: Any = await page.evaluate(
        "(id) => { const c = window.Chart && window.Chart.getChart(id);"
        " return c ? c.data.datasets.map((d) => d.data.length) : []; }",
        canvas,
    )
    return list(found)


async def test_a_supervisor_plans_a_week_and_simulates_a_day(
    server: Running, world: World, browser: Browser
) -> None:
    queue_id = world.queues["cards"].id
    week = last_monday()
    await seed_history(server.ctx, world.org_id, queue_id, week - timedelta(weeks=3), 4, scale=6)
    nikos = await login(server, "nikos@example.com")  # most of the roster through the API
    cells = [{"weekday": 0, "minute": 9 * 60 + 30 * i, "agents": 3} for i in range(1, 8)]
    response = await nikos.put(f"/api/v1/planning/queues/{queue_id}/roster", json={"cells": cells})
    assert response.status_code == 200
    await nikos.aclose()

    page, errors = await _signed_in(browser, server, "nikos@example.com")
    await page.goto("/supervisor")
    await page.get_by_role("link", name="Planning").click()
    await page.wait_for_url("**/planning")
    await expect(page.get_by_test_id("queue")).to_have_value(queue_id)  # Cards comes first
    await page.get_by_test_id("week").fill(week.isoformat())
    # last week: all of it has come (the page first shows this week, where nothing has)
    came = page.locator(".tile-sub", has_text="came so far")
    await expect(came).to_have_text(re.compile(r"^[1-9][\d,]* came so far$"))

    # the charts: forecast against actual, required against planned, every half hour
    week_half_hours = 7 * 48
    await expect(page.get_by_test_id("model")).not_to_have_text("No forecast yet")
    await expect(page.get_by_test_id("wape")).to_have_text(re.compile(r"^\d+(\.\d)?\s?%$"))
    for canvas in ("chart-contacts", "chart-agents"):
        await page.wait_for_function(
            "(id) => window.Chart && window.Chart.getChart(id)", arg=canvas
        )
        assert await _chart_points(page, canvas) == [week_half_hours, week_half_hours]
        box = await page.locator(f"#{canvas}").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100

    # Monday in detail, in the supervisor's time: 09:30 in Lisbon is 06:30 in São Paulo
    monday = page.locator(f'[data-day="{week.isoformat()}"]')
    await monday.click()
    nine_thirty = datetime(week.year, week.month, week.day, 9, 30, tzinfo=LISBON)
    row = page.get_by_test_id("gap-table").locator(f'tr[data-start="{nine_thirty.isoformat()}"]')
    await expect(row.locator("th")).to_have_text(_local(nine_thirty))
    await expect(row.locator('[data-col="actual"]')).to_have_text("24")  # 4 x 6 came
    await expect(row.locator('[data-col="planned"]')).to_have_text("3")
    required = int(await row.locator('[data-col="required"]').inner_text())
    assert required > 3
    await expect(row.locator('[data-col="gap"]')).to_have_text(f"{required - 3} short")

    # the roster: plan Monday 09:00 (Lisbon) in the grid, and save
    nine = page.locator('.plan-cell[data-weekday="0"][data-minute="540"]')
    await nine.fill("5")
    await nine.dispatch_event("change")
    await page.get_by_test_id("save-roster").click()
    await expect(page.get_by_test_id("notice")).to_have_text("Planned agents saved.")
    nine_row = page.get_by_test_id("gap-table").locator(
        f'tr[data-start="{(nine_thirty - timedelta(minutes=30)).isoformat()}"]'
    )
    await expect(nine_row.locator('[data-col="planned"]')).to_have_text("5")
    await expect(page.get_by_test_id("save-roster")).to_be_disabled()

    # simulate Monday: progress, then the results with callbacks off and on
    await page.get_by_test_id("simulate").click()
    await expect(page.get_by_test_id("sim-progress")).to_be_visible()
    results = page.get_by_test_id("sim-results")
    await expect(results).to_be_visible(timeout=60_000)
    await expect(page.get_by_test_id("sim-status")).to_contain_text("Done in")
    contacts = results.locator('tr[data-row="contacts"]')
    off = await contacts.locator('[data-col="off"]').inner_text()
    assert int(off) > 100 and off == await contacts.locator('[data-col="on"]').inner_text()
    offered = results.locator('tr[data-row="cb_offered"]')
    await expect(offered.locator("th")).to_have_text("Callbacks offered / accepted")
    await expect(offered.locator('[data-col="off"]')).to_have_text("0 / 0")
    assert not (await offered.locator('[data-col="on"]').inner_text()).startswith("0 ")
    await expect(results.locator('tr[data-row="hung_up"] th')).to_have_text("Hung up while waiting")
    assert errors == []
    await page.context.close()


async def test_an_agent_is_refused_the_page(
    server: Running, world: World, browser: Browser
) -> None:
    page, _ = await _signed_in(browser, server, "rui@example.com")
    response = await page.goto("/planning")
    assert response is not None and response.status == 403
    await expect(page.get_by_text("Planning is for supervisors and admins.")).to_be_visible()
    await page.context.close()
