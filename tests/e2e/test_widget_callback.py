"""The chat widget's live wait and callback offer in a real browser, against a real server
(journey 2 in the chat): the visitor sees their place and the wait as a range, updated
live, keeps their place with a callback or books a time shown in their own time zone, and a
reload keeps it all."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select, update

from tests.conftest import Running, World, eventually, login, set_capacity
from tests.integration.test_callbacks import POLICY
from tests.integration.test_routing_flow import visitor_writes
from threadline.callbacks.models import Callback
from threadline.customers.models import Customer
from threadline.routing.models import Contact, Queue

pytestmark = pytest.mark.browser

WIDGET = "#threadline-widget"


async def _page(
    browser: Browser, server: Running, world: World, zone: str = "Europe/Lisbon"
) -> tuple[BrowserContext, Page, list[str]]:
    context = await browser.new_context(
        locale="en-GB", timezone_id=zone, viewport={"width": 1200, "height": 900}
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{server.base_url}/demo-site?widget={world.widget.key}")
    await page.wait_for_function("() => window.Threadline && window.Threadline.ready === true")
    await page.wait_for_function("() => window.Threadline._debugState().connected")
    return context, page, errors


async def _callbacks_on(server: Running, world: World) -> None:
    async with server.ctx.uow() as uow:
        await uow.session.execute(
            update(Queue)
            .where(Queue.id == world.queues["general"].id)
            .values(callback_policy=POLICY)
        )


async def _write(page: Page, text: str) -> None:
    await page.locator(f"{WIDGET} .launcher").click()
    box = page.locator(f"{WIDGET} textarea")
    await box.fill(text)
    await box.press("Enter")
    await expect(page.locator(f"{WIDGET} li.me .status")).to_have_text("✓ Sent")


async def test_a_waiting_visitor_keeps_their_place_with_a_callback(
    browser: Browser, server: Running, world: World
) -> None:
    await _callbacks_on(server, world)
    ahead = await visitor_writes(server.ctx, world, "v-ahead", "my card did not arrive")
    context, page, errors = await _page(browser, server, world)
    await _write(page, "I lost my card")
    line = page.locator(f"{WIDGET} .wait-line")
    # nobody is on: the place, and a wait with no top
    await expect(line).to_have_text("You are 2nd in line · more than 30 min")
    await expect(page.locator(f"{WIDGET} .cb-keep")).to_have_text("Call me back, keep my place")
    await expect(page.locator(f"{WIDGET} .cb-book")).to_be_visible()

    # an agent comes on and takes the one ahead: the place and the range move, pushed
    rui = await login(server, "rui@example.com")
    await set_capacity(server, world.agents["rui"], chat=1)  # no calls: the kept place waits
    available = await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    assert available.status_code == 200, available.text
    await expect(line).to_have_text(
        re.compile(r"^You are 1st in line · (about \d+–\d+|less than \d+) min$")
    )
    async with server.ctx.db.sessions() as session:
        first = await session.scalar(select(Contact).where(Contact.thread_id == ahead))
    assert first is not None and first.status == "offered"

    await page.locator(f"{WIDGET} .cb-keep").click()
    phone = page.locator(f"{WIDGET} .cb-form input[type=tel]")
    await expect(phone).to_be_focused()
    await phone.fill("+351 912 345 678")
    await page.locator(f"{WIDGET} .cb-submit").click()
    done = page.locator(f"{WIDGET} .cb-done")
    await expect(done).to_have_text("We'll call you at +35191234••78 when it's your turn.")
    await expect(page.locator(f"{WIDGET} .cb-offer")).to_be_hidden()
    await expect(line).to_contain_text("You are 1st in line")
    await page.screenshot(path="/tmp/widget-callback.png")  # noqa: S108 - to look at by hand

    async def kept() -> Callback | None:
        async with server.ctx.db.sessions() as session:
            return await session.scalar(select(Callback))

    callback = await eventually(kept)
    assert callback.kind == "keep_place" and callback.status == "waiting"
    assert callback.phone == "+351912345678"
    async with server.ctx.db.sessions() as session:
        customer = await session.get_one(Customer, callback.customer_id)
    assert customer.timezone == "Europe/Lisbon"  # from the browser, for the texts we send

    await page.reload()
    await page.wait_for_function("() => window.Threadline && window.Threadline.ready === true")
    await expect(done).to_have_text("We'll call you at +35191234••78 when it's your turn.")
    await expect(page.locator(f"{WIDGET} .cb-offer")).to_be_hidden()
    assert errors == []
    await rui.aclose()
    await context.close()


async def test_a_visitor_books_a_time_shown_in_their_own_time_zone(
    browser: Browser, server: Running, world: World
) -> None:
    await _callbacks_on(server, world)
    context, page, errors = await _page(browser, server, world, zone="Asia/Tokyo")
    await _write(page, "Please call me tomorrow")
    await page.locator(f"{WIDGET} .cb-book").click()
    windows = page.locator(f"{WIDGET} .windows button")
    await expect(windows.first).to_be_visible()
    start = await windows.first.get_attribute("data-start")
    assert start is not None
    local = datetime.fromisoformat(start).astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"{local:%H:%M}" in (await windows.first.inner_text())  # Tokyo time, not UTC
    await page.locator(f"{WIDGET} .cb-form input[type=tel]").fill("+81 90 1234 5678")
    await windows.first.click()
    done = page.locator(f"{WIDGET} .cb-done")
    await expect(done).to_contain_text("We'll call you at +81901234••78 on")
    await expect(done).to_contain_text(f"{local:%H:%M}")
    await expect(page.locator(f"{WIDGET} .wait-line")).to_be_hidden()  # not waiting any more
    async with server.ctx.db.sessions() as session:
        callback = await session.scalar(select(Callback))
        contact = await session.scalar(select(Contact))
    assert callback is not None and callback.kind == "booked"
    assert callback.window_start == datetime.fromisoformat(start)
    assert contact is not None and contact.status == "abandoned"

    await page.reload()
    await page.wait_for_function("() => window.Threadline && window.Threadline.ready === true")
    await expect(done).to_contain_text(f"{local:%H:%M}")
    # a second booking while one is kept is refused by the server with its reason, shown
    refused = await page.evaluate(
        """async (start) => {
            const r = await fetch('/api/v1/widget/' + document.querySelector('script[data-widget]')
              .getAttribute('data-widget') + '/callback', {method: 'POST',
              headers: {'Content-Type': 'application/json',
                        Authorization: 'Bearer ' + Threadline._debugState().token},
              body: JSON.stringify({phone: '+81 90 1234 5678'})});
            return [r.status, (await r.json()).message];
        }""",
        start,
    )
    assert refused == [409, "you are not waiting for an agent"]
    assert errors == []
    await context.close()
