"""The survey in the widget, in a real browser on a phone and a desktop: when the agent
resolves the chat, the visitor is asked CSAT then CES in their language, with finger-sized
buttons, adds a comment, and the answers are stored once; a reload does not ask again."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.conftest import Running, World, eventually, login, take_thread
from tests.e2e.test_widget_phone import DESKTOP, PHONE, WIDGET, Device, _tap, _uncovered, _until
from threadline.routing.models import Contact
from threadline.surveys.models import Survey

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=lambda d: d.name)
async def test_the_visitor_answers_the_survey_after_the_agent_resolves(
    browser: Browser, server: Running, world: World, device: Device
) -> None:
    admin = await login(server, "admin@example.com")
    on = await admin.put("/api/v1/surveys/settings", json={"enabled": True})
    assert on.status_code == 200, on.text
    await admin.aclose()

    context = await browser.new_context(
        locale="pt-PT", timezone_id="Europe/Lisbon", **device.options
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{server.base_url}/demo-site?widget={world.widget.key}")
    await _until(page, "!!window.Threadline && window.Threadline.ready === true")
    await _tap(page, device, page.locator(f"{WIDGET} .launcher"))
    await page.evaluate("window.Threadline.send('O meu cartão está bloqueado')")

    async def thread_id() -> str | None:
        async with server.ctx.db.sessions() as db:
            return await db.scalar(select(Contact.thread_id))

    thread = await eventually(thread_id)
    rui = await take_thread(server, "rui@example.com", thread)
    resolved = await rui.post(f"/api/v1/threads/{thread}/resolve", json={"reason": "card"})
    assert resolved.status_code == 200, resolved.text
    await rui.aclose()

    survey = page.locator(f"{WIDGET} .survey")
    await expect(survey).to_have_count(1, timeout=15_000)
    await expect(page.locator(f"{WIDGET} .log")).to_contain_text("Qual é o seu grau de satisfação")
    buttons = survey.locator(".scale button")
    await expect(buttons).to_have_count(5)
    await expect(survey.locator(".ends")).to_contain_text("Muito satisfeito")
    await _uncovered(page, ".survey .scale button")
    box = await buttons.nth(3).bounding_box()
    assert box is not None and box["height"] >= 44
    await _tap(page, device, buttons.nth(3))  # 4

    await expect(survey.locator(".q")).to_have_text("Foi fácil resolver o seu assunto?")
    await expect(buttons).to_have_count(7)
    box = await buttons.nth(6).bounding_box()
    assert box is not None and box["x"] + box["width"] <= device_width(device)
    await _tap(page, device, buttons.nth(5))  # 6
    comment = survey.locator("textarea")
    await expect(comment).to_be_visible()
    await comment.fill("Muito rápido")
    await _tap(page, device, survey.get_by_role("button", name="Enviar"))
    await expect(survey.locator(".done")).to_have_text("Obrigado pela sua opinião!")

    async def answered() -> Survey | None:
        async with server.ctx.db.sessions() as db:
            found = await db.scalar(select(Survey).where(Survey.status == "answered"))
        return found

    stored = await eventually(answered)
    assert (stored.csat, stored.ces, stored.comment) == (4, 6, "Muito rápido")

    await page.reload()
    await _until(page, "!!window.Threadline && window.Threadline.ready === true")
    await _until(page, "window.Threadline._debugState().connected")
    if not await page.locator(f"{WIDGET} .panel").is_visible():
        await _tap(page, device, page.locator(f"{WIDGET} .launcher"))
    await expect(page.locator(f"{WIDGET} .survey .done")).to_have_count(1, timeout=10_000)
    await expect(page.locator(f"{WIDGET} .survey .scale")).to_have_count(0)
    assert errors == []
    await context.close()


def device_width(device: Device) -> float:
    viewport = device.options.get("viewport") or {}
    return float(viewport.get("width", 1280))
