"""The agent's inbox through the API, on SQLite and PostgreSQL: views and their counts
(keyset pages), labels and the label filter, full-text search over 10,000 messages and the
customers (erased content leaves the index), canned replies with variables, macros, snooze
(durable timer, the customer's message wakes it first) and reopen."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from tests.conftest import Running, World, eventually, login, take_thread
from threadline.channels.contract import InboundMessage
from threadline.channels.inbound import do_ingest
from threadline.customers.models import Customer
from threadline.db import utcnow
from threadline.threads.models import Thread, ThreadEvent
from threadline.workers.models import Timer


async def writes(server: Running, world: World, visitor: str, text: str, name: str = "") -> str:
    """A visitor writes in the chat widget; the thread's id."""
    ingested = await do_ingest(
        server.ctx,
        world.widget,
        InboundMessage(
            channel="chat",
            identity_kind="visitor",
            identity_value=visitor,
            body=text,
            client_msg_id=f"{visitor}-{text}",
            sender_name=name or None,
        ),
    )
    return ingested.thread.id


def ids(page: dict[str, Any]) -> list[str]:
    return [row["id"] for row in page["rows"]]


async def view(client: httpx.AsyncClient, name: str, **filters: str) -> list[str]:
    answer = await client.get("/api/v1/inbox", params={"view": name, **filters})
    assert answer.status_code == 200, answer.text
    return ids(answer.json())


async def test_views_counts_pages_and_labels(server: Running, world: World) -> None:
    first = await writes(server, world, "v-a", "my card did not arrive", "Marta Silva")
    second = await writes(server, world, "v-b", "how do I change my PIN?")
    rui = await take_thread(server, "rui@example.com", first)
    olga = await login(server, "olga@example.com")
    nikos = await login(server, "nikos@example.com")
    try:
        assert await view(rui, "mine") == [first]
        assert await view(rui, "unassigned") == [second]
        assert set(await view(rui, "queues")) == {first, second}
        assert await view(olga, "mine") == []
        counts = (await rui.get("/api/v1/inbox/counts")).json()
        assert counts == {
            "mine": 1, "unassigned": 1, "queues": 2, "snoozed": 0, "resolved": 0, "all": 2
        }  # fmt: skip
        # newest activity first: the assignment moved the first thread up
        assert (await view(rui, "all", channel="chat")) == [first, second]
        assert await view(rui, "all", channel="sms") == []
        queue = world.queues["general"].id
        assert set(await view(rui, "all", queue_id=queue)) == {first, second}

        # keyset pages: newest activity first, each thread once
        page = (await rui.get("/api/v1/inbox", params={"view": "all", "limit": 1})).json()
        assert ids(page) == [first] and page["next_cursor"]
        rest = (
            await rui.get(
                "/api/v1/inbox", params={"view": "all", "limit": 1, "cursor": page["next_cursor"]}
            )
        ).json()
        assert ids(rest) == [second] and rest["next_cursor"] is None
        bad = await rui.get("/api/v1/inbox", params={"cursor": "yesterday~x"})
        assert bad.status_code == 422
        row = rest["rows"][0]
        assert row["preview"] == "how do I change my PIN?" and row["channel"] == "chat"

        # labels: the organisation's (a supervisor's to define), put on by the thread's agent
        refused = await rui.post("/api/v1/labels", json={"name": "VIP"})
        assert refused.status_code == 403
        made = await nikos.post("/api/v1/labels", json={"name": "VIP", "colour": "#aa0000"})
        assert made.status_code == 201, made.text
        label = made.json()["id"]
        twice = await nikos.post("/api/v1/labels", json={"name": "vip"})
        assert twice.status_code == 409
        assert (
            await nikos.post("/api/v1/labels", json={"name": "x", "colour": "red"})
        ).status_code == 422
        added = await rui.put(f"/api/v1/threads/{first}/labels/{label}")
        assert added.status_code == 200 and [x["name"] for x in added.json()] == ["VIP"]
        again = await rui.put(f"/api/v1/threads/{first}/labels/{label}")
        assert again.status_code == 200
        not_hers = await olga.put(f"/api/v1/threads/{first}/labels/{label}")
        assert not_hers.status_code == 403
        assert await view(rui, "all", label_id=label) == [first]
        counted = (await rui.get("/api/v1/inbox/counts", params={"label_id": label})).json()
        assert counted["all"] == 1 and counted["unassigned"] == 0
        async with server.ctx.db.sessions() as session:
            kinds = list(
                await session.scalars(
                    select(ThreadEvent.data).where(
                        ThreadEvent.thread_id == first, ThreadEvent.kind == "labelled"
                    )
                )
            )
        assert kinds == [{"label_id": label, "label": "VIP", "added": True}]  # once
        rows = (await rui.get("/api/v1/inbox", params={"view": "mine"})).json()["rows"]
        assert [x["name"] for x in rows[0]["labels"]] == ["VIP"]

        # resolved conversations stay findable in their view
        done = await rui.post(f"/api/v1/threads/{first}/resolve", json={"reason": "card_arrival"})
        assert done.status_code == 200, done.text
        assert await view(rui, "mine") == []
        assert await view(rui, "resolved") == [first]
        removed = await nikos.delete(f"/api/v1/threads/{first}/labels/{label}")
        assert removed.status_code == 200 and removed.json() == []
    finally:
        for client in (rui, olga, nikos):
            await client.aclose()


