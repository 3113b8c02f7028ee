"""The embeddable chat widget in a real browser, against a real server (journey 1)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import func, select
from websockets.asyncio.client import connect

from tests.conftest import WIDGET_SECRET, Running, World, login
from tests.fakes.site_backend import site_hash
from threadline.auth.dependencies import SESSION_COOKIE
from threadline.routing.hours import DAYS
from threadline.routing.models import Queue
from threadline.threads.models import ThreadEvent

pytestmark = pytest.mark.browser

WIDGET = "#threadline-widget"  # Playwright's CSS engine pierces the open shadow root


async def _open_page(
    browser: Browser,
    server: Running,
    world: World,
    locale: str = "en-GB",
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(locale=locale, viewport={"width": 1200, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{server.base_url}/demo-site?widget={world.widget.key}")
    await page.wait_for_function("() => window.Threadline && window.Threadline.ready === true")
    await page.wait_for_function("() => window.Threadline._debugState().connected")
    assert errors == []
    return context, page


@pytest.fixture
async def rui(server: Running, world: World) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(server, "rui@example.com")
    response = await client.put("/api/v1/agents/me/presence", json={"presence": "available"})
    assert response.status_code == 200, response.text
    yield client
    await client.aclose()


async def _accept_offer(agent: httpx.AsyncClient) -> str:
    """Wait for the routing offer and take it; returns the thread id."""
    for _ in range(100):
        offers = (await agent.get("/api/v1/offers")).json()
        if offers:
            response = await agent.post(f"/api/v1/offers/{offers[0]['id']}/accept")
            assert response.status_code == 200, response.text
            return str(response.json()["thread_id"])
        await asyncio.sleep(0.1)
    raise AssertionError("no offer reached the agent")


async def _stored(server: Running, **where: Any) -> int:
    """How many timeline entries the database holds with these fields."""
    async with server.ctx.db.sessions() as session:
        query = select(func.count()).select_from(ThreadEvent).filter_by(**where)
        return int(await session.scalar(query) or 0)


async def _agent_typing(
    server: Running, agent: httpx.AsyncClient, thread_id: str, on: bool
) -> None:
    """What the desktop does: a typing frame on the agent's event stream."""
    cookie = agent.cookies[SESSION_COOKIE]
    async with connect(
        f"{server.ws_url}/api/v1/stream",
        additional_headers={"Cookie": f"{SESSION_COOKIE}={cookie}"},
    ) as ws:
        json.loads(await ws.recv())  # hello
        await ws.send(json.dumps({"type": "typing", "thread_id": thread_id, "on": on}))
        await asyncio.sleep(0.2)


async def test_visitor_chats_with_an_agent_in_portuguese_and_keeps_it_after_reload(
    browser: Browser, server: Running, world: World, rui: httpx.AsyncClient
) -> None:
    context, page = await _open_page(browser, server, world, locale="pt-PT")
    launcher = page.locator(f"{WIDGET} .launcher")
    await expect(launcher).to_have_attribute("aria-label", "Chat")
    await launcher.click()
    box = page.locator(f"{WIDGET} textarea")
    await expect(box).to_be_focused()
    await expect(box).to_have_attribute("placeholder", "Escreva a sua mensagem…")
    await expect(page.locator(f"{WIDGET} h2")).to_have_text("Fale connosco")

    await box.fill("o meu cartão não chegou")
    await box.press("Enter")
    mine = page.locator(f"{WIDGET} li.me")
    await expect(mine).to_have_count(1)
    await expect(mine.locator(".status")).to_have_text("✓ Enviada")
    await expect(page.locator(f"{WIDGET} .waiting")).to_be_visible()

    thread_id = await _accept_offer(rui)
    await expect(page.locator(f"{WIDGET} li.system")).to_have_text("Rui entrou na conversa")
    await expect(page.locator(f"{WIDGET} .waiting")).to_be_hidden()

    await _agent_typing(server, rui, thread_id, True)
    await expect(page.locator(f"{WIDGET} .typing")).to_have_text("Rui está a escrever…")
    response = await rui.post(
        f"/api/v1/threads/{thread_id}/messages",
        json={"body": "Olá Marta! Vou verificar o envio do cartão."},
    )
    assert response.status_code == 201, response.text
    reply = page.locator(f"{WIDGET} li.them").last
    await expect(reply.locator(".bubble")).to_have_text(
        "Olá Marta! Vou verificar o envio do cartão."
    )
    await expect(reply.locator(".author")).to_have_text("Rui")
    await expect(page.locator(f"{WIDGET} .typing")).to_have_text("")

    # the panel is open and visible: the widget tells the server the reply was read
    reply_seq = int(await reply.get_attribute("data-seq") or 0)
    for _ in range(50):
        thread = (await rui.get(f"/api/v1/threads/{thread_id}")).json()
        if thread["customer_read_seq"] >= reply_seq:
            break
        await asyncio.sleep(0.1)
    assert thread["customer_read_seq"] >= reply_seq

    # the agent answered after the visitor's message: it was read
    await expect(mine.locator(".status")).to_have_text("✓✓ Lida")
    # and an agent's read receipt shows on the visitor's next message
    await box.fill("obrigada")
    await box.press("Enter")
    await expect(mine.last.locator(".status")).to_have_text("✓ Enviada")
    last_seq = int(await mine.last.get_attribute("data-seq") or 0)
    await rui.post(f"/api/v1/threads/{thread_id}/read", json={"seq": last_seq})
    await expect(mine.last.locator(".status")).to_have_text("✓✓ Lida")
    await page.screenshot(path="/tmp/widget.png")  # noqa: S108 - a fixed path to look at by hand

    await page.reload()
    await page.wait_for_function("() => window.Threadline && window.Threadline.ready === true")
    await expect(page.locator(f"{WIDGET} li.me .bubble")).to_have_text(
        ["o meu cartão não chegou", "obrigada"]
    )
    await expect(page.locator(f"{WIDGET} li.system")).to_have_text("Rui entrou na conversa")
    await expect(page.locator(f"{WIDGET} li.them .bubble").last).to_have_text(
        "Olá Marta! Vou verificar o envio do cartão."
    )
    await expect(page.locator(f"{WIDGET} li.me .status")).to_have_text(["✓✓ Lida", "✓✓ Lida"])

    # Escape closes and gives focus back to the launcher
    await page.locator(f"{WIDGET} textarea").focus()
    await page.keyboard.press("Escape")
    await expect(page.locator(f"{WIDGET} .panel")).to_be_hidden()
    await expect(launcher).to_be_focused()
    await context.close()


