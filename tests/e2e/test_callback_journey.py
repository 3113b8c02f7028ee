"""Journey 2 end to end, across a restart: a customer waits in the chat widget, accepts
"call me back, keep my place" and closes the page; the server stops and a new one starts on
the same database; when an agent comes on, the kept place reaches them, the agent is
reserved and sees the thread, the callback goes out through the (fake) voice provider,
the customer answers and is connected; the timeline shows each step once. In real headless
chromium, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.conftest import PASSWORD, Running, eventually, make_world
from tests.e2e.test_widget_callback import WIDGET, _callbacks_on, _page, _write
from tests.fakes.http_server import free_port, serving
from tests.fakes.twilio import running_fake_twilio
from tests.integration.test_voice import voice_endpoint
from threadline.app import create_app
from threadline.callbacks.models import Callback
from threadline.channels.models import Endpoint
from threadline.config import Settings
from threadline.routing.models import Contact
from threadline.threads.models import ThreadEvent

pytestmark = pytest.mark.browser


async def test_a_kept_place_survives_a_restart_and_the_customer_is_called_back(
    browser: Browser, settings: Settings
) -> None:
    port = free_port()
    settings = settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"})
    async with running_fake_twilio() as twilio:
        # ---- the first server: the customer waits in the chat and keeps their place
        app = create_app(settings)
        async with serving(app, port=port, ws="websockets-sansio", lifespan="on") as base_url:
            first = Running(base_url, app.state.ctx)
            world = await make_world(first.ctx)
            async with first.ctx.uow() as uow:
                body = voice_endpoint(world, twilio)
                uow.session.add(
                    Endpoint(
                        org_id=world.org_id,
                        channel="voice",
                        key=body["key"],
                        name=body["name"],
                        queue_id=body["queue_id"],
                        secret=body["secret"],
                        settings=body["settings"],
                    )
                )
            await _callbacks_on(first, world)
            context, page, errors = await _page(browser, first, world)
            await _write(page, "Perdi o cartão")
            await page.locator(f"{WIDGET} .cb-keep").click()
            await page.locator(f"{WIDGET} .cb-form input[type=tel]").fill("+351 912 345 678")
            await page.locator(f"{WIDGET} .cb-submit").click()
            await expect(page.locator(f"{WIDGET} .cb-done")).to_contain_text("We'll call you")
            assert errors == []
            await context.close()  # the customer closes the page

        # ---- a new process on the same database: the place is still held
        app = create_app(settings)
        async with serving(app, port=port, ws="websockets-sansio", lifespan="on") as base_url:
            second = Running(base_url, app.state.ctx)
            async with second.ctx.db.sessions() as session:
                callback = await session.scalar(select(Callback))
            assert callback is not None and callback.status == "waiting"
            assert second.ctx.routing.router(world.org_id).waiting_contact(callback.contact_id)

            async with second.client() as rui:
                signed_in = await rui.post(
                    "/api/v1/auth/login", json={"email": "rui@example.com", "password": PASSWORD}
                )
                assert signed_in.status_code == 200, signed_in.text
                await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})

                async def offer() -> dict[str, object] | None:
                    offers = (await rui.get("/api/v1/offers")).json()
                    return offers[0] if offers else None

                offered = await eventually(offer)
                assert offered["contact_id"] == callback.contact_id
                # the agent sees the thread, with the chat, before the phone rings
                timeline = (await rui.get(f"/api/v1/threads/{callback.thread_id}/events")).json()
                assert any(e.get("body") == "Perdi o cartão" for e in timeline)
                accepted = await rui.post(f"/api/v1/offers/{offered['id']}/accept")
                assert accepted.status_code == 200, accepted.text

                async def ringing() -> object | None:
                    return next(iter(twilio.calls.values()), None)

                call = await eventually(ringing)
                assert call.to == "+351912345678"  # type: ignore[attr-defined]
                answered = await twilio.answer(call)  # type: ignore[arg-type]
                assert "<Dial" in answered.text and world.agents["rui"].id in answered.text
                await twilio.finish(call, "completed", duration_s=120)  # type: ignore[arg-type]

            async with second.ctx.db.sessions() as session:
                done = await session.get(Callback, callback.id)
                contact = await session.get(Contact, callback.contact_id)
                events = list(
                    await session.scalars(
                        select(ThreadEvent)
                        .where(ThreadEvent.thread_id == callback.thread_id)
                        .order_by(ThreadEvent.seq)
                    )
                )
    assert done is not None and done.status == "completed" and done.attempts == 1
    assert contact is not None and contact.status == "assigned"  # the agent wraps it up
    steps = [e.data["action"] for e in events if e.kind == "callback"]
    assert steps == ["requested", "dialing", "answered", "completed"]
    kinds = [e.kind for e in events]
    assert kinds.count("queued") == 1 and kinds.count("assigned") == 1
    assert [e.kind for e in events if e.kind == "call"] == ["call"]  # the call, once
