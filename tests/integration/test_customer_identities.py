"""Editing a customer's email and phone identities through the API, on SQLite and
PostgreSQL: add, change, remove; a phone typed in national format is read in the
organisation's phone region; a value another customer holds is a 409 naming them (to merge
instead); a changed identity loses the old value's verification; every change audited; other
organisations' ids are 404s, bad input 422s."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.conftest import Running, World, login
from threadline.customers.models import Customer, Identity
from threadline.customers.services import add_identity
from threadline.orgs.models import AuditEntry, Organization
from threadline.orgs.services import do_create_org


async def _customer(server: Running, org_id: str, name: str, **identities: str) -> str:
    async with server.ctx.uow() as uow:
        customer = Customer(org_id=org_id, name=name)
        uow.session.add(customer)
        await uow.session.flush()
        for kind, value in identities.items():
            await add_identity(uow.session, customer, kind, value, verified=True)
        return customer.id


async def _audit(server: Running, customer_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with server.ctx.db.sessions() as session:
        rows = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.target == customer_id, AuditEntry.action.like("customer.identity.%"))
            .order_by(AuditEntry.id)
        )
        return [(row.action, row.data) for row in rows]


def _of(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [i for i in body["identities"] if i["kind"] == kind]


async def test_add_change_and_remove_identities(server: Running, world: World) -> None:
    async with server.ctx.uow() as uow:
        org = await uow.session.get(Organization, world.org_id)
        assert org is not None
        org.phone_region = "PT"
    ana = await _customer(server, world.org_id, "Ana Costa", phone="+351912345678")
    rui = await login(server, "rui@example.com")  # an agent edits customers
    try:
        url = f"/api/v1/customers/{ana}/identities"
        added = await rui.post(url, json={"kind": "phone", "value": "213 456 789"})
        assert added.status_code == 201, added.text
        phones = {i["value"]: i for i in _of(added.json(), "phone")}
        assert set(phones) == {"+351912345678", "+351213456789"}  # national, read as PT
        assert phones["+351912345678"]["verified"] and not phones["+351213456789"]["verified"]
        email = await rui.post(url, json={"kind": "email", "value": " Ana.Costa@Example.COM "})
        assert email.status_code == 201, email.text
        assert email.json()["email"] == "ana.costa@example.com"  # the profile's too

        # the verified phone changes: the new number is not proven
        verified = phones["+351912345678"]
        changed = await rui.patch(f"{url}/{verified['id']}", json={"value": "+351 919 999 999"})
        assert changed.status_code == 200, changed.text
        now = {i["id"]: i for i in changed.json()["identities"]}
        assert now[verified["id"]] == {
            "id": verified["id"],
            "kind": "phone",
            "value": "+351919999999",
            "verified": False,
        }
        assert changed.json()["phone"] == "+351919999999"
        # the same value again keeps it as it is
        again = await rui.patch(f"{url}/{verified['id']}", json={"value": "919 999 999"})
        assert again.status_code == 200

        removed = await rui.delete(f"{url}/{phones['+351213456789']['id']}")
        assert removed.status_code == 204
        after = (await rui.get(f"/api/v1/customers/{ana}")).json()
        assert [i["value"] for i in _of(after, "phone")] == ["+351919999999"]

        actions = [(a, d.get("value")) for a, d in await _audit(server, ana)]
        assert actions == [
            ("customer.identity.add", "+351213456789"),
            ("customer.identity.add", "ana.costa@example.com"),
            ("customer.identity.change", "+351919999999"),
            ("customer.identity.remove", "+351213456789"),
        ]
        change = (await _audit(server, ana))[2][1]
        assert change["was"] == "+351912345678" and change["was_verified"] is True
    finally:
        await rui.aclose()


async def test_someone_elses_identity_is_refused_naming_them(server: Running, world: World) -> None:
    marta = await _customer(server, world.org_id, "Marta Silva", email="marta@example.com")
    ana = await _customer(server, world.org_id, "Ana Costa", email="ana@example.com")
    admin = await login(server, "admin@example.com")
    try:
        url = f"/api/v1/customers/{ana}/identities"
        taken = await admin.post(url, json={"kind": "email", "value": "MARTA@example.com"})
        assert taken.status_code == 409, taken.text
        details = taken.json()["details"]
        assert details == {"field": "value", "customer_id": marta, "customer_name": "Marta Silva"}
        mine = _of((await admin.get(f"/api/v1/customers/{ana}")).json(), "email")[0]
        changed = await admin.patch(f"{url}/{mine['id']}", json={"value": "marta@example.com"})
        assert changed.status_code == 409 and changed.json()["details"]["customer_id"] == marta
        # the way out the page offers: merge the other customer into this one
        merged = await admin.post(f"/api/v1/customers/{ana}/merge", json={"source_id": marta})
        assert merged.status_code == 200, merged.text
        assert {i["value"] for i in _of(merged.json(), "email")} == {
            "ana@example.com",
            "marta@example.com",
        }
        assert await _audit(server, ana) == []  # nothing changed by the refusals
    finally:
        await admin.aclose()


async def test_bad_input_and_other_organisations(server: Running, world: World) -> None:
    other = await do_create_org(server.ctx, "other-bank", "Other Bank")
    theirs = await _customer(server, other.id, "Not ours", email="theirs@example.com")
    ana = await _customer(server, world.org_id, "Ana Costa", email="ana@example.com")
    async with server.ctx.db.sessions() as session:
        their_identity = await session.scalar(
            select(Identity.id).where(Identity.customer_id == theirs)
        )
        visitor = Identity(org_id=world.org_id, customer_id=ana, kind="visitor", value="v-1")
    async with server.ctx.uow() as uow:
        uow.session.add(visitor)
        await uow.session.flush()
        visitor_id = visitor.id
    rui = await login(server, "rui@example.com")
    try:
        url = f"/api/v1/customers/{ana}/identities"
        for body, where in [
            ({"kind": "phone", "value": "not a number"}, "value"),
            ({"kind": "phone", "value": "12"}, "value"),  # no region set: not a number
            ({"kind": "email", "value": "nobody@"}, "value"),
            ({"kind": "visitor", "value": "v-2"}, "kind"),
            ({"kind": "email", "value": ""}, "value"),
            ({"kind": "email"}, "value"),
        ]:
            refused = await rui.post(url, json=body)
            assert refused.status_code == 422, (body, refused.text)
            problem = refused.json()
            found = problem["details"].get("field") or problem["details"]["errors"][0]["loc"][-1]
            assert found == where, (body, problem)
        # only email and phone are edited here
        chat = await rui.patch(f"{url}/{visitor_id}", json={"value": "v-3"})
        assert chat.status_code == 422 and chat.json()["details"]["field"] == "kind"
        assert (await rui.delete(f"{url}/{visitor_id}")).status_code == 422
        # another organisation's customer or identity: 404
        elsewhere = f"/api/v1/customers/{theirs}/identities"
        assert (
            await rui.post(elsewhere, json={"kind": "email", "value": "a@b.pt"})
        ).status_code == 404
        assert (
            await rui.patch(f"{url}/{their_identity}", json={"value": "x@y.pt"})
        ).status_code == 404
        assert (await rui.delete(f"{url}/{their_identity}")).status_code == 404
        assert (await rui.delete(f"{url}/no-such-identity")).status_code == 404
        # theirs is untouched, and their email is free in this organisation
        free = await rui.post(url, json={"kind": "email", "value": "theirs@example.com"})
        assert free.status_code == 201, free.text
    finally:
        await rui.aclose()