async def test_javascript_api_send_on_message_and_identify(
    browser: Browser, server: Running, world: World, rui: httpx.AsyncClient
) -> None:
    context, page = await _open_page(browser, server, world)
    await page.evaluate("""() => {
        window.seen = [];
        Threadline.on('message', m => window.seen.push(m.body));
        Threadline.on('agent_joined', a => window.seen.push('joined:' + a.name));
    }""")
    ack = await page.evaluate("Threadline.send('Hello from the API')")
    assert ack["seq"] >= 1
    assert await _stored(server, body="Hello from the API", client_msg_id=ack["client_id"]) == 1
    assert await _stored(server, body="Hello from the API") == 1

    thread_id = await _accept_offer(rui)
    await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "How can I help?"})
    await page.wait_for_function("() => window.seen.includes('How can I help?')")
    assert await page.evaluate("window.seen") == ["joined:Rui", "How can I help?"]

    # a verified identity merges the visitor into the customer the bank already knows
    known = await rui.post(
        "/api/v1/customers", json={"name": "Marta Silva", "email": "marta@example.com"}
    )
    assert known.status_code == 201, known.text
    good = site_hash(WIDGET_SECRET, name="Marta", email="marta@example.com")
    result = await page.evaluate(
        "h => Threadline.identify({name: 'Marta', email: 'marta@example.com', hash: h})", good
    )
    assert result["customer_id"] == known.json()["id"]
    await page.evaluate("Threadline.send('After identify')")
    timeline = (await rui.get(f"/api/v1/customers/{known.json()['id']}/timeline")).json()
    bodies = [event["body"] for event in timeline]
    assert "Hello from the API" in bodies
    assert "After identify" in bodies
    await expect(page.locator(f"{WIDGET} li.me .bubble")).to_have_count(2)

    # a wrong hash is refused: another visitor cannot take over a known customer
    other = await rui.post(
        "/api/v1/customers", json={"name": "Joana", "email": "joana@example.com"}
    )
    context2, page2 = await _open_page(browser, server, world)
    await page2.evaluate("Threadline.send('I am someone else')")
    refused = await page2.evaluate(
        "() => Threadline.identify({name: 'Joana', email: 'joana@example.com', hash: 'bad'})"
        ".then(() => 'accepted', (e) => e.message)"
    )
    assert "signature" in refused
    timeline = (await rui.get(f"/api/v1/customers/{other.json()['id']}/timeline")).json()
    assert all(event["body"] != "I am someone else" for event in timeline)
    await context2.close()
    await context.close()


