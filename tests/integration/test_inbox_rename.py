"""Renaming (and recolouring) labels and renaming macros through the API, on SQLite and
PostgreSQL: a supervisor's to change (an agent gets 403), a name another label or macro of
the organisation has is a 409 naming the field, another organisation's id is a 404, bad input
a 422 with its reason; each change is audited with what it was before."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.conftest import Running, World, login
from threadline.inbox.models import Label, Macro
from threadline.orgs.models import AuditEntry
from threadline.orgs.services import do_create_org


async def _audited(server: Running, target: str, action: str) -> list[dict[str, Any]]:
    async with server.ctx.db.sessions() as session:
        found = await session.scalars(
            select(AuditEntry).where(AuditEntry.target == target, AuditEntry.action == action)
        )
        return [entry.data for entry in found]


async def _elsewhere(server: Running) -> tuple[str, str]:
    """A label and a macro of another organisation."""
    other = await do_create_org(server.ctx, "other-bank", "Other Bank")
    async with server.ctx.uow() as uow:
        label = Label(org_id=other.id, name="Theirs", colour="#000000")
        macro = Macro(org_id=other.id, name="Theirs", label_ids=[])
        uow.session.add_all([label, macro])
        await uow.session.flush()
        return label.id, macro.id


async def test_a_supervisor_renames_and_recolours_a_label(server: Running, world: World) -> None:
    their_label, _ = await _elsewhere(server)
    nikos = await login(server, "nikos@example.com")
    rui = await login(server, "rui@example.com")
    try:
        cards = (await nikos.post("/api/v1/labels", json={"name": "Cards"})).json()
        await nikos.post("/api/v1/labels", json={"name": "Fraud", "colour": "#dc2626"})
        url = f"/api/v1/labels/{cards['id']}"

        renamed = await nikos.put(url, json={"name": " Card delivery ", "colour": "#1F5FBF"})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json() == {"id": cards["id"], "name": "Card delivery", "colour": "#1f5fbf"}
        listed = (await rui.get("/api/v1/labels")).json()
        assert {x["name"] for x in listed} == {"Card delivery", "Fraud"}
        assert await _audited(server, cards["id"], "label.update") == [
            {
                "name": "Card delivery",
                "colour": "#1f5fbf",
                "was_name": "Cards",
                "was_colour": "#6b7280",
            }
        ]

        taken = await nikos.put(url, json={"name": "fraud", "colour": "#1f5fbf"})
        assert taken.status_code == 409, taken.text
        assert taken.json()["code"] == "conflict" and taken.json()["details"] == {"field": "name"}
        same = await nikos.put(url, json={"name": "card DELIVERY", "colour": "#00ff00"})
        assert same.status_code == 200, same.text  # its own name, in other letters: no clash

        assert (await rui.put(url, json={"name": "Mine", "colour": "#000000"})).status_code == 403
        bad = await nikos.put(url, json={"name": "Cards", "colour": "blue"})
        assert bad.status_code == 422 and bad.json()["details"]["errors"][0]["loc"][-1] == "colour"
        assert (await nikos.put(url, json={"name": "   "})).status_code == 422
        elsewhere = await nikos.put(
            f"/api/v1/labels/{their_label}", json={"name": "Ours", "colour": "#000000"}
        )
        assert elsewhere.status_code == 404
        missing = await nikos.put("/api/v1/labels/nope", json={"name": "X", "colour": "#000000"})
        assert missing.status_code == 404
    finally:
        await nikos.aclose()
        await rui.aclose()


async def test_a_supervisor_renames_a_macro(server: Running, world: World) -> None:
    _, their_macro = await _elsewhere(server)
    nikos = await login(server, "nikos@example.com")
    rui = await login(server, "rui@example.com")
    try:
        body = {"name": "Card on its way", "reply": "It is on its way.", "then": "resolve"}
        body["resolve_reason"] = "answered"
        card = (await nikos.post("/api/v1/macros", json=body)).json()
        await nikos.post(
            "/api/v1/macros", json={"name": "Close", "then": "resolve", "resolve_reason": "done"}
        )
        url = f"/api/v1/macros/{card['id']}"

        renamed = await nikos.put(url, json={**body, "name": "Card sent"})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["name"] == "Card sent"
        assert renamed.json()["reply"] == "It is on its way."
        assert await _audited(server, card["id"], "macro.update") == [
            {"name": "Card sent", "was_name": "Card on its way"}
        ]

        taken = await nikos.put(url, json={**body, "name": "CLOSE"})
        assert taken.status_code == 409, taken.text
        assert taken.json()["details"]["errors"][0]["loc"] == ["body", "name"]
        assert (await rui.put(url, json={**body, "name": "Mine"})).status_code == 403
        assert (await nikos.put(url, json={**body, "name": ""})).status_code == 422
        elsewhere = await nikos.put(f"/api/v1/macros/{their_macro}", json={**body, "name": "X"})
        assert elsewhere.status_code == 404
    finally:
        await nikos.aclose()
        await rui.aclose()
