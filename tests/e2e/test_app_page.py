"""The customer web page (/app/KEY, installable as a PWA) and the callback manage page
(/callback/TOKEN) in a real browser against a real server: journeys 2 and 3 on the web."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from tests.conftest import Running, World, set_capacity
from tests.e2e.conftest import sign_in
from tests.integration.test_app_api import (
    LOST_CARD,
    VOICE_NUMBER,
    ago,
    make_app,
    open_app,
    signed,
)
from threadline.callbacks.models import Callback
from threadline.callbacks.tokens import manage_token
from threadline.channels.models import Endpoint
from threadline.routing.models import Contact
from threadline.verification.continuation import redeem

pytestmark = pytest.mark.browser


async def _browse(
    browser: Browser, locale: str = "en-GB", zone: str = "Europe/Lisbon"
) -> tuple[BrowserContext, Page, list[str]]:
    context = await browser.new_context(
        locale=locale, timezone_id=zone, viewport={"width": 420, "height": 860}
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


async def _customer_ahead(server: Running, app: Endpoint) -> tuple[httpx.AsyncClient, Any, str]:
    client = server.client()
    first = await open_app(client, app.key)
    contact = (await first.post("/contacts", LOST_CARD)).json()["contact_id"]
    return client, first, contact


async def test_talk_to_someone_see_the_wait_live_and_keep_the_place(
    browser: Browser, server: Running, world: World
) -> None:
    app = await make_app(server, world)
    client, ahead, ahead_contact = await _customer_ahead(server, app)
    context, page, errors = await _browse(browser, locale="pt-PT")
    await page.goto(f"{server.base_url}/app/{app.key}")
    await expect(page.locator("h1")).to_have_text("Test Bank")
    await expect(page.locator("h2")).to_have_text("Como podemos ajudar?")
    await page.get_by_role("button", name="Cartão perdido ou roubado").click()
    await page.get_by_label("Que cartão?").select_option("debit")
    await page.get_by_label("Quando o viu?").fill("ontem")
    await page.get_by_role("button", name="Falar com alguém").click()
    wait = page.get_by_test_id("wait")
    await expect(wait).to_have_text("Está em 2.º lugar na fila · mais de 30 min")

    # the customer ahead keeps their place, then gives it up: this one moves up, live
    kept = (
        await ahead.post(f"/contacts/{ahead_contact}/callback", {"phone": "+351912000001"})
    ).json()
    await ahead.post(f"/callbacks/{kept['callback']['id']}/cancel")
    await expect(wait).to_have_text("Está em 1.º lugar na fila · mais de 30 min")

    await page.get_by_role("button", name="Ligue-me de volta, mantendo o meu lugar").click()
    await page.get_by_label("O seu número de telefone").fill("+351 912 345 678")
    await page.get_by_role("button", name="Ligue-me", exact=True).click()
    promise = "Vamos ligar-lhe para +35191234••78 quando for a sua vez."
    await expect(page.get_by_test_id("callback")).to_have_text(promise)
    await expect(wait).to_have_text("Está em 1.º lugar na fila · mais de 30 min")
    async with server.ctx.db.sessions() as session:
        contact = await session.scalar(select(Contact).where(Contact.id != ahead_contact))
        callback = await session.scalar(select(Callback).where(Callback.status == "waiting"))
    assert contact is not None and contact.context["answers"] == {"card": "debit", "when": "ontem"}
    assert contact.reason == "lost_card" and contact.min_tier == 2
    assert callback is not None and callback.contact_id == contact.id

    await page.reload()  # the place and the promise are still there
    await expect(page.get_by_test_id("callback")).to_have_text(promise)
    await expect(wait).to_have_text("Está em 1.º lugar na fila · mais de 30 min")
    await page.screenshot(path="/tmp/app-page.png")  # noqa: S108 - a fixed path to look at by hand
    await page.get_by_role("button", name="Cancelar a chamada de volta").click()
    await expect(page.get_by_test_id("callback")).to_have_text("A chamada de volta foi cancelada.")
    await page.get_by_role("button", name="Recomeçar").click()
    await expect(page.get_by_role("button", name="Outro assunto")).to_be_visible()
    assert errors == []
    await context.close()
    await client.aclose()


def _fragment(identity: dict[str, Any]) -> str:
    raw = json.dumps(identity).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_book_a_time_then_call_now_verified_with_a_code(
    browser: Browser, server: Running, world: World
) -> None:
    app = await make_app(server, world)
    context, page, errors = await _browse(browser, zone="America/New_York")
    passkey = {"level": "verified", "method": "passkey", "at": ago(minutes=2)}
    identity = signed("elena@example.com", passkey, name="Elena")
    await page.goto(f"{server.base_url}/app/{app.key}#identity={_fragment(identity)}")
    await expect(page.get_by_test_id("assurance")).to_have_text("Verified · passkey")
    assert "identity" not in page.url  # the signed identity does not stay in the address

    await page.get_by_role("button", name="Lost or stolen card").click()
    await page.get_by_role("button", name="Talk to someone").click()
    await expect(page.get_by_test_id("wait")).to_contain_text("You are 1st in line")
    await page.get_by_role("button", name="Book a time").click()
    slots = page.locator(".windows button")
    await expect(slots.first).to_be_visible()
    first = await slots.first.get_attribute("data-start")
    assert first is not None
    local = datetime.fromisoformat(first).astimezone(ZoneInfo("America/New_York"))
    assert f"{local:%H:%M}" in await slots.first.inner_text()  # New York time on screen
    await page.get_by_label("Your phone number").fill("+1 212 555 0100")
    await slots.first.click()
    promise = page.get_by_test_id("callback")
    await expect(promise).to_contain_text("We'll call you at +1212555••00 on")
    await expect(promise).to_contain_text(f"{local:%H:%M}–")
    await page.get_by_role("button", name="Change the time").click()
    second = await slots.nth(1).get_attribute("data-start")
    assert second is not None
    await slots.nth(1).click()
    moved = datetime.fromisoformat(second).astimezone(ZoneInfo("America/New_York"))
    await expect(promise).to_contain_text(f"{moved:%H:%M}–")  # the new start, not the old end
    async with server.ctx.db.sessions() as session:
        callback = await session.scalar(select(Callback))
    assert callback is not None and callback.window_start == datetime.fromisoformat(second)
    assert callback.status == "scheduled"

    # another need, by phone now: a number and a one-time code the IVR takes
    await page.get_by_role("button", name="Cancel the callback").click()
    await page.get_by_role("button", name="Start again").click()
    await page.get_by_role("button", name="Something else").click()
    await page.get_by_role("button", name="Call now").click()
    code = page.get_by_test_id("code")
    await expect(code).to_have_text(re.compile(r"^\d{3} \d{3}$"))
    await expect(page.get_by_test_id("call")).to_contain_text(f"Call {VOICE_NUMBER}")
    link = page.get_by_role("link", name=f"Call {VOICE_NUMBER}")
    assert await link.get_attribute("href") == f"tel:{VOICE_NUMBER}"
    digits = (await code.inner_text()).replace(" ", "")
    await page.screenshot(path="/tmp/app-call-now.png")  # noqa: S108 - to look at by hand
    await page.reload()  # the code is still shown after a reload
    await expect(code).to_have_text(f"{digits[:3]} {digits[3:]}")

    continuation = await redeem(server.ctx, world.org_id, digits, caller="+12125550100")
    assert continuation is not None and continuation.reason == "other"
    assert continuation.assurance["level"] == "verified"
    assert continuation.assurance["method"] == "passkey"
    assert errors == []
    await context.close()


async def test_the_page_is_an_installable_app_that_opens_offline(
    browser: Browser, server: Running, world: World
) -> None:
    app = await make_app(server, world)
    context, page, errors = await _browse(browser, locale="el-GR")
    await page.goto(f"{server.base_url}/app/{app.key}")
    await expect(page.locator("h2")).to_have_text("Πώς μπορούμε να βοηθήσουμε;")
    scope = await page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == f"{server.base_url}/app/{app.key}"
    cdp = await context.new_cdp_session(page)
    manifest = await cdp.send("Page.getAppManifest")
    assert not manifest.get("errors"), manifest
    installable = await cdp.send("Page.getInstallabilityErrors")
    # Chromium's own verdict; a Playwright context is incognito, where nothing installs
    errors_found = {e["errorId"] for e in installable["installabilityErrors"]}
    assert errors_found <= {"in-incognito"}, installable
    async with server.client() as client:
        body = (await client.get(f"/app/{app.key}/manifest.webmanifest")).json()
        for icon in body["icons"]:
            got = await client.get(icon["src"])
            assert got.status_code == 200 and got.headers["content-type"] == icon["type"]
        assert body["start_url"] == f"/app/{app.key}" and body["display"] == "standalone"

    # the shell is cached: offline, the page still opens and says it is offline
    await page.wait_for_function("() => navigator.serviceWorker.controller !== null")  # claimed
    await context.set_offline(True)
    await page.reload()
    await expect(page.locator("h1")).to_have_text("Test Bank")
    await expect(page.locator(".offline")).to_have_text(
        "Είστε εκτός σύνδεσης. Η σελίδα θα ενημερωθεί μόλις επανέλθει η σύνδεση."
    )
    await page.goto(f"{server.base_url}/app/{app.key}/offline")
    await expect(page.get_by_test_id("offline-page")).to_contain_text("Χωρίς σύνδεση")
    await context.set_offline(False)
    assert errors == []
    await context.close()


async def test_the_manage_link_moves_and_cancels_a_booked_callback(
    browser: Browser, server: Running, world: World
) -> None:
    app = await make_app(server, world)
    async with server.client() as client:
        dmitri = await open_app(client, app.key)
        found = (await dmitri.get("/windows", params={"reason": "lost_card"})).json()
        booked = await dmitri.post(
            "/callbacks",
            {**LOST_CARD, "window_start": found[0]["start"], "phone": "+34 612 345 678"},
        )
        assert booked.status_code == 201, booked.text
    callback_id = booked.json()["id"]
    token = manage_token(server.ctx, callback_id)
    context, page, errors = await _browse(browser, locale="es-ES", zone="Europe/Madrid")
    await page.goto(f"{server.base_url}/callback/{token}")
    status = page.get_by_test_id("status")
    start = datetime.fromisoformat(found[0]["start"]).astimezone(ZoneInfo("Europe/Madrid"))
    await expect(status).to_contain_text("Le llamaremos al +3461234••78:")
    await expect(status).to_contain_text(f"{start:%H:%M}")
    await page.get_by_role("button", name="Cambiar la hora").click()
    other = page.locator(".windows button").nth(1)
    await expect(other).to_be_visible()
    target = await other.get_attribute("data-start")
    assert target is not None
    await other.click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Cambiada a")
    async with server.ctx.db.sessions() as session:
        row = await session.get_one(Callback, callback_id)
    assert row.window_start == datetime.fromisoformat(target)

    await page.get_by_role("button", name="Cancelar la llamada").click()
    await expect(page.get_by_text("¿Cancelar la llamada?")).to_be_visible()
    await page.get_by_role("button", name="Sí, cancelar").click()
    await expect(status).to_have_text("Su llamada se ha cancelado.")
    await expect(page.get_by_role("button", name="Cambiar la hora")).to_be_hidden()
    async with server.ctx.db.sessions() as session:
        row = await session.get_one(Callback, callback_id)
    assert row.status == "cancelled" and row.outcome == "cancelled by customer"

    response = await page.goto(f"{server.base_url}/callback/not-a-real-token")
    assert response is not None and response.status == 404
    await expect(page.get_by_test_id("missing")).to_have_text("Este enlace no es válido.")
    missing = await page.goto(f"{server.base_url}/app/no-such-app")
    assert missing is not None and missing.status == 404
    assert errors == []
    await context.close()


async def test_the_agent_sees_what_the_app_reached(
    browser: Browser, server: Running, world: World
) -> None:
    app = await make_app(server, world)
    await set_capacity(server, world.agents["rui"], chat=2, app=1)
    passkey = {"level": "verified", "method": "passkey", "at": ago(minutes=2)}
    async with server.client() as client:
        elena = await open_app(client, app.key, identity=signed("elena@example.com", passkey))
        started = await elena.post("/contacts", {"reason": "other", "answers": {}})
        assert started.status_code == 201, started.text
    context, page, errors = await _browse(browser, locale="en-GB")
    await sign_in(page, server.base_url, "rui@example.com")
    await page.get_by_label("Presence").select_option("available")
    offer = page.get_by_test_id("offer")
    await expect(offer).to_be_visible(timeout=10_000)
    await offer.get_by_role("button", name="Accept").click()
    timeline = page.get_by_test_id("timeline")
    await expect(timeline).to_contain_text("In the app: other · verified · passkey · 2 min ago")
    assert errors == []
    await context.close()
