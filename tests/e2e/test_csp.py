"""Every page works under its Content-Security-Policy (issue 8, items 3, 5 and 10), in a real
chromium: the desktop, the supervisor page, the widget on the demo site, the customer app
page and the API docs. Any CSP violation, script error or Alpine expression error fails
the test; the sockets are opened without a token in their URL; /docs and /redoc render
with every other host unreachable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, WebSocket, expect

from tests.conftest import Running, World, authed_socket, login
from tests.e2e.conftest import sign_in
from tests.fakes.http_server import serving
from tests.integration.test_app_api import LOST_CARD, make_app, open_app

pytestmark = pytest.mark.browser

WIDGET = "#threadline-widget"
# Registered before any page script: CDP injects it, so the page's CSP does not apply to it.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.reportViolation(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile || e.documentURI}:${e.lineNumber}`);
});
"""


@dataclass
class Watch:
    """What went wrong in a browser context: CSP violations, errors, socket URLs."""

    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    first_frames: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)
        page.on("websocket", self._socket)
        page.on("response", self._response)

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.request.method} {response.url}")

    def _console(self, message: Any) -> None:
        text = message.text
        if message.type == "error" or "Alpine" in text or "Content Security Policy" in text:
            self.errors.append(f"console.{message.type}: {text}")

    def _socket(self, ws: WebSocket) -> None:
        self.sockets.append(ws.url)
        if not ws.url.endswith("/ws"):
            return  # the desktop's stream: our page, authenticated by its cookie
        sent: list[str] = []

        def first(payload: Any) -> None:
            if not sent:
                sent.append(str(payload))
                self.first_frames.append(str(payload))

        ws.on("framesent", first)

    def assert_clean(self) -> None:
        assert self.violations == [], self.violations
        assert self.errors == [], (self.errors, self.failed)
        for url in self.sockets:
            assert "token" not in url, url
        for frame in self.first_frames:
            assert json.loads(frame)["type"] == "auth", frame


@pytest.fixture
async def watched(browser: Browser) -> AsyncIterator[tuple[BrowserContext, Watch]]:
    context = await browser.new_context(
        viewport={"width": 1300, "height": 860}, locale="en-GB", timezone_id="Europe/Lisbon"
    )
    watch = Watch()
    await context.expose_binding(
        "reportViolation", lambda _source, text: watch.violations.append(text)
    )
    await context.add_init_script(REPORT_VIOLATIONS)
    context.on("page", watch.attach)
    yield context, watch
    await context.close()


async def test_desktop_and_supervisor_run_under_the_csp(
    server: Running, world: World, watched: tuple[BrowserContext, Watch]
) -> None:
    context, watch = watched
    page = await context.new_page()
    await sign_in(page, server.base_url, "nikos@example.com")
    await expect(page.locator(".conn")).to_have_text("Live")
    async with page.expect_response("**/api/v1/agents/me/presence"):
        await page.get_by_label("Presence").select_option("available")

    async with server.client() as http:
        session = (await http.post(f"/api/v1/widget/{world.widget.key}/session", json={})).json()
    url = f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws"
    async with authed_socket(url, session["visitor_token"]) as visitor:
        await visitor.send(json.dumps({"type": "identify", "name": "Marta Silva"}))
        await visitor.send(json.dumps({"type": "message", "client_id": "m1", "text": "olá"}))
        offer = page.get_by_test_id("offer")
        await expect(offer).to_contain_text("Marta Silva", timeout=10_000)
        await offer.get_by_role("button", name="Accept").click()
        await expect(page.get_by_test_id("timeline")).to_contain_text("olá")
        await expect(page.get_by_test_id("profile")).to_contain_text("Marta Silva")
        draft = page.get_by_label("Reply", exact=True)
        await draft.fill("Olá Marta!")
        await draft.press("Enter")
        await expect(page.get_by_test_id("timeline").locator(".msg-out")).to_contain_text(
            "Olá Marta!"
        )

    await page.goto(f"{server.base_url}/supervisor")
    await expect(page.locator(".conn")).to_have_text("Live")
    await expect(page.get_by_test_id("queue-stats")).to_contain_text("General")
    watch.assert_clean()
    assert len(watch.sockets) == 2  # the desktop's and the supervisor's streams (cookie)


async def test_the_widget_runs_on_the_demo_site_under_the_csp(
    server: Running, world: World, watched: tuple[BrowserContext, Watch]
) -> None:
    context, watch = watched
    page = await context.new_page()
    await page.goto(f"{server.base_url}/demo-site?widget={world.widget.key}")
    await page.wait_for_function("() => window.Threadline && window.Threadline.ready === true")
    await page.wait_for_function("() => window.Threadline._debugState().connected")
    await page.locator(f"{WIDGET} .launcher").click()
    box = page.locator(f"{WIDGET} textarea")
    await box.fill("my card has not arrived")
    await box.press("Enter")
    await expect(page.locator(f"{WIDGET} li.me .status")).to_have_text("✓ Sent")
    # the demo page's own script (a file now) drives the widget's JavaScript API
    await page.get_by_role("button", name="Threadline.close()").click()
    await expect(page.locator("#demo-log")).to_contain_text("close")
    watch.assert_clean()
    assert watch.first_frames, "the widget opened no socket"