async def test_search_finds_messages_and_customers_and_forgets_the_erased(
    server: Running, world: World
) -> None:
    async with server.ctx.uow() as uow:
        customer = Customer(
            org_id=world.org_id,
            name="Marta Silva",
            email="marta@example.com",
            phone="+351912345678",
        )
        uow.session.add(customer)
        await uow.session.flush()
        thread = Thread(org_id=world.org_id, customer_id=customer.id, status="resolved")
        uow.session.add(thread)
        await uow.session.flush()
        uow.session.add(
            ThreadEvent(
                org_id=world.org_id,
                thread_id=thread.id,
                seq=1,
                kind="message",
                author_type="customer",
                channel="chat",
                body="The parcel with my replacement card is late",
            )
        )
        thread.last_seq = 1
        marta, customer_id = thread.id, customer.id
        # 10,000 other messages in 100 other conversations
        for n in range(100):
            other = Customer(org_id=world.org_id, name=f"Customer {n}")
            uow.session.add(other)
            await uow.session.flush()
            talk = Thread(org_id=world.org_id, customer_id=other.id, status="resolved")
            uow.session.add(talk)
            await uow.session.flush()
            uow.session.add_all(
                ThreadEvent(
                    org_id=world.org_id,
                    thread_id=talk.id,
                    seq=seq,
                    kind="message",
                    author_type="customer" if seq % 2 else "agent",
                    channel="chat",
                    body=f"message {seq} about my account balance and statement {n}",
                )
                for seq in range(1, 101)
            )
            talk.last_seq = 100
    agent = await login(server, "olga@example.com")
    admin = await login(server, "admin@example.com")
    try:

        async def search(q: str) -> dict[str, Any]:
            answer = await agent.get("/api/v1/inbox/search", params={"q": q})
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        found = await search("replacement parcel")
        assert [h["thread_id"] for h in found["messages"]] == [marta]
        assert "replacement" in found["messages"][0]["snippet"]
        assert [h["thread_id"] for h in (await search("cards"))["messages"]] == [marta]  # stem
        assert [h["thread_id"] for h in (await search("parc"))["messages"]] == [marta]  # prefix
        assert len((await search("statement 42"))["messages"]) == 30  # the page's limit
        assert (await search("replacement balance"))["messages"] == []  # every word
        for q in ("marta", "silva", "marta@example.com", "351912345678"):
            hits = (await search(q))["customers"]
            assert [(h["customer_id"], h["thread_id"]) for h in hits] == [(customer_id, marta)], q
        assert (await agent.get("/api/v1/inbox/search", params={"q": ""})).status_code == 422

        erased = await admin.post(
            f"/api/v1/customers/{customer_id}/erase", json={"confirm": customer_id}
        )
        assert erased.status_code == 200, erased.text
        assert (await search("replacement"))["messages"] == []
        assert (await search("marta"))["customers"] == []
        assert (await search("351912345678"))["customers"] == []
        assert len((await search("balance"))["messages"]) == 30  # the others are all there
    finally:
        await agent.aclose()
        await admin.aclose()


