"""Wrap-up on the agent desktop in real headless chromium: after resolving a contact of a
queue with after-contact work the agent sees the wrap-up bar, gets no offer, and the next
offer comes when they press Done."""

from __future__ import annotations

import json
import re

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import update

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from tests.e2e.test_admin_queues import _admin
from tests.e2e.test_desktop import _page, _visitor
from threadline.agents.models import Agent
from threadline.routing.models import Queue

pytestmark = pytest.mark.browser


async def test_the_next_offer_waits_for_done(
    server: Running, world: World, browser: Browser
) -> None:
    async with server.ctx.uow() as uow:
        await uow.session.execute(
            update(Queue).where(Queue.org_id == world.org_id).values(wrapup_s=600)
        )
        await uow.session.execute(
            update(Agent).where(Agent.id == world.agents["rui"].id).values(capacity={"chat": 1})
        )
    context, page, errors = await _page(browser)
    await sign_in(page, server.base_url, "rui@example.com")
    await expect(page.locator(".conn")).to_have_text("Live")
    async with page.expect_response("**/api/v1/agents/me/presence"):
        await page.get_by_label("Presence").select_option("available")

    offer = page.get_by_test_id("offer")
    bar = page.get_by_test_id("wrapup")
    async with _visitor(server, world, "Marta Silva") as first:
        await first.send(json.dumps({"type": "message", "client_id": "m-1", "text": "olá"}))
        await expect(offer).to_be_visible(timeout=10_000)
        await offer.get_by_role("button", name="Accept").click()
        await expect(page.get_by_test_id("thread-item")).to_have_count(1)
        await expect(bar).to_be_hidden()

        await page.get_by_role("button", name="Resolve").click()
        dialog = page.get_by_role("dialog", name="Resolve conversation")
        await dialog.get_by_role("button", name="card_arrival").click()
        await dialog.get_by_role("button", name="Resolve").click()
        await expect(dialog).to_be_hidden()
        await expect(bar).to_be_visible()
        await expect(bar).to_contain_text("press Done")
        # the limit comes with agent.wrapup_started over the stream: a countdown from 10 min
        await expect(page.get_by_test_id("wrapup-left")).to_have_text(re.compile(r"left$"))

        async with _visitor(server, world, "Ivo Sousa") as second:
            await second.send(json.dumps({"type": "message", "client_id": "i-1", "text": "oi"}))
            await page.wait_for_timeout(1500)
            await expect(offer).to_have_count(0)  # in wrap-up: no offer on the chat slot

            await page.get_by_test_id("wrapup-done").click()
            await expect(bar).to_be_hidden()
            await expect(offer).to_be_visible(timeout=10_000)
            await expect(offer).to_contain_text("Ivo Sousa")
    assert errors == []
    await context.close()


async def test_the_wrap_up_bar_survives_a_reload(
    server: Running, world: World, browser: Browser
) -> None:
    async with server.ctx.uow() as uow:
        await uow.session.execute(
            update(Queue).where(Queue.org_id == world.org_id).values(wrapup_s=600)
        )
    context, page, errors = await _page(browser)
    await sign_in(page, server.base_url, "rui@example.com")
    await expect(page.locator(".conn")).to_have_text("Live")
    async with page.expect_response("**/api/v1/agents/me/presence"):
        await page.get_by_label("Presence").select_option("available")
    offer = page.get_by_test_id("offer")
    bar = page.get_by_test_id("wrapup")
    left = page.get_by_test_id("wrapup-left")
    async with _visitor(server, world, "Marta Silva") as visitor:
        await visitor.send(json.dumps({"type": "message", "client_id": "m-1", "text": "olá"}))
        await expect(offer).to_be_visible(timeout=10_000)
        await offer.get_by_role("button", name="Accept").click()
        await page.get_by_role("button", name="Resolve").click()
        dialog = page.get_by_role("dialog", name="Resolve conversation")
        await dialog.get_by_role("button", name="billing").click()
        await dialog.get_by_role("button", name="Resolve").click()
        await expect(bar).to_be_visible()

        await page.reload()
        await expect(page.locator(".conn")).to_have_text("Live")
        await expect(bar).to_be_visible()  # still in wrap-up: the bar is back, with its time
        await expect(left).to_have_text(re.compile(r"^(10:00|9:[0-5]\d) left$"))
        first = await left.text_content()
        await page.wait_for_timeout(2100)
        assert await left.text_content() != first  # counting down

        await page.get_by_test_id("wrapup-done").click()
        await expect(bar).to_be_hidden()
        await page.reload()
        await expect(page.locator(".conn")).to_have_text("Live")
        await page.wait_for_timeout(500)
        await expect(bar).to_be_hidden()  # ended: not brought back
    assert errors == []
    await context.close()


async def test_an_admin_sets_a_queues_wrap_up_time(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _admin(browser, server)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto("/admin/queues")
    row = page.get_by_test_id("queues").locator("tr[data-queue='General']")
    await row.get_by_role("button", name="Edit General").click()
    form = page.get_by_role("form", name="Edit queue")
    field = form.get_by_label("Wrap-up time (seconds)")
    await expect(field).to_have_value("0")
    await field.fill("5000")  # over an hour: refused beside the field
    await form.get_by_role("button", name="Save").click()
    await expect(form.locator("#err-wrapup_s")).to_be_visible()
    await field.fill("45")
    await form.get_by_role("button", name="Save").click()
    await expect(form).to_be_hidden()
    async with server.ctx.db.sessions() as session:
        saved = await session.get(Queue, world.queues["general"].id)
    assert saved is not None and saved.wrapup_s == 45
    assert errors == []
