"""Linking two customers is undoable: the link's audit entry records exactly what moved
(identities, threads, contacts, the profile fields copied onto the target), and undoing it
puts exactly that back, audited as its own entry. Automatic links made by a verified widget
identify are undone the same way."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select, update

from tests.conftest import PASSWORD, WIDGET_SECRET, Running, World, authed_socket, login
from tests.fakes.site_backend import signed_identify
from threadline.agents.schemas import AgentCreate
from threadline.agents.services import do_create_agent
from threadline.customers.models import Customer, Identity
from threadline.customers.services import find_by_identity
from threadline.orgs.models import AuditEntry
from threadline.orgs.services import do_create_org
from threadline.routing.models import Contact
from threadline.threads.models import Thread


async def _recv_type(ws: Any, *wanted: str, timeout: float = 5) -> dict[str, Any]:
    async def _loop() -> dict[str, Any]:
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] in wanted:
                return frame

    return await asyncio.wait_for(_loop(), timeout)


async def _visitor_writes(server: Running, world: World, text: str) -> dict[str, Any]:
    """A new widget visitor who writes one message: their session (and the thread)."""
    async with server.client() as anonymous:
        response = await anonymous.post(f"/api/v1/widget/{world.widget.key}/session", json={})
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    url = f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws"
    async with authed_socket(url, session["visitor_token"]) as ws:
        await ws.send(json.dumps({"type": "message", "client_id": "m1", "text": text}))
        session["thread_id"] = (await _recv_type(ws, "ack"))["thread_id"]
    return session


async def _session_customer(server: Running, world: World, token: str) -> str:
    """Who the widget says a returning visitor is."""
    async with server.client() as anonymous:
        response = await anonymous.post(
            f"/api/v1/widget/{world.widget.key}/session", json={"visitor_token": token}
        )
    assert response.status_code == 200, response.text
    customer_id: str = response.json()["customer_id"]
    return customer_id


async def _messages(client: httpx.AsyncClient, customer_id: str) -> list[str]:
    response = await client.get(f"/api/v1/customers/{customer_id}/timeline")
    assert response.status_code == 200, response.text
    return [e["body"] for e in response.json() if e["kind"] == "message"]


async def _patch(client: httpx.AsyncClient, customer_id: str, **fields: Any) -> None:
    response = await client.patch(f"/api/v1/customers/{customer_id}", json=fields)
    assert response.status_code == 200, response.text


async def _link(client: httpx.AsyncClient, target_id: str, source_id: str) -> int:
    response = await client.post(
        f"/api/v1/customers/{target_id}/merge", json={"source_id": source_id}
    )
    assert response.status_code == 200, response.text
    link_id: int = response.json()["link_id"]
    return link_id


async def _audit(server: Running, action: str) -> list[AuditEntry]:
    async with server.ctx.db.sessions() as db:
        return list(
            await db.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


async def _owned(server: Running, customer_id: str) -> dict[str, set[str]]:
    """The ids of the rows a customer owns, straight from the database."""
    owned: dict[str, set[str]] = {}
    async with server.ctx.db.sessions() as db:
        for key, model in (("identities", Identity), ("threads", Thread), ("contacts", Contact)):
            rows = await db.scalars(select(model.id).where(model.customer_id == customer_id))
            owned[key] = set(rows)
    return owned


async def _outsider(server: Running) -> httpx.AsyncClient:
    """An agent of another organisation, logged in."""
    org = await do_create_org(server.ctx, f"other-{uuid.uuid4().hex[:6]}", "Other Bank")
    await do_create_agent(
        server.ctx,
        org.id,
        AgentCreate(
            email="eve@other.example.com",
            name="Eve",
            password=PASSWORD,
            role="admin",
            skills={"general": 1},
            languages=["en"],
            capacity={"chat": 1, "voice": 1},
        ),
    )
    return await login(server, "eve@other.example.com")


async def test_link_then_undo_gives_each_customer_their_own_again(
    server: Running, world: World
) -> None:
    rui = await login(server, "rui@example.com")
    olga = await login(server, "olga@example.com")
    maria = await _visitor_writes(server, world, "hello, it is Maria")
    other = await _visitor_writes(server, world, "card lost")
    target_id, source_id = maria["customer_id"], other["customer_id"]
    await _patch(rui, target_id, name="Maria", attributes={"segment": "gold"})
    await _patch(
        rui,
        source_id,
        name="M. Santos",
        timezone="Europe/Lisbon",
        attributes={"segment": "basic", "plan": "family"},
    )
    target_before, source_before = await _owned(server, target_id), await _owned(server, source_id)
    assert source_before["identities"] and source_before["threads"]

    link_id = await _link(rui, target_id, source_id)

    # the timelines merged: the target shows both customers' messages
    assert sorted(await _messages(rui, target_id)) == ["card lost", "hello, it is Maria"]
    profile = (await rui.get(f"/api/v1/customers/{target_id}")).json()
    assert profile["name"] == "Maria"  # the target's own values win
    assert profile["timezone"] == "Europe/Lisbon"  # copied: the target had none
    assert profile["attributes"] == {"segment": "gold", "plan": "family"}
    assert len(profile["identities"]) == 2
    assert (await rui.get(f"/api/v1/customers/{source_id}")).json()["id"] == target_id
    assert await _session_customer(server, world, other["visitor_token"]) == target_id

    # the link's audit entry records exactly what moved, and what was copied
    (merge,) = await _audit(server, "customer.merge")
    assert merge.id == link_id and merge.target == target_id
    assert merge.actor_agent_id == world.agents["rui"].id and merge.org_id == world.org_id
    assert merge.data["source"] == source_id
    assert {k: set(v) for k, v in merge.data["moved"].items()} == source_before
    assert merge.data["fields"] == {"timezone": {"previous": None, "value": "Europe/Lisbon"}}
    assert merge.data["attributes"] == {"plan": "family"}

    # the links into the target: who, when, which record
    (listed,) = (await olga.get(f"/api/v1/customers/{target_id}/links")).json()
    assert listed["id"] == link_id and listed["source_id"] == source_id
    assert listed["source_name"] == "M. Santos" and listed["target_id"] == target_id
    assert listed["linked_by"] == {"id": world.agents["rui"].id, "name": "Rui"}
    assert listed["automatic"] is False and listed["linked_at"]
    assert listed["moved"] == {k: len(v) for k, v in source_before.items()}
    assert listed["fields"] == ["timezone"]
    assert listed["undoable"] is True and listed["undone_at"] is None

    # another organisation's agent can neither see nor undo the link
    eve = await _outsider(server)
    refused = await eve.post(f"/api/v1/customers/links/{link_id}/undo")
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"
    assert (await eve.get(f"/api/v1/customers/{target_id}/links")).status_code == 404
    await eve.aclose()
    assert await _audit(server, "customer.unlink") == []
    assert await _owned(server, source_id) == {
        "identities": set(),
        "threads": set(),
        "contacts": set(),
    }

    # any agent of the organisation undoes it
    undone = await olga.post(f"/api/v1/customers/links/{link_id}/undo")
    assert undone.status_code == 200, undone.text
    body = undone.json()
    assert body["link_id"] == link_id and body["source_id"] == source_id
    assert body["target_id"] == target_id
    assert body["moved"] == {k: len(v) for k, v in source_before.items()}
    assert sorted(body["restored_fields"]) == ["attributes.plan", "timezone"]
    assert body["kept_fields"] == []

    # each customer has their own identities, threads and timeline again
    assert await _owned(server, target_id) == target_before
    assert await _owned(server, source_id) == source_before
    assert await _messages(rui, target_id) == ["hello, it is Maria"]
    assert await _messages(rui, source_id) == ["card lost"]
    target = (await rui.get(f"/api/v1/customers/{target_id}")).json()
    source = (await rui.get(f"/api/v1/customers/{source_id}")).json()
    assert target["timezone"] is None and target["attributes"] == {"segment": "gold"}
    assert source["id"] == source_id and source["name"] == "M. Santos"
    assert source["attributes"] == {"segment": "basic", "plan": "family"}
    assert [i["kind"] for i in source["identities"]] == ["visitor"]
    assert [i["kind"] for i in target["identities"]] == ["visitor"]
    thread = (await rui.get(f"/api/v1/threads/{other['thread_id']}")).json()
    assert thread["customer_id"] == source_id
    # the source is findable by its identity again, and listed again
    async with server.ctx.db.sessions() as db:
        visitor = await db.scalar(select(Identity).where(Identity.customer_id == source_id))
        assert visitor is not None
        found = await find_by_identity(db, world.org_id, "visitor", visitor.value)
        assert found is not None and found.id == source_id and found.merged_into_id is None
    assert await _session_customer(server, world, other["visitor_token"]) == source_id
    assert await _session_customer(server, world, maria["visitor_token"]) == target_id
    listed_ids = {c["id"] for c in (await rui.get("/api/v1/customers")).json()}
    assert {source_id, target_id} <= listed_ids

    # undoing twice is refused and changes nothing
    again = await rui.post(f"/api/v1/customers/links/{link_id}/undo")
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert "already been undone" in again.json()["message"]
    assert await _owned(server, source_id) == source_before

    # the audit log has both entries; the list shows the link as undone
    (unlink,) = await _audit(server, "customer.unlink")
    assert unlink.actor_agent_id == world.agents["olga"].id and unlink.target == target_id
    assert unlink.data["link"] == link_id and unlink.data["source"] == source_id
    assert len(await _audit(server, "customer.merge")) == 1
    (listed,) = (await rui.get(f"/api/v1/customers/{target_id}/links")).json()
    assert listed["undoable"] is False and listed["undone_at"]
    assert listed["undone_by"] == {"id": world.agents["olga"].id, "name": "Olga"}
    assert listed["unlink_id"] == unlink.id

    # the two can be linked again, and that new link undone in turn
    relink = await _link(rui, target_id, source_id)
    assert relink != link_id
    assert (await rui.post(f"/api/v1/customers/links/{relink}/undo")).status_code == 200
    assert await _owned(server, source_id) == source_before
    await rui.aclose()
    await olga.aclose()


async def test_undo_refused_once_part_of_the_link_moved_elsewhere(
    server: Running, world: World
) -> None:
    rui = await login(server, "rui@example.com")
    a = await _visitor_writes(server, world, "from a")
    b = await _visitor_writes(server, world, "from b")
    c = await _visitor_writes(server, world, "from c")
    await _patch(rui, b["customer_id"], timezone="Europe/Lisbon")
    b_owned = await _owned(server, b["customer_id"])
    first = await _link(rui, a["customer_id"], b["customer_id"])
    # the agent changes a copied field after the link: undo keeps the newer value
    await _patch(rui, a["customer_id"], timezone="Europe/Athens")
    second = await _link(rui, c["customer_id"], a["customer_id"])
    assert sorted(await _messages(rui, c["customer_id"])) == ["from a", "from b", "from c"]

    # b's rows now sit with c: the first link cannot be undone before the second
    refused = await rui.post(f"/api/v1/customers/links/{first}/undo")
    assert refused.status_code == 409 and refused.json()["code"] == "conflict"
    assert "undo that link first" in refused.json()["message"]
    assert await _audit(server, "customer.unlink") == []

    assert (await rui.post(f"/api/v1/customers/links/{second}/undo")).status_code == 200
    assert sorted(await _messages(rui, a["customer_id"])) == ["from a", "from b"]
    undone = await rui.post(f"/api/v1/customers/links/{first}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json()["kept_fields"] == ["timezone"]
    assert undone.json()["restored_fields"] == []
    profile = (await rui.get(f"/api/v1/customers/{a['customer_id']}")).json()
    assert profile["timezone"] == "Europe/Athens"
    for who, text in ((a, "from a"), (b, "from b"), (c, "from c")):
        assert await _messages(rui, who["customer_id"]) == [text]
    assert await _owned(server, b["customer_id"]) == b_owned

    # a row of the link that was moved to another customer since blocks the undo too
    third = await _link(rui, a["customer_id"], b["customer_id"])
    async with server.ctx.uow() as uow:
        await uow.session.execute(
            update(Thread).where(Thread.id == b["thread_id"]).values(customer_id=c["customer_id"])
        )
    refused = await rui.post(f"/api/v1/customers/links/{third}/undo")
    assert refused.status_code == 409, refused.text
    assert f"thread {b['thread_id']}" in refused.json()["message"]
    async with server.ctx.db.sessions() as db:
        source = await db.get(Customer, b["customer_id"])
        assert source is not None and source.merged_into_id == a["customer_id"]

    # link ids that do not exist, or are not links, are not found
    merges = await _audit(server, "customer.merge")
    unlink = (await _audit(server, "customer.unlink"))[0]
    for bad in (str(unlink.id), "0", "999999", "99999999999999999999", "9" * 5000, "abc", "-1"):
        response = await rui.post(f"/api/v1/customers/links/{bad}/undo")
        assert response.status_code == 404, (bad, response.text)
    assert len(merges) == 3
    await rui.aclose()


async def test_an_automatic_link_by_verified_identify_is_undoable(
    server: Running, world: World
) -> None:
    rui = await login(server, "rui@example.com")
    created = await rui.post(
        "/api/v1/customers", json={"name": "Maria Santos", "email": "maria@example.com"}
    )
    assert created.status_code == 201, created.text
    known = created.json()
    async with server.client() as anonymous:
        session = (
            await anonymous.post(
                f"/api/v1/widget/{world.widget.key}/session", json={"locale": "pt-PT"}
            )
        ).json()
    url = f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws"
    visitor_owned_before: dict[str, set[str]] = {}
    async with authed_socket(url, session["visitor_token"]) as ws:
        await ws.send(json.dumps({"type": "message", "client_id": "m1", "text": "olá"}))
        await _recv_type(ws, "ack")
        visitor_owned_before = await _owned(server, session["customer_id"])
        await ws.send(json.dumps(signed_identify(WIDGET_SECRET, email="maria@example.com")))
        identified = await _recv_type(ws, "identified", "error")
    assert identified == {"type": "identified", "customer_id": known["id"]}
    assert await _messages(rui, known["id"]) == ["olá"]

    (link,) = (await rui.get(f"/api/v1/customers/{known['id']}/links")).json()
    assert link["automatic"] is True and link["linked_by"] is None
    assert link["source_id"] == session["customer_id"] and link["undoable"] is True
    assert link["fields"] == ["language"]  # the widget knew the visitor's language

    undone = await rui.post(f"/api/v1/customers/links/{link['id']}/undo")
    assert undone.status_code == 200, undone.text
    assert await _messages(rui, known["id"]) == []
    assert await _messages(rui, session["customer_id"]) == ["olá"]
    assert await _owned(server, session["customer_id"]) == visitor_owned_before
    profile = (await rui.get(f"/api/v1/customers/{known['id']}")).json()
    assert [i["kind"] for i in profile["identities"]] == ["email"]
    assert profile["language"] is None
    assert (
        await _session_customer(server, world, session["visitor_token"]) == session["customer_id"]
    )

    (merge,) = await _audit(server, "customer.merge")
    (unlink,) = await _audit(server, "customer.unlink")
    assert merge.actor_agent_id is None and merge.id == link["id"]
    assert unlink.actor_agent_id == world.agents["rui"].id and unlink.data["link"] == merge.id
    await rui.aclose()
