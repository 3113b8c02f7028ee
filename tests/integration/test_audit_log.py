"""The audit log over HTTP: admins read who did what to which record and when, filtered by
action (or a family), person, record and time, newest first and paged by id; supervisors
and agents are refused; another organisation's entries never show (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import Running, World, login
from threadline.orgs.models import AuditEntry
from threadline.orgs.services import audit, do_create_org


async def test_admins_read_the_log_filtered_and_paged(server: Running, world: World) -> None:
    admin_id = world.agents["admin"].id
    async with server.ctx.uow() as uow:
        for n in range(7):
            audit(uow.session, world.org_id, admin_id, "queue.update", f"q{n}", n=n)
        audit(uow.session, world.org_id, admin_id, "customer.export", "c1")
        audit(uow.session, world.org_id, None, "customer.erase", "c2", identities=2)
    other = await do_create_org(server.ctx, "other-bank", "Other Bank")
    async with server.ctx.uow() as uow:
        audit(uow.session, other.id, None, "customer.erase", "elsewhere")
    admin = await login(server, "admin@example.com")
    try:
        everything = (await admin.get("/api/v1/audit", params={"limit": 200})).json()
        targets = [e["target"] for e in everything["entries"]]
        assert "elsewhere" not in targets
        assert targets[:2] == ["c2", "c1"]  # newest first
        first = everything["entries"][1]
        assert first["actor_name"] == "Admin" and first["action"] == "customer.export"
        assert everything["entries"][0]["actor_name"] is None  # done by Threadline itself

        family = (await admin.get("/api/v1/audit", params={"action": "customer."})).json()
        assert [e["target"] for e in family["entries"]] == ["c2", "c1"]
        exact = (await admin.get("/api/v1/audit", params={"action": "customer.erase"})).json()
        assert [e["data"] for e in exact["entries"]] == [{"identities": 2}]
        mine = (await admin.get("/api/v1/audit", params={"actor_id": admin_id})).json()
        assert {e["actor_id"] for e in mine["entries"]} == {admin_id}
        one = (await admin.get("/api/v1/audit", params={"target": "q3"})).json()
        assert [e["data"] for e in one["entries"]] == [{"n": 3}]

        page1 = (await admin.get("/api/v1/audit", params={"action": "queue.", "limit": 3})).json()
        assert [e["target"] for e in page1["entries"]] == ["q6", "q5", "q4"]
        page2 = (
            await admin.get(
                "/api/v1/audit",
                params={"action": "queue.", "limit": 3, "before_id": page1["next_before_id"]},
            )
        ).json()
        assert [e["target"] for e in page2["entries"]] == ["q3", "q2", "q1"]
        page3 = (
            await admin.get(
                "/api/v1/audit",
                params={"action": "queue.", "limit": 3, "before_id": page2["next_before_id"]},
            )
        ).json()
        assert [e["target"] for e in page3["entries"]] == ["q0"]
        assert page3["next_before_id"] is None

        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        later = (await admin.get("/api/v1/audit", params={"since": future})).json()
        assert later["entries"] == []
        actions = (await admin.get("/api/v1/audit/actions")).json()["actions"]
        assert {"customer.erase", "customer.export", "queue.update"} <= set(actions)
        assert actions == sorted(set(actions))  # each once, in order

        for bad in (
            {"since": "2026-12-06T10:00:00"},  # no offset
            {"since": future, "until": "2020-01-01T00:00:00Z"},
            {"limit": 0},
            {"before_id": -1},
        ):
            refused = await admin.get("/api/v1/audit", params=bad)
            assert refused.status_code == 422, (bad, refused.text)
    finally:
        await admin.aclose()


async def test_only_admins_read_it(server: Running, world: World) -> None:
    for email in ("nikos@example.com", "rui@example.com"):
        client = await login(server, email)
        try:
            assert (await client.get("/api/v1/audit")).status_code == 403
            assert (await client.get("/api/v1/audit/actions")).status_code == 403
        finally:
            await client.aclose()
    async with server.client() as anonymous:
        assert (await anonymous.get("/api/v1/audit")).status_code == 401


async def test_a_real_admin_action_lands_in_the_log(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")
    try:
        done = await admin.put("/api/v1/org/retention", json={"content_days": 90})
        assert done.status_code == 200
        log = (await admin.get("/api/v1/audit", params={"action": "org.retention"})).json()
    finally:
        await admin.aclose()
    (entry,) = log["entries"]
    assert entry["actor_id"] == world.agents["admin"].id
    assert entry["data"] == {"before": None, "after": 90}
    assert AuditEntry.__tablename__ == "audit_log"
