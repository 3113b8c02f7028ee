"""The reports page in real headless chromium: a supervisor picks a period and a grouping,
the chart and the table render the figures of contacts that went through the real routing
engine, the CSV link downloads the same selection, the agent-performance view shows each
agent's work, a bad custom period is refused beside its field; in Portuguese too; an agent
gets 403."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import Running, World, eventually
from tests.e2e.conftest import sign_in
from tests.integration.test_reports import a_day_of_contacts, counted

pytestmark = pytest.mark.browser


async def _open(browser: Browser, server: Running, locale: str = "en-GB") -> Page:
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900},
        locale=locale,
        timezone_id="Europe/Lisbon",
        base_url=server.base_url,
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    await sign_in(page, server.base_url, "nikos@example.com")
    await page.goto("/reports")
    return page


async def _chart_sum(page: Page, dataset: int = 0) -> float:
    total = await page.evaluate(
        "(i) => { const c = window.Chart.getChart('rp-chart');"
        " return c ? c.data.datasets[i].data.reduce((a, b) => a + (b || 0), 0) : null; }",
        dataset,
    )
    return float(total)


async def test_a_supervisor_picks_a_period_and_a_grouping(
    server: Running, world: World, browser: Browser
) -> None:
    await a_day_of_contacts(server, world)
    await eventually(lambda: counted(server, 4))
    page = await _open(browser, server)
    await expect(page.get_by_role("heading", name="Reports", level=1)).to_be_visible()

    # the last 7 days by queue: 3 offered (the customer who left at once is a short abandon)
    general = page.locator("tr[data-testid=report-row]", has_text="General")
    await expect(general.locator("[data-col=offered]")).to_have_text("3")
    await expect(general.locator("[data-col=answered]")).to_have_text("3")
    await expect(general.locator("[data-col=transfer_rate]")).to_have_text("33.3%")
    await expect(general.locator("[data-col=fcr]")).to_have_text("66.7%")
    await expect(page.get_by_test_id("report-total").locator("[data-col=offered]")).to_have_text(
        "3"
    )
    assert await _chart_sum(page) == 3  # offered bars

    # today per hour: the chart has the service level line, the table an hour per row
    await page.get_by_test_id("period").select_option("today")
    await page.get_by_test_id("group-by").select_option("interval")
    await page.get_by_test_id("interval").select_option("60m")
    await page.get_by_test_id("apply").click()
    rows = page.get_by_test_id("report-row")
    await expect(rows.first.locator("th")).to_have_text(re.compile(r"\d\d/\d\d/\d{4}, \d\d:00"))
    assert await _chart_sum(page, 1) == 3  # answered
    kinds = await page.evaluate(
        "() => window.Chart.getChart('rp-chart').data.datasets.map((d) => d.type || 'bar')"
    )
    assert kinds == ["bar", "bar", "bar", "line"]

    # by agent; the CSV link is the same selection as a file
    await page.get_by_test_id("group-by").select_option("agent")
    await page.get_by_test_id("apply").click()
    await expect(page.locator("tr[data-testid=report-row]", has_text="Rui")).to_be_visible()
    href = await page.get_by_test_id("csv").get_attribute("href")
    assert href is not None and "group_by=agent" in href and "format=csv" in href
    download = await page.request.get(href)
    assert download.status == 200
    assert download.headers["content-type"].startswith("text/csv")
    lines = (await download.text()).splitlines()
    assert lines[0].startswith("key,label,offered,answered")
    assert any(",Rui," in line for line in lines) and any(",Olga," in line for line in lines)
    parquet = await page.request.get(
        await page.get_by_test_id("parquet").get_attribute("href") or ""
    )
    assert parquet.status == 200 and (await parquet.body())[:4] == b"PAR1"

    # agent performance: each agent's handled contacts, transfers, AHT
    await page.get_by_test_id("tab-agents").click()
    await expect(page.get_by_test_id("group-by")).to_be_hidden()
    rui = page.locator("tr[data-testid=report-row]", has_text="Rui")
    olga = page.locator("tr[data-testid=report-row]", has_text="Olga")
    await expect(rui.locator("[data-col=handled]")).to_have_text("3")
    await expect(rui.locator("[data-col=transfer_rate]")).to_have_text("33.3%")
    await expect(olga.locator("[data-col=handled]")).to_have_text("1")
    await expect(olga.locator("[data-col=answered]")).to_have_text("0")
    assert await _chart_sum(page) == 4  # handled bars
    href = await page.get_by_test_id("csv").get_attribute("href")
    assert href is not None and "group_by=agent" in href

    # a custom period the wrong way round is refused beside its field
    await page.get_by_test_id("period").select_option("custom")
    await page.get_by_test_id("from").fill("2026-11-20")
    await page.get_by_test_id("to").fill("2026-11-10")
    await page.get_by_test_id("apply").click()
    await expect(page.get_by_test_id("to-error")).to_have_text(
        "The last day must not be before the first."
    )
    # ... and one over a year by the server's reason
    await page.get_by_test_id("from").fill("2024-01-01")
    await page.get_by_test_id("to").fill("2026-11-10")
    await page.get_by_test_id("apply").click()
    await expect(page.get_by_test_id("error")).to_contain_text("at most a year")
    await page.screenshot(path="/tmp/reports.png", full_page=True)  # noqa: S108
    refused = "the server responded with a status of 422"  # the one refusal asked for
    assert [e for e in page.errors if refused not in e] == []  # type: ignore[attr-defined]
    await page.context.close()


async def test_the_page_speaks_portuguese_and_refuses_agents(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _open(browser, server, locale="pt-PT")
    await expect(page.get_by_role("heading", name="Relatórios", level=1)).to_be_visible()
    await expect(page.get_by_test_id("tab-agents")).to_have_text("Desempenho dos agentes")
    await expect(page.get_by_test_id("empty")).to_have_text("Nenhum contacto neste período.")
    assert page.errors == []  # type: ignore[attr-defined]
    await page.context.close()

    context = await browser.new_context(base_url=server.base_url)
    agent = await context.new_page()
    await sign_in(agent, server.base_url, "rui@example.com")
    response = await agent.goto("/reports")
    assert response is not None and response.status == 403
    await context.close()