async def test_canned_replies_macros_snooze_and_reopen(server: Running, world: World) -> None:
    first = await writes(server, world, "v-c", "where is my card?", "Marta Silva")
    rui = await take_thread(server, "rui@example.com", first)
    olga = await login(server, "olga@example.com")
    nikos = await login(server, "nikos@example.com")
    try:
        # canned replies: personal ones for anyone, the organisation's for supervisors
        mine = await rui.post(
            "/api/v1/canned-replies",
            json={
                "shortcut": "hello",
                "title": "Greeting",
                "body": "Hi {customer.first_name}, {agent.name} here.",
                "personal": True,
            },
        )
        assert mine.status_code == 201, mine.text
        org_wide = {"shortcut": "bye", "title": "Goodbye", "body": "Bye {customer.name}!"}
        assert (await rui.post("/api/v1/canned-replies", json=org_wide)).status_code == 403
        shared = await nikos.post("/api/v1/canned-replies", json=org_wide)
        assert shared.status_code == 201
        unknown = await nikos.post(
            "/api/v1/canned-replies", json={**org_wide, "shortcut": "x", "body": "{customer.pin}"}
        )
        assert unknown.status_code == 422 and "customer.pin" in unknown.text
        assert (await nikos.post("/api/v1/canned-replies", json=org_wide)).status_code == 409
        assert {c["shortcut"] for c in (await rui.get("/api/v1/canned-replies")).json()} == {
            "hello",
            "bye",
        }
        assert [c["shortcut"] for c in (await olga.get("/api/v1/canned-replies")).json()] == ["bye"]
        rendered = await rui.post(
            f"/api/v1/threads/{first}/canned-replies/{mine.json()['id']}/render"
        )
        assert rendered.json() == {"text": "Hi Marta, Rui here."}
        not_hers = await olga.post(
            f"/api/v1/threads/{first}/canned-replies/{mine.json()['id']}/render"
        )
        assert not_hers.status_code == 404

        # snooze: out of "mine" until the timer, or the customer, wakes it
        assert (
            await rui.post(f"/api/v1/threads/{first}/snooze", json={"preset": "tomorrow"})
        ).status_code == 200
        assert await view(rui, "mine") == [] and await view(rui, "snoozed") == [first]
        past = await rui.post(
            f"/api/v1/threads/{first}/snooze", json={"until": "2020-01-01T00:00:00+00:00"}
        )
        assert past.status_code == 422
        assert (
            await olga.post(f"/api/v1/threads/{first}/snooze", json={"preset": "1h"})
        ).status_code == 403
        await writes(server, world, "v-c", "hello? anyone?")
        assert await view(rui, "mine") == [first]
        async with server.ctx.db.sessions() as session:
            pending = await session.scalar(
                select(Timer).where(
                    Timer.ref_id == first, Timer.fired_at.is_(None), ~Timer.cancelled
                )
            )
        assert pending is None  # the customer's message cancelled the timer
        soon = (utcnow() + timedelta(seconds=1)).isoformat()
        assert (
            await rui.post(f"/api/v1/threads/{first}/snooze", json={"until": soon})
        ).status_code == 200
        assert await view(rui, "snoozed") == [first]

        async def woke() -> bool:
            return await view(rui, "mine") == [first]

        await eventually(woke)
        async with server.ctx.db.sessions() as session:
            wakes = list(
                await session.scalars(
                    select(ThreadEvent.data).where(
                        ThreadEvent.thread_id == first, ThreadEvent.kind == "woke"
                    )
                )
            )
        assert wakes == [{"by": "customer"}, {"by": "timer"}]

        # a macro: reply with variables, label, resolve
        label = (await nikos.post("/api/v1/labels", json={"name": "Cards"})).json()["id"]
        macro_body = {
            "name": "Card on its way",
            "reply": "Your card is on its way, {customer.first_name}.",
            "label_ids": [label],
            "then": "resolve",
            "resolve_reason": "card_arrival",
        }
        assert (await rui.post("/api/v1/macros", json=macro_body)).status_code == 403
        incomplete = await nikos.post("/api/v1/macros", json={**macro_body, "resolve_reason": None})
        assert incomplete.status_code == 422
        macro = await nikos.post("/api/v1/macros", json=macro_body)
        assert macro.status_code == 201, macro.text
        ran = await rui.post(f"/api/v1/threads/{first}/macros/{macro.json()['id']}/run")
        assert ran.status_code == 200, ran.text
        assert ran.json()["status"] == "resolved"
        async with server.ctx.db.sessions() as session:
            replies = list(
                await session.scalars(
                    select(ThreadEvent.body).where(
                        ThreadEvent.thread_id == first,
                        ThreadEvent.kind == "message",
                        ThreadEvent.author_type == "agent",
                    )
                )
            )
        assert replies == ["Your card is on its way, Marta."]
        assert await view(rui, "resolved", label_id=label) == [first]

        # reopen: a new contact in its last queue
        assert (
            await rui.post(f"/api/v1/threads/{first}/snooze", json={"preset": "1h"})
        ).status_code == 409
        reopened = await olga.post(f"/api/v1/threads/{first}/reopen", json={})
        assert reopened.status_code == 200, reopened.text
        assert reopened.json()["status"] == "queued"
        again = await olga.post(f"/api/v1/threads/{first}/reopen", json={})
        assert again.status_code == 409

        # a label deleted leaves the threads and the macros that named it
        assert (await nikos.delete(f"/api/v1/labels/{label}")).status_code == 204
        assert (await rui.get(f"/api/v1/threads/{first}/labels")).json() == []
        assert (await rui.get("/api/v1/macros")).json()[0]["label_ids"] == []
    finally:
        for client in (rui, olga, nikos):
            await client.aclose()
