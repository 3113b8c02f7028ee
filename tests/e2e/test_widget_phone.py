"""The chat widget on a phone and on a desktop, in a real browser against a real server: the
visitor opens it, writes, taps Send (the message reaches the server and the chat stays
open), and books a callback time; nothing the visitor must tap is covered by anything else,
and the inputs are large enough that iOS does not zoom into them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect
from sqlalchemy import select, update

from tests.conftest import CALLBACK_POLICY, Running, World, eventually
from threadline.callbacks.models import Callback
from threadline.routing.models import Queue
from threadline.threads.models import ThreadEvent

pytestmark = pytest.mark.browser

WIDGET = "#threadline-widget"  # Playwright's CSS engine pierces the open shadow root


@dataclass(frozen=True)
class Device:
    name: str
    options: dict[str, Any]
    phone: bool


PHONE = Device(
    "phone",
    {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 3,
        "is_mobile": True,
        "has_touch": True,
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    },
    phone=True,
)
DESKTOP = Device("desktop", {"viewport": {"width": 1280, "height": 800}}, phone=False)

# What a finger lands on is what it should: the element at a control's centre (inside the
# widget's shadow root) is the control or something inside it.
_HIT = """(selector) => {
  const root = document.querySelector('#threadline-widget').shadowRoot;
  const target = root.querySelector(selector);
  const box = target.getBoundingClientRect();
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  const hit = root.elementFromPoint(x, y);
  return {inside: x >= 0 && y >= 0 && x <= innerWidth && y <= innerHeight,
          hit: !!hit && (hit === target || target.contains(hit)),
          what: hit ? hit.outerHTML.slice(0, 80) : null};
}"""


async def _uncovered(page: Page, selector: str) -> None:
    found = await page.evaluate(_HIT, selector)
    assert found["inside"] and found["hit"], (selector, found)


async def _tap(page: Page, device: Device, target: Locator) -> None:
    if device.phone:
        await target.tap()
    else:
        await target.click()


async def _page(
    browser: Browser, server: Running, world: World, device: Device
) -> tuple[BrowserContext, Page, list[str]]:
    context = await browser.new_context(
        locale="en-GB", timezone_id="Europe/Lisbon", **device.options
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{server.base_url}/demo-site?widget={world.widget.key}")
    await _until(page, "!!window.Threadline && window.Threadline.ready === true")
    await _until(page, "window.Threadline._debugState().connected")
    return context, page, errors


async def _until(page: Page, expression: str, timeout_s: float = 10) -> None:
    """Poll an expression (page.wait_for_function evaluates strings, which the pages' CSP
    forbids)."""
    for _ in range(int(timeout_s / 0.05)):
        if await page.evaluate(expression):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {expression}")


async def _messages(server: Running, body: str) -> list[ThreadEvent] | None:
    async with server.ctx.db.sessions() as session:
        found = list(await session.scalars(select(ThreadEvent).where(ThreadEvent.body == body)))
    return found or None


@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=lambda d: d.name)
async def test_write_send_and_book_a_time(
    browser: Browser, server: Running, world: World, device: Device
) -> None:
    async with server.ctx.uow() as uow:
        await uow.session.execute(
            update(Queue)
            .where(Queue.id == world.queues["general"].id)
            .values(callback_policy=CALLBACK_POLICY)
        )
    context, page, errors = await _page(browser, server, world, device)
    launcher = page.locator(f"{WIDGET} .launcher")
    await _tap(page, device, launcher)
    panel = page.locator(f"{WIDGET} .panel")
    await expect(panel).to_be_visible()
    box = await panel.bounding_box()
    assert box is not None
    if device.phone:  # the whole screen, its own close button, no launcher over it
        assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)
        await expect(launcher).to_be_hidden()
        await expect(page.locator(f"{WIDGET} header .x")).to_be_visible()
    else:  # unchanged: a 370 x 560 panel above the launcher
        assert (box["width"], box["height"]) == (370, 560)
        await expect(launcher).to_be_visible()

    text = f"Hello from a {device.name}"
    box_input = page.locator(f"{WIDGET} textarea")
    await _tap(page, device, box_input)
    await box_input.fill(text)
    for control in ("textarea", ".send", "header .x"):
        await _uncovered(page, control)
    sizes = await page.evaluate(
        """() => [...document.querySelector('#threadline-widget').shadowRoot
                 .querySelectorAll('textarea, input')]
                 .map(e => parseFloat(getComputedStyle(e).fontSize))"""
    )
    if device.phone:
        assert min(sizes) >= 16, sizes  # iOS zooms into anything smaller
    await page.screenshot(path=f"/tmp/widget-{device.name}-compose.png")  # noqa: S108 - to look at
    await _tap(page, device, page.locator(f"{WIDGET} .send"))
    await expect(page.locator(f"{WIDGET} li.me .status")).to_have_text("✓ Sent")
    await eventually(lambda: _messages(server, text))  # it reached the server
    await expect(panel).to_be_visible()  # and the chat stayed open
    assert await page.evaluate("window.Threadline.isOpen") is True

    # nobody is available: the wait has no top, so nobody promises "shortly"
    await expect(page.locator(f"{WIDGET} .wait-line")).to_contain_text("more than 30 min")
    await expect(page.locator(f"{WIDGET} .waiting")).to_have_text("You're in the queue.")

    book = page.locator(f"{WIDGET} .cb-book")
    await expect(book).to_be_visible()
    await _uncovered(page, ".cb-book")
    await _tap(page, device, book)
    windows = page.locator(f"{WIDGET} .windows button")
    await expect(windows.first).to_be_visible()
    phone = page.locator(f"{WIDGET} .cb-form input[type=tel]")
    await phone.fill("+351 912 345 678")
    form = await page.locator(f"{WIDGET} .cb-form").bounding_box()
    field = await phone.bounding_box()
    first = await windows.first.bounding_box()
    assert form is not None and field is not None and first is not None
    # stacked: the number above the times, each as wide as the form (not squeezed in a row)
    assert field["y"] + field["height"] <= first["y"]
    assert field["width"] >= form["width"] - 40 and first["width"] >= form["width"] - 40
    if device.phone:
        assert first["height"] >= 40  # a finger's size
    await page.screenshot(path=f"/tmp/widget-{device.name}-book.png")  # noqa: S108 - to look at
    await windows.first.scroll_into_view_if_needed()
    await _uncovered(page, ".windows button")
    start = await windows.first.get_attribute("data-start")
    await _tap(page, device, windows.first)
    done = page.locator(f"{WIDGET} .cb-done")
    await expect(done).to_contain_text("We'll call you at +35191234••78 on")
    await expect(page.locator(f"{WIDGET} .waiting")).to_be_hidden()  # not in the queue now
    await page.screenshot(path=f"/tmp/widget-{device.name}-booked.png")  # noqa: S108 - to look at

    async with server.ctx.db.sessions() as session:
        callback = await session.scalar(select(Callback))
    assert callback is not None and callback.kind == "booked"
    assert callback.window_start.isoformat().startswith((start or "")[:16])
    await expect(panel).to_be_visible()

    # the close button closes it; on a phone the launcher is back
    await _tap(page, device, page.locator(f"{WIDGET} header .x"))
    await expect(panel).to_be_hidden()
    await expect(launcher).to_be_visible()
    await _uncovered(page, ".launcher")
    assert errors == []
    await context.close()


# Every visible control of a page: at least a finger's height, at its centre nothing else.
_CONTROLS = """() => [...document.querySelectorAll('button, a.button, input, select')]
  .filter(e => e.offsetParent !== null)
  .map(e => {
    const box = e.getBoundingClientRect();
    e.scrollIntoView({block: 'center'});
    const now = e.getBoundingClientRect();
    const hit = document.elementFromPoint(now.left + now.width / 2, now.top + now.height / 2);
    return {what: e.outerHTML.slice(0, 60), height: box.height, width: box.width,
            covered: !(hit === e || e.contains(hit)),
            font: parseFloat(getComputedStyle(e).fontSize)};
  })"""


async def _fits_a_phone(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways: {width}px"
    controls = await page.evaluate(_CONTROLS)
    assert controls
    for control in controls:
        assert not control["covered"], control
        assert control["height"] >= 44, control
        assert control["font"] >= 16, control
    await page.evaluate("window.scrollTo(0, 0)")


async def test_the_app_page_and_the_manage_page_on_a_phone(
    browser: Browser, server: Running, world: World
) -> None:
    from tests.integration.test_app_api import make_app

    app = await make_app(server, world)
    context = await browser.new_context(
        locale="en-GB", timezone_id="Europe/Lisbon", **PHONE.options
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{server.base_url}/app/{app.key}")
    await page.get_by_role("button", name="Lost or stolen card").tap()
    await _fits_a_phone(page)
    await page.get_by_role("button", name="Talk to someone").tap()
    await expect(page.get_by_test_id("wait")).to_contain_text("You are 1st in line")
    await page.get_by_role("button", name="Book a time").tap()
    slots = page.locator(".windows button")
    await expect(slots.first).to_be_visible()
    await page.get_by_label("Your phone number").fill("+351 912 345 678")
    await page.evaluate("window.ThreadlineApp.redraw()")  # as a live wait update does
    await expect(page.get_by_label("Your phone number")).to_have_value("+351 912 345 678")
    await _fits_a_phone(page)
    await page.screenshot(path="/tmp/app-phone-book.png", full_page=True)  # noqa: S108
    await slots.first.tap()
    await expect(page.get_by_test_id("callback")).to_contain_text("We'll call you at")
    await _fits_a_phone(page)

    async with server.ctx.db.sessions() as session:
        callback = await session.scalar(select(Callback))
    assert callback is not None
    from threadline.callbacks.tokens import manage_token

    await page.goto(f"{server.base_url}/callback/{manage_token(server.ctx, callback.id)}")
    await expect(page.get_by_test_id("status")).to_contain_text("We'll call you at")
    await _fits_a_phone(page)
    await page.get_by_role("button", name="Change the time").tap()
    other = page.locator(".windows button").nth(1)
    await expect(other).to_be_visible()
    await _fits_a_phone(page)
    await page.screenshot(path="/tmp/manage-phone.png", full_page=True)  # noqa: S108
    await other.tap()
    await expect(page.get_by_test_id("notice")).to_contain_text("Moved to")
    assert errors == []
    await context.close()