async def test_calls_before_the_script_loads_are_replayed(
    browser: Browser, server: Running, world: World
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    # what a host page does before widget.js has arrived: the stub only queues
    await page.add_init_script("""
        window.Threadline = {q: []};
        ['open', 'send', 'on'].forEach(n => window.Threadline[n] = (...a) =>
            new Promise((res, rej) => window.Threadline.q.push([n, a, res, rej])));
        window.events = [];
        window.Threadline.on('ready', () => window.events.push('ready'));
        window.Threadline.open();
        window.acked = window.Threadline.send('queued before load').then(ack => ack.seq);
        window.addEventListener('threadline:ready', () => window.events.push('dom-ready'));
    """)
    await page.goto(f"{server.base_url}/demo-site?widget={world.widget.key}")
    assert await page.evaluate("window.acked") >= 1
    assert await page.evaluate("window.events") == ["ready", "dom-ready"]
    await expect(page.locator(f"{WIDGET} .panel")).to_be_visible()
    assert await _stored(server, body="queued before load") == 1
    await context.close()


async def test_outbox_survives_offline_reconnects_and_never_duplicates(
    browser: Browser, server: Running, world: World
) -> None:
    context, page = await _open_page(browser, server, world)
    await page.evaluate("Threadline.open()")
    await page.evaluate("Threadline.send('first')")

    # the network goes away: the socket drops, typing still works, the message waits
    await context.set_offline(True)
    await page.evaluate("Threadline._debugDisconnect()")
    await page.wait_for_function("() => !Threadline._debugState().connected")
    box = page.locator(f"{WIDGET} textarea")
    await box.fill("written while offline")
    await box.press("Enter")
    pending = page.locator(f"{WIDGET} li.me").last
    await expect(pending.locator(".status")).to_have_text("◷ Sending…")
    await expect(page.locator(f"{WIDGET} .banner")).to_be_visible()
    await page.wait_for_timeout(1500)  # several reconnect attempts fail meanwhile
    assert await _stored(server, body="written while offline") == 0
    outbox = await page.evaluate("Threadline._debugState().outbox")
    assert [item["text"] for item in outbox] == ["written while offline"]

    # back online: the outbox is sent once the socket is back
    await context.set_offline(False)
    await expect(pending.locator(".status")).to_have_text("✓ Sent")
    assert await page.evaluate("Threadline._debugState().outbox") == []
    assert await _stored(server, body="written while offline") == 1
    client_id = await pending.get_attribute("data-client-id")

    # an ack lost on the way: the same queued message is sent again after a reconnect
    # (and again after a page reload) - the server keeps one, the widget shows one
    await page.evaluate("Threadline._debugDisconnect({hold: true})")
    key = f"threadline:{world.widget.key}:outbox"
    item = json.dumps([{"client_id": client_id, "text": "written while offline", "ts": 0}])
    await page.evaluate("([k, v]) => localStorage.setItem(k, v)", [key, item])
    await page.reload()
    await page.wait_for_function("() => window.Threadline && window.Threadline.ready === true")
    await page.wait_for_function("() => Threadline._debugState().outbox.length === 0")
    await page.evaluate("([k, v]) => localStorage.setItem(k, v)", [key, item])
    await page.reload()
    await page.wait_for_function("() => window.Threadline && window.Threadline.ready === true")
    await page.wait_for_function("() => Threadline._debugState().outbox.length === 0")
    assert await _stored(server, client_msg_id=client_id) == 1
    texts = await page.locator(f"{WIDGET} li.me .bubble").all_text_contents()
    assert texts == ["first", "written while offline"]

    # a reconnect resumes: what the visitor missed while the socket was down arrives once
    await page.evaluate("Threadline._debugDisconnect({hold: true})")
    sent = page.evaluate("Threadline.send('sent during a reconnect')")
    await page.evaluate("Threadline._debugReconnect()")
    await sent
    assert await _stored(server, body="sent during a reconnect") == 1
    await expect(page.locator(f"{WIDGET} li.me .bubble")).to_have_count(3)
    await context.close()


@contextlib.asynccontextmanager
async def _static_site(html: str) -> AsyncIterator[str]:
    """A bare HTTP server on another port: the bank's own site, another origin."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = html.encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    site = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = site.sockets[0].getsockname()[1]
    async with site:
        yield f"http://127.0.0.1:{port}/"


async def test_embeds_on_another_site_with_one_async_script_tag(
    browser: Browser, server: Running, world: World
) -> None:
    """The real case: the bank's own site, another origin, with only the script tag."""
    context = await browser.new_context(locale="es-ES")
    page = await context.new_page()
    html = (
        f"<!doctype html><html><head><title>Banco</title></head><body><h1>Banco</h1>"
        f'<script src="{server.base_url}/widget.js" data-widget="{world.widget.key}" async>'
        f"</script></body></html>"
    )
    async with _static_site(html) as site:
        await page.goto(site)
        await page.wait_for_function("() => window.Threadline && window.Threadline.ready === true")
        await page.locator(f"{WIDGET} .launcher").click()
        await expect(page.locator(f"{WIDGET} h2")).to_have_text("Chatea con nosotros")
        ack = await page.evaluate("Threadline.send('hola desde otro sitio')")
    assert ack["seq"] >= 1
    assert await _stored(server, body="hola desde otro sitio") == 1
    await context.close()


async def test_outside_business_hours_the_widget_says_when_agents_are_back(
    browser: Browser, server: Running, world: World
) -> None:
    today = datetime.now(UTC).date()
    closed = [str(today + timedelta(days=d)) for d in (-1, 0, 1)]
    async with server.ctx.uow() as uow:
        queue = await uow.session.get(Queue, world.widget.queue_id)
        assert queue is not None
        queue.business_hours = {
            "timezone": "UTC",
            "closed_dates": closed,
            "days": {day: [["09:00", "18:00"]] for day in DAYS},
        }
    context, page = await _open_page(browser, server, world)
    await page.evaluate("Threadline.open()")
    notice = page.locator(f"{WIDGET} .waiting")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("We're away right now — back ")
    await expect(notice).to_contain_text("09:00")
    await context.close()
