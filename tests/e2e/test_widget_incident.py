"""Outage mode in the widget, in a real browser on a phone and a desktop: an incident in
force shows as a banner in the visitor's language when the chat opens, with its expected
end; "tell me when it is fixed" is one tap, remembered, and the fix arrives in the chat."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.conftest import Running, World, eventually, login
from tests.e2e.test_widget_phone import DESKTOP, PHONE, WIDGET, Device, _tap, _uncovered, _until
from threadline.db import utcnow
from threadline.selfservice.incidents.models import IncidentNotice

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=lambda d: d.name)
async def test_banner_follow_and_fixed(
    browser: Browser, server: Running, world: World, device: Device
) -> None:
    supervisor = await login(server, "nikos@example.com")
    declared = await supervisor.post(
        "/api/v1/incidents",
        json={
            "title": "Pagamentos com cartão",
            "messages": {
                "en": "Card payments are failing.",
                "pt": "Os pagamentos com cartão estão a falhar.",
            },
            "resolution_messages": {"pt": "Os pagamentos com cartão já funcionam."},
            "expected_end_at": (utcnow() + timedelta(hours=2)).isoformat(),
        },
    )
    assert declared.status_code == 201, declared.text
    incident = declared.json()

    context = await browser.new_context(
        locale="pt-PT", timezone_id="Europe/Lisbon", **device.options
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{server.base_url}/demo-site?widget={world.widget.key}")
    await _until(page, "!!window.Threadline && window.Threadline.ready === true")
    await _tap(page, device, page.locator(f"{WIDGET} .launcher"))
    banner = page.locator(f"{WIDGET} .incidents li")
    await expect(banner).to_have_count(1)
    await expect(banner).to_contain_text("Os pagamentos com cartão estão a falhar.")
    await expect(banner.locator(".eta")).to_contain_text("Previsão de resolução")
    follow = banner.locator("button")
    await expect(follow).to_have_text("Avise-me quando estiver resolvido")
    await _uncovered(page, ".incidents button")
    box = await follow.bounding_box()
    assert box is not None
    if device.phone:  # finger-sized
        assert box["height"] >= 44
    await _tap(page, device, follow)
    await expect(follow).to_have_text("Avisamos aqui quando estiver resolvido.")
    await expect(follow).to_be_disabled()
    await _uncovered(page, "textarea")  # the banner leaves the composer usable

    async def following() -> IncidentNotice | None:
        async with server.ctx.db.sessions() as db:
            return await db.scalar(select(IncidentNotice))

    notice = await eventually(following)
    assert notice.reason == "follow" and notice.language == "pt"
    await _until(page, "window.Threadline._debugState().connected")
    resolved = await supervisor.post(f"/api/v1/incidents/{incident['id']}/resolve")
    assert resolved.status_code == 200
    await expect(page.locator(f"{WIDGET} .log")).to_contain_text(
        "Os pagamentos com cartão já funcionam.", timeout=15_000
    )
    assert errors == []
    await supervisor.aclose()
    await context.close()


async def test_the_app_page_shows_the_incident_above_everything(
    browser: Browser, server: Running, world: World
) -> None:
    from tests.integration.test_app_api import make_app

    app = await make_app(server, world)
    supervisor = await login(server, "nikos@example.com")
    declared = await supervisor.post(
        "/api/v1/incidents",
        json={
            "title": "Κάρτες",
            "messages": {
                "en": "Card payments are failing.",
                "el": "Οι πληρωμές με κάρτα αποτυγχάνουν.",
            },
        },
    )
    assert declared.status_code == 201, declared.text
    context = await browser.new_context(
        locale="el-GR", timezone_id="Europe/Athens", **PHONE.options
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{server.base_url}/app/{app.key}")
    incident = page.locator("[data-testid=incidents] .incident")
    await expect(incident).to_contain_text("Οι πληρωμές με κάρτα αποτυγχάνουν.")
    box = await incident.bounding_box()
    assert box is not None and box["y"] < 200 and box["width"] <= 390  # at the top, on screen
    resolved = await supervisor.post(f"/api/v1/incidents/{declared.json()['id']}/resolve")
    assert resolved.status_code == 200
    await page.reload()
    await expect(page.locator("[data-testid=incidents]")).to_be_hidden()
    assert errors == []
    await supervisor.aclose()
    await context.close()