async def test_the_app_page_runs_under_the_csp(
    server: Running, world: World, watched: tuple[BrowserContext, Watch]
) -> None:
    app = await make_app(server, world)
    async with httpx.AsyncClient(base_url=server.base_url) as other:
        ahead = await open_app(other, app.key)
        await ahead.post("/contacts", LOST_CARD)
    context, watch = watched
    page = await context.new_page()
    await page.goto(f"{server.base_url}/app/{app.key}")
    await page.get_by_role("button", name="Lost or stolen card").click()
    await page.get_by_label("Which card?").select_option("debit")
    await page.get_by_label("When did you last see it?").fill("yesterday")
    await page.get_by_role("button", name="Talk to someone").click()
    await expect(page.get_by_test_id("wait")).to_contain_text("2nd in line")
    for _ in range(100):  # the contact's live socket opens once it is in line
        if watch.first_frames:
            break
        await asyncio.sleep(0.05)
    assert watch.first_frames, "the app page opened no socket"
    watch.assert_clean()


async def _offline(context: BrowserContext, server: Running, watch: Watch) -> None:
    """Every host but this server's is unreachable (as on a machine without internet)."""
    ours = urlsplit(server.base_url).netloc

    async def route(route: Route) -> None:
        if urlsplit(route.request.url).netloc == ours:
            await route.continue_()
        else:
            watch.foreign_requests.append(route.request.url)
            await route.abort()

    await context.route("**/*", route)


async def test_the_api_docs_render_offline_under_the_csp(
    server: Running, world: World, watched: tuple[BrowserContext, Watch]
) -> None:
    context, watch = watched
    await _offline(context, server, watch)
    page = await context.new_page()
    await page.goto(f"{server.base_url}/docs")
    operations = page.locator(".opblock")
    await expect(operations.first).to_be_visible(timeout=15_000)
    assert await operations.count() > 5
    await expect(page.locator(".information-container")).to_contain_text("Threadline")
    # Swagger UI renders a long document's operations as they scroll into view (it keeps
    # about a screenful in the page): scroll down to one far below, then try it out, a real
    # call from the page to the API, same origin
    session = page.locator("#operations-chat_widget-open_session_api_v1_widget__key__session_post")
    for _ in range(40):
        if await session.count():
            break
        await page.mouse.wheel(0, 600)
        await page.wait_for_timeout(100)
    await session.scroll_into_view_if_needed()
    await session.locator(".opblock-summary").click()
    await expect(session.locator(".opblock-body")).to_be_visible()

    await page.goto(f"{server.base_url}/redoc")
    await expect(page.locator("h1").first).to_contain_text("Threadline", timeout=30_000)
    await expect(page.get_by_text("Start or restore a visitor's chat").first).to_be_attached()
    assert watch.foreign_requests == []
    watch.assert_clean()


async def test_a_foreign_page_cannot_read_the_supervisor_stream(
    server: Running, world: World, watched: tuple[BrowserContext, Watch]
) -> None:
    """The attack of the issue, in a browser: a page on another port of this host opens the
    stream with the supervisor's cookie; the handshake is refused, and so is a write."""
    context, _watch = watched
    page = await context.new_page()
    await sign_in(page, server.base_url, "nikos@example.com")

    async def evil_page(scope: Any, receive: Any, send: Any) -> None:
        body = b"<!doctype html><title>evil</title>"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async with serving(evil_page) as evil:
        await page.goto(evil)
        outcome = await page.evaluate(
            """(url) => new Promise((resolve) => {
                const ws = new WebSocket(url);
                ws.onmessage = (m) => resolve("read: " + m.data);
                ws.onclose = (e) => resolve("closed " + e.code);
            })""",
            f"{server.ws_url}/api/v1/stream",
        )
        assert outcome == "closed 1006", outcome  # the handshake failed: nothing was read
        uploaded = await page.evaluate(
            """(url) => fetch(url, {method: "PUT", credentials: "include",
                headers: {"Content-Type": "text/plain"}, body: '{"presence": "away"}'})
                .then((r) => r.status, () => "blocked")""",
            f"{server.base_url}/api/v1/agents/me/presence",
        )
        assert uploaded in (403, "blocked"), uploaded
    admin = await login(server, "admin@example.com")
    agents = (await admin.get("/api/v1/agents")).json()
    await admin.aclose()
    assert next(a for a in agents if a["email"] == "nikos@example.com")["presence"] != "away"
