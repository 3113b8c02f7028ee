"""Automatic texts in the customer's language, learnt from their first clear message when
nothing told us yet (i18n/language.py): an SMS in Spanish is offered its callback in Spanish,
a Greek chat is answered in Greek, a one-word "ok" keeps the default; through the fake
Twilio's real HTTP API and the widget's real socket, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tests.conftest import (
    CALLBACK_POLICY,
    PASSWORD,
    Running,
    World,
    add_endpoint,
    authed_socket,
    eventually,
)
from tests.fakes.twilio import FakeTwilio, running_fake_twilio
from tests.integration.test_sms import CUSTOMER, inbound, sms_endpoint, webhook_url
from threadline.agents.schemas import AgentCreate
from threadline.agents.services import do_create_agent
from threadline.customers.models import Customer, Identity
from threadline.routing.models import Queue
from threadline.threads.models import Thread

SPANISH = "Hola, perdí mi tarjeta ayer y necesito bloquearla"
GREEK = "Καλησπέρα, η κάρτα μου δεν λειτουργεί"


@pytest.fixture
async def phone_line(server: Running, world: World) -> AsyncIterator[FakeTwilio]:
    """The organisation's SMS number on the fake Twilio; its queue offers callbacks at once
    (so every new texter gets an automatic text), and María speaks Spanish."""
    async with running_fake_twilio() as fake:
        queue_id = world.queues["general"].id
        async with server.ctx.uow() as uow:
            await uow.session.execute(
                update(Queue).where(Queue.id == queue_id).values(callback_policy=CALLBACK_POLICY)
            )
        await do_create_agent(
            server.ctx,
            world.org_id,
            AgentCreate(
                email="maria@example.com",
                name="María",
                password=PASSWORD,
                role="agent",
                skills={"general": 3},
                languages=["es", "en"],
            ),
        )
        await add_endpoint(server, **sms_endpoint(fake, queue_id))
        yield fake


async def _texts_to(twilio: FakeTwilio, number: str) -> list[str] | None:
    return [m.body for m in twilio.messages if m.to == number] or None


async def _customer(server: Running, world: World, kind: str, value: str) -> Customer:
    async with server.ctx.db.sessions() as session:
        customer = await session.scalar(
            select(Customer)
            .join(Identity, Identity.customer_id == Customer.id)
            .where(Identity.org_id == world.org_id, Identity.kind == kind, Identity.value == value)
        )
    assert customer is not None
    return customer


async def _thread_language(server: Running, customer_id: str) -> str | None:
    async with server.ctx.db.sessions() as session:
        return await session.scalar(
            select(Thread.language).where(Thread.customer_id == customer_id)
        )


async def test_a_text_in_spanish_is_answered_in_spanish(
    server: Running, world: World, phone_line: FakeTwilio
) -> None:
    posted = await phone_line.post_signed(webhook_url(server), inbound("SM-es-1", SPANISH))
    assert posted.status_code == 200, posted.text
    [offer] = await eventually(lambda: _texts_to(phone_line, CUSTOMER))
    assert offer.startswith("La espera es de más de") and "Responda 1" in offer, offer
    customer = await _customer(server, world, "phone", CUSTOMER)
    assert customer.language == "es"
    assert await _thread_language(server, customer.id) == "es"


async def test_a_one_word_text_keeps_the_default_and_a_later_sentence_decides(
    server: Running, world: World, phone_line: FakeTwilio
) -> None:
    posted = await phone_line.post_signed(webhook_url(server), inbound("SM-ok-1", "ok"))
    assert posted.status_code == 200, posted.text
    [offer] = await eventually(lambda: _texts_to(phone_line, CUSTOMER))
    assert offer.startswith("The wait is more than") and "Reply 1" in offer, offer
    customer = await _customer(server, world, "phone", CUSTOMER)
    assert customer.language is None  # not guessed: the next message may still tell
    await phone_line.post_signed(webhook_url(server), inbound("SM-ok-2", SPANISH))

    async def learnt() -> str | None:
        return (await _customer(server, world, "phone", CUSTOMER)).language

    assert await eventually(learnt) == "es"
    assert await _thread_language(server, customer.id) == "es"


async def test_a_language_nobody_in_the_organisation_speaks_is_not_chosen(
    server: Running, world: World
) -> None:
    """Spanish is among our texts but not among this organisation's languages (no María,
    no endpoint set to it): the default stays."""
    async with running_fake_twilio() as fake:
        await add_endpoint(server, **sms_endpoint(fake, world.queues["general"].id))
        posted = await fake.post_signed(webhook_url(server), inbound("SM-x-1", SPANISH))
        assert posted.status_code == 200, posted.text
    customer = await _customer(server, world, "phone", CUSTOMER)
    assert customer.language is None


async def test_a_customer_whose_language_is_known_keeps_it(
    server: Running, world: World, phone_line: FakeTwilio
) -> None:
    await phone_line.post_signed(webhook_url(server), inbound("SM-k-1", SPANISH))
    customer = await _customer(server, world, "phone", CUSTOMER)
    assert customer.language == "es"
    english = "Sorry, could you answer in English please? I am on holiday in Madrid"
    await phone_line.post_signed(webhook_url(server), inbound("SM-k-2", english))
    assert (await _customer(server, world, "phone", CUSTOMER)).language == "es"


async def _recv_until(ws: Any, wanted: str, timeout: float = 5) -> dict[str, Any]:
    async def loop() -> dict[str, Any]:
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == wanted:
                return frame

    return await asyncio.wait_for(loop(), timeout)


async def test_a_greek_chat_gets_greek(
    server: Running, world: World, phone_line: FakeTwilio
) -> None:
    """A browser that names no language we speak: the widget starts in the endpoint's
    default; the visitor writes Greek, and from then on what they are told is Greek (the
    widget's texts on their next visit, the callback's confirmation by SMS)."""
    key = world.widget.key
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        first = await browser.post(f"/api/v1/widget/{key}/session", json={"locale": "de-DE"})
        assert first.status_code == 200, first.text
        session = first.json()
        assert session["language"] == "en"
        token = session["visitor_token"]
        async with authed_socket(f"{server.ws_url}/api/v1/widget/{key}/ws", token) as ws:
            await ws.send(json.dumps({"type": "message", "client_id": "g-1", "text": GREEK}))
            await _recv_until(ws, "ack")
        customer_id = session["customer_id"]
        assert await _thread_language(server, customer_id) == "el"
        again = (
            await browser.post(
                f"/api/v1/widget/{key}/session", json={"visitor_token": token, "locale": "de-DE"}
            )
        ).json()
        assert again["language"] == "el" and again["strings"]["send"] == "Αποστολή"
        phone = "+351912000222"
        kept = await browser.post(
            f"/api/v1/widget/{key}/callback",
            json={"phone": phone},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert kept.status_code == 201, kept.text
    [confirmation] = await eventually(lambda: _texts_to(phone_line, phone))
    assert confirmation.startswith("Θα σας καλέσουμε"), confirmation


async def test_a_browser_language_is_kept_whatever_the_visitor_writes(
    server: Running, world: World
) -> None:
    key = world.widget.key
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        session = (
            await browser.post(f"/api/v1/widget/{key}/session", json={"locale": "pt-PT"})
        ).json()
        async with authed_socket(
            f"{server.ws_url}/api/v1/widget/{key}/ws", session["visitor_token"]
        ) as ws:
            await ws.send(json.dumps({"type": "message", "client_id": "p-1", "text": GREEK}))
            await _recv_until(ws, "ack")
    assert await _thread_language(server, session["customer_id"]) == "pt"
