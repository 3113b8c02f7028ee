"""Customers: one person behind every spelling of their phone or email, the profile API,
merging two records (audited, identities and timeline follow), and the widget's verified
`identify` that links a visitor to the customer the host site vouches for."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy import select

from tests.conftest import WIDGET_SECRET, Running, World, authed_socket, login
from tests.fakes.site_backend import signed_identify, site_hash
from threadline.customers.models import Customer, Identity
from threadline.customers.services import find_by_identity, resolve_identity
from threadline.orgs.models import AuditEntry


async def _recv_type(ws: Any, *wanted: str, timeout: float = 5) -> dict[str, Any]:
    async def _loop() -> dict[str, Any]:
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] in wanted:
                return frame

    return await asyncio.wait_for(_loop(), timeout)


async def _visitor(server: Running, world: World) -> tuple[dict[str, Any], str]:
    """A widget visitor: their session and their WebSocket URL."""
    async with server.client() as anonymous:
        response = await anonymous.post(f"/api/v1/widget/{world.widget.key}/session", json={})
    assert response.status_code == 200, response.text
    session = response.json()
    url = f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws"
    return session, url


async def _create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/customers", json=fields)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _audit(server: Running, action: str) -> list[AuditEntry]:
    async with server.ctx.db.sessions() as db:
        return list(
            await db.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


async def test_every_spelling_of_a_phone_or_email_finds_one_customer(
    server: Running, world: World
) -> None:
    async with server.ctx.uow() as uow:
        first = await resolve_identity(uow.session, world.org_id, "phone", "+351 912 345 678")
        again = await resolve_identity(uow.session, world.org_id, "phone", "tel:+351-912-345-678")
        same = await resolve_identity(uow.session, world.org_id, "phone", "+351 (912) 345.678")
        other = await resolve_identity(uow.session, world.org_id, "phone", "+30 691 234 5678")
        mail = await resolve_identity(uow.session, world.org_id, "email", "Maria@Example.COM")
        mail_again = await resolve_identity(uow.session, world.org_id, "email", "maria@example.com")
    assert first.id == again.id == same.id
    assert other.id != first.id
    assert first.phone == "+351912345678"
    assert mail.id == mail_again.id and mail.email == "maria@example.com"
    async with server.ctx.db.sessions() as db:
        found = await find_by_identity(db, world.org_id, "phone", "+351912345678")
        assert found is not None and found.id == first.id
        rows = await db.scalars(select(Identity).where(Identity.customer_id == first.id))
        assert [(i.kind, i.value) for i in rows] == [("phone", "+351912345678")]
    # over the API, another spelling of a known number is the same person: a conflict
    agent = await login(server, "rui@example.com")
    duplicate = await agent.post("/api/v1/customers", json={"phone": "+351-912-345-678"})
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "conflict"
    duplicate = await agent.post("/api/v1/customers", json={"email": " MARIA@example.com "})
    assert duplicate.status_code == 409
    refused = await agent.post("/api/v1/customers", json={"phone": "00351912345678"})
    assert refused.status_code == 422  # an IDD prefix needs a region: refused, not guessed
    await agent.aclose()


async def test_create_search_and_update(server: Running, world: World) -> None:
    agent = await login(server, "olga@example.com")
    maria = await _create(
        agent,
        name="Maria Papadopoulou",
        email="Maria.P@Example.com",
        phone="+30 691 234 5678",
        language="el",
        attributes={"segment": "gold"},
    )
    assert maria["email"] == "maria.p@example.com" and maria["phone"] == "+306912345678"
    assert {(i["kind"], i["value"]) for i in maria["identities"]} == {
        ("email", "maria.p@example.com"),
        ("phone", "+306912345678"),
    }
    assert not any(i["verified"] for i in maria["identities"])  # typed by an agent
    ivan = await _create(agent, name="Ivan Petrov", email="ivan@example.com", language="ru")
    for q, expected in [
        ("maria", {maria["id"]}),
        ("PAPADOPOULOU", {maria["id"]}),
        ("example.com", {maria["id"], ivan["id"]}),
        ("6912345678", {maria["id"]}),
        ("nobody", set()),
    ]:
        found = (await agent.get("/api/v1/customers", params={"q": q})).json()
        assert {c["id"] for c in found} == expected, q
    limited = (await agent.get("/api/v1/customers", params={"limit": 1})).json()
    assert len(limited) == 1
    updated = await agent.patch(
        f"/api/v1/customers/{maria['id']}",
        json={"name": "Maria P.", "timezone": "Europe/Athens", "attributes": {"segment": "vip"}},
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["name"] == "Maria P." and body["timezone"] == "Europe/Athens"
    assert body["attributes"] == {"segment": "vip"}
    assert body["language"] == "el"  # not sent, not changed
    fetched = (await agent.get(f"/api/v1/customers/{maria['id']}")).json()
    assert fetched["name"] == "Maria P." and len(fetched["identities"]) == 2
    for bad in ({"language": "Greek"}, {"attributes": None}, {"name": "x" * 201}):
        response = await agent.patch(f"/api/v1/customers/{maria['id']}", json=bad)
        assert response.status_code == 422, (bad, response.text)
    assert (await agent.post("/api/v1/customers", json={"email": "nope"})).status_code == 422
    missing = await agent.get("/api/v1/customers/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    await agent.aclose()


async def test_merge_moves_identities_and_timeline_and_is_audited(
    server: Running, world: World
) -> None:
    agent = await login(server, "rui@example.com")
    target = await _create(agent, name="Maria", email="maria@example.com")
    session, url = await _visitor(server, world)
    async with authed_socket(url, session["visitor_token"]) as ws:
        await ws.send(json.dumps({"type": "message", "client_id": "m1", "text": "card lost"}))
        ack = await _recv_type(ws, "ack")
    source_id = session["customer_id"]
    before = (await agent.get(f"/api/v1/customers/{source_id}/timeline")).json()
    assert [e["body"] for e in before if e["kind"] == "message"] == ["card lost"]

    merged = await agent.post(
        f"/api/v1/customers/{target['id']}/merge", json={"source_id": source_id}
    )
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["id"] == target["id"] and body["email"] == "maria@example.com"
    assert {i["kind"] for i in body["identities"]} == {"email", "visitor"}
    timeline = (await agent.get(f"/api/v1/customers/{target['id']}/timeline")).json()
    assert [e["body"] for e in timeline if e["kind"] == "message"] == ["card lost"]
    assert {e["thread_id"] for e in timeline} == {ack["thread_id"]}
    thread = (await agent.get(f"/api/v1/threads/{ack['thread_id']}")).json()
    assert thread["customer_id"] == target["id"]

    # the merged-away record resolves to the target, and is no longer listed
    resolved = (await agent.get(f"/api/v1/customers/{source_id}")).json()
    assert resolved["id"] == target["id"]
    listed = (await agent.get("/api/v1/customers")).json()
    assert source_id not in {c["id"] for c in listed}
    async with server.ctx.db.sessions() as db:
        source = await db.get(Customer, source_id)
        assert source is not None and source.merged_into_id == target["id"]
        owner = await find_by_identity(db, world.org_id, "email", "MARIA@example.com")
        assert owner is not None and owner.id == target["id"]
    # the visitor coming back is the target customer, with their history
    async with server.client() as anonymous:
        restored = (
            await anonymous.post(
                f"/api/v1/widget/{world.widget.key}/session",
                json={"visitor_token": session["visitor_token"]},
            )
        ).json()
    assert restored["customer_id"] == target["id"]
    assert restored["customer_name"] == "Maria"
    assert [e["body"] for e in restored["events"] if e["kind"] == "message"] == ["card lost"]

    entries = await _audit(server, "customer.merge")
    assert len(entries) == 1
    assert entries[0].target == target["id"] and entries[0].data["source"] == source_id
    assert entries[0].data["moved"]["threads"] == [ack["thread_id"]]  # what moved, to undo
    assert entries[0].actor_agent_id == world.agents["rui"].id
    assert entries[0].org_id == world.org_id

    # merging again, into itself, or something unknown changes nothing
    again = await agent.post(
        f"/api/v1/customers/{target['id']}/merge", json={"source_id": source_id}
    )
    assert again.status_code == 404
    itself = await agent.post(
        f"/api/v1/customers/{target['id']}/merge", json={"source_id": target["id"]}
    )
    assert itself.status_code in (404, 422) and "code" in itself.json()
    unknown = await agent.post(
        f"/api/v1/customers/{target['id']}/merge", json={"source_id": "no-such-customer"}
    )
    assert unknown.status_code == 404
    assert len(await _audit(server, "customer.merge")) == 1
    await agent.aclose()


async def test_widget_identify_with_the_sites_hmac_merges(server: Running, world: World) -> None:
    agent = await login(server, "rui@example.com")
    known = await _create(agent, name="Maria Santos", email="maria@example.com")
    session, url = await _visitor(server, world)
    async with authed_socket(url, session["visitor_token"]) as ws:
        await ws.send(json.dumps({"type": "message", "client_id": "m1", "text": "olá"}))
        first = await _recv_type(ws, "ack")
        await ws.send(
            json.dumps(signed_identify(WIDGET_SECRET, name="Maria", email="maria@example.com"))
        )
        identified = await _recv_type(ws, "identified", "error")
        assert identified == {"type": "identified", "customer_id": known["id"]}
        # what the visitor writes next belongs to the known customer, on the same thread
        await ws.send(json.dumps({"type": "message", "client_id": "m2", "text": "sou eu"}))
        second = await _recv_type(ws, "ack")
        assert second["thread_id"] == first["thread_id"] and second["seq"] > first["seq"]
        # identifying again (a page reload does) is harmless
        await ws.send(json.dumps(signed_identify(WIDGET_SECRET, email="maria@example.com")))
        again = await _recv_type(ws, "identified", "error")
        assert again == {"type": "identified", "customer_id": known["id"]}
    profile = (await agent.get(f"/api/v1/customers/{known['id']}")).json()
    assert profile["name"] == "Maria Santos"  # the known record's name wins the merge
    assert {i["kind"] for i in profile["identities"]} == {"email", "visitor"}
    timeline = (await agent.get(f"/api/v1/customers/{known['id']}/timeline")).json()
    assert [e["body"] for e in timeline if e["kind"] == "message"] == ["olá", "sou eu"]
    assert (await agent.get(f"/api/v1/customers/{session['customer_id']}")).json()["id"] == known[
        "id"
    ]
    entries = await _audit(server, "customer.merge")
    assert [(e.target, e.data["source"]) for e in entries] == [
        (known["id"], session["customer_id"])
    ]
    await agent.aclose()


async def test_widget_identify_with_a_wrong_hash_does_not_merge(
    server: Running, world: World
) -> None:
    agent = await login(server, "rui@example.com")
    known = await _create(agent, name="Maria Santos", email="maria@example.com")
    session, url = await _visitor(server, world)
    fields = {"name": "Impostor", "email": "maria@example.com"}
    forged = [
        site_hash("not-the-widget-secret", **fields),
        site_hash(WIDGET_SECRET, name="Impostor", email="someone-else@example.com"),
        site_hash(WIDGET_SECRET, email="maria@example.com"),  # does not cover the name
        "é" * 64,  # not even hex (compare_digest on str used to raise: a 500)
    ]
    async with authed_socket(url, session["visitor_token"]) as ws:
        for given in forged:
            await ws.send(json.dumps({"type": "identify", **fields, "hash": given}))
            refused = await _recv_type(ws, "identified", "error")
            assert refused["type"] == "error" and refused["code"] == "not_authenticated"
            assert "signature" in refused["message"]
        for unsigned in ("", None):  # no hash: claims of the visitor's own
            frame: dict[str, Any] = {"type": "identify", **fields}
            if unsigned is not None:
                frame["hash"] = unsigned
            await ws.send(json.dumps(frame))
            identified = await _recv_type(ws, "identified", "error")
            assert identified == {"type": "identified", "customer_id": session["customer_id"]}
        await ws.send(json.dumps({"type": "message", "client_id": "m1", "text": "hello"}))
        ack = await _recv_type(ws, "ack")
    profile = (await agent.get(f"/api/v1/customers/{known['id']}")).json()
    assert profile["name"] == "Maria Santos"
    assert {i["kind"] for i in profile["identities"]} == {"email"}
    assert (await agent.get(f"/api/v1/customers/{known['id']}/timeline")).json() == []
    visitor = (await agent.get(f"/api/v1/customers/{session['customer_id']}")).json()
    assert visitor["id"] == session["customer_id"]
    assert visitor["name"] == "Impostor"  # their own record: a claim, shown as such
    assert visitor["email"] is None  # the unverified claim did not take the address
    assert {i["kind"] for i in visitor["identities"]} == {"visitor"}
    thread = (await agent.get(f"/api/v1/threads/{ack['thread_id']}")).json()
    assert thread["customer_id"] == session["customer_id"]
    assert await _audit(server, "customer.merge") == []
    await agent.aclose()


async def test_identify_a_new_email_attaches_it(server: Running, world: World) -> None:
    session, url = await _visitor(server, world)
    async with authed_socket(url, session["visitor_token"]) as ws:
        await ws.send(
            json.dumps(
                {
                    "type": "identify",
                    "name": "Nikos",
                    "email": "Nikos@Example.com",  # signed as it is stored: lower-case
                    "hash": site_hash(WIDGET_SECRET, name="Nikos", email="nikos@example.com"),
                }
            )
        )
        identified = await _recv_type(ws, "identified", "error")
    assert identified["customer_id"] == session["customer_id"]
    async with server.ctx.db.sessions() as db:
        customer = await find_by_identity(db, world.org_id, "email", "nikos@example.com")
        assert customer is not None and customer.id == session["customer_id"]
        assert customer.name == "Nikos" and customer.email == "nikos@example.com"
        identity = await db.scalar(
            select(Identity).where(Identity.customer_id == customer.id, Identity.kind == "email")
        )
        assert identity is not None and identity.verified
