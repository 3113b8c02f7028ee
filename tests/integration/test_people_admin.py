"""Administration of people through the API: agents invited by a single-use, expiring link,
filtered by role, team and standing, deactivated and brought back; teams; the
organisation's settings; an agent's own API tokens listed and revoked."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from tests.conftest import PASSWORD, Running, World, login
from tests.integration.test_api_roles import assert_problem
from tests.integration.test_callbacks import POLICY, _set_policy, _waiting
from threadline.auth.invites import INVITE_MAX_AGE, INVITE_SALT, _fingerprint
from threadline.orgs.models import AuditEntry


def _token_of(invite_url: str) -> str:
    parts = urlsplit(invite_url)
    assert parts.path == "/invite" and not parts.query  # the token is never sent to a server
    return parts.fragment


async def test_an_invited_agent_sets_their_password_once(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")
    created = await admin.post(
        "/api/v1/agents",
        json={"email": "Ana@Example.com", "name": "Ana", "skills": {"general": 2}},
    )
    assert created.status_code == 201, created.text
    ana = created.json()
    assert ana["email"] == "ana@example.com" and ana["active"] is True
    token = _token_of(ana["invite_url"])

    async with server.client() as anonymous:
        # nobody can sign in as her before she has chosen a password
        refused = await anonymous.post(
            "/api/v1/auth/login", json={"email": "ana@example.com", "password": PASSWORD}
        )
        assert refused.status_code == 401
        checked = await anonymous.post("/api/v1/auth/invite/check", json={"token": token})
        assert checked.json() == {
            "name": "Ana",
            "email": "ana@example.com",
            "organisation": "Test Bank",
        }
        short = await anonymous.post(
            "/api/v1/auth/invite/accept", json={"token": token, "password": "short"}
        )
        assert_problem(short, 422)
        accepted = await anonymous.post(
            "/api/v1/auth/invite/accept", json={"token": token, "password": "ana's secret 1"}
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["agent_id"] == ana["id"]
        me = await anonymous.get("/api/v1/auth/me")  # signed in by the acceptance
        assert me.json()["name"] == "Ana"
        again = await anonymous.post(
            "/api/v1/auth/invite/accept", json={"token": token, "password": "a thief's pw 1"}
        )
        assert_problem(again, 422)
        assert "used" in again.json()["message"]
    async with server.client() as client:
        signed_in = await client.post(
            "/api/v1/auth/login", json={"email": "ana@example.com", "password": "ana's secret 1"}
        )
        assert signed_in.status_code == 200

    # a fresh link for someone who lost theirs; a forged one opens nothing
    fresh = await admin.post(f"/api/v1/agents/{ana['id']}/invite")
    assert fresh.status_code == 201 and _token_of(fresh.json()["invite_url"])
    async with server.client() as anonymous:
        forged = await anonymous.post(
            "/api/v1/auth/invite/check", json={"token": token[:-4] + "AAAA"}
        )
        assert_problem(forged, 422)
    await admin.aclose()


class _SignedLastMonth(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time() - INVITE_MAX_AGE.total_seconds() - timedelta(hours=1).seconds)


async def test_an_old_invitation_has_expired(server: Running, world: World) -> None:
    agent = world.agents["olga"]
    secret = server.ctx.settings.secret_key.get_secret_value()
    claims = {"a": agent.id, "p": _fingerprint(agent.password_hash)}
    fresh = URLSafeTimedSerializer(secret, salt=INVITE_SALT).dumps(claims)
    late = URLSafeTimedSerializer(secret, salt=INVITE_SALT, signer=_SignedLastMonth).dumps(claims)
    async with server.client() as anonymous:
        ok = await anonymous.post("/api/v1/auth/invite/check", json={"token": fresh})
        assert ok.status_code == 200
        expired = await anonymous.post("/api/v1/auth/invite/check", json={"token": late})
        assert_problem(expired, 422)


async def test_agents_are_filtered_deactivated_and_brought_back(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    team = (await admin.post("/api/v1/teams", json={"name": "Cards team"})).json()
    olga_id = world.agents["olga"].id
    moved = await admin.patch(f"/api/v1/agents/{olga_id}", json={"team_id": team["id"]})
    assert moved.json()["team_id"] == team["id"]
    in_team = await admin.get("/api/v1/agents", params={"team_id": team["id"]})
    assert [a["name"] for a in in_team.json()] == ["Olga"]
    supervisors = await admin.get("/api/v1/agents", params={"role": "supervisor"})
    assert [a["name"] for a in supervisors.json()] == ["Nikos"]
    nowhere = await admin.patch(f"/api/v1/agents/{olga_id}", json={"team_id": "no-such-team"})
    assert_problem(nowhere, 422)
    assert nowhere.json()["details"]["field"] == "team_id"

    olga = await login(server, "olga@example.com")
    await olga.put("/api/v1/agents/me/presence", json={"presence": "available"})
    off = await admin.patch(f"/api/v1/agents/{olga_id}", json={"active": False})
    assert off.json()["active"] is False and off.json()["presence"] == "offline"
    assert (await olga.get("/api/v1/auth/me")).status_code == 401  # signed out
    listed = [a["name"] for a in (await admin.get("/api/v1/agents")).json()]
    assert "Olga" not in listed
    gone = await admin.get("/api/v1/agents", params={"standing": "inactive"})
    assert [a["name"] for a in gone.json()] == ["Olga"]
    rui = await login(server, "rui@example.com")
    assert_problem(await rui.get("/api/v1/agents", params={"standing": "all"}), 403)
    myself = await admin.patch(f"/api/v1/agents/{world.agents['admin'].id}", json={"active": False})
    assert_problem(myself, 422)

    back = await admin.patch(f"/api/v1/agents/{olga_id}", json={"active": True})
    assert back.json()["active"] is True
    olga_again = await login(server, "olga@example.com")  # she may sign in again
    for client in (admin, olga, rui, olga_again):
        await client.aclose()


async def test_teams(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")
    nikos = world.agents["nikos"].id
    made = await admin.post("/api/v1/teams", json={"name": "Lisbon", "supervisor_id": nikos})
    assert made.status_code == 201, made.text
    team = made.json()
    assert team["supervisor_id"] == nikos and team["member_ids"] == []
    taken = await admin.post("/api/v1/teams", json={"name": "Lisbon"})
    assert_problem(taken, 409)
    not_a_supervisor = await admin.patch(
        f"/api/v1/teams/{team['id']}", json={"supervisor_id": world.agents["rui"].id}
    )
    assert_problem(not_a_supervisor, 422)
    assert not_a_supervisor.json()["details"]["field"] == "supervisor_id"
    await admin.patch(f"/api/v1/agents/{world.agents['rui'].id}", json={"team_id": team["id"]})
    listed = (await admin.get("/api/v1/teams")).json()
    assert listed[0]["member_ids"] == [world.agents["rui"].id]
    rui = await login(server, "rui@example.com")
    assert_problem(await rui.post("/api/v1/teams", json={"name": "Mine"}), 403)
    assert (await rui.get(f"/api/v1/teams/{team['id']}")).status_code == 200
    deleted = await admin.delete(f"/api/v1/teams/{team['id']}")
    assert deleted.status_code == 204
    assert (await admin.get(f"/api/v1/agents/{world.agents['rui'].id}")).json()["team_id"] is None
    for client in (admin, rui):
        await client.aclose()


async def test_organisation_settings(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")
    start = (await admin.get("/api/v1/org/settings")).json()
    assert start["phone_region"] is None and start["languages"] == ["en"]
    for body, field in [
        ({"phone_region": "XX"}, "phone_region"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "   "}, "name"),
    ]:
        wrong = await admin.patch("/api/v1/org/settings", json=body)
        assert_problem(wrong, 422)
        assert wrong.json()["details"]["field"] == field, wrong.text
    bad_language = await admin.patch("/api/v1/org/settings", json={"languages": ["Portuguese"]})
    assert_problem(bad_language, 422)
    saved = await admin.patch(
        "/api/v1/org/settings",
        json={"phone_region": "pt", "timezone": "Europe/Lisbon", "languages": ["pt", "en", "pt"]},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["phone_region"] == "PT"
    assert saved.json()["languages"] == ["pt", "en"]
    assert saved.json()["timezone"] == "Europe/Lisbon"
    async with server.ctx.db.sessions() as db:
        entry = await db.scalar(select(AuditEntry).where(AuditEntry.action == "org.settings"))
    assert entry is not None and entry.data["after"]["phone_region"] == "PT"
    rui = await login(server, "rui@example.com")
    assert_problem(await rui.get("/api/v1/org/settings"), 403)
    for client in (admin, rui):
        await client.aclose()


@pytest.mark.parametrize("who", ["admin@example.com"])
async def test_tokens_are_listed_without_their_secret(
    server: Running, world: World, who: str
) -> None:
    client = await login(server, who)
    made = (await client.post("/api/v1/auth/tokens", json={"name": "crm"})).json()
    listed = (await client.get("/api/v1/auth/tokens")).json()
    assert [t["name"] for t in listed] == ["crm"]
    assert "token" not in listed[0]
    async with server.client(headers={"Authorization": f"Bearer {made['token']}"}) as bearer:
        assert (await bearer.get("/api/v1/auth/me")).status_code == 200
        assert (await client.delete(f"/api/v1/auth/tokens/{made['id']}")).status_code == 204
        assert (await bearer.get("/api/v1/auth/me")).status_code == 401
    assert (await client.get("/api/v1/auth/tokens")).json() == []
    assert_problem(await client.delete(f"/api/v1/auth/tokens/{made['id']}"), 404)
    await client.aclose()


async def test_national_numbers_are_read_in_the_organisation_phone_region(
    server: Running, world: World
) -> None:
    await _set_policy(server, world.queues["general"].id, POLICY)
    contact = await _waiting(server, world, "v-national")
    admin = await login(server, "admin@example.com")
    national = {"phone": "912 345 678"}
    refused = await admin.post(f"/api/v1/contacts/{contact.id}/callback", json=national)
    assert_problem(refused, 422)  # no region: a national number means nothing
    await admin.patch("/api/v1/org/settings", json={"phone_region": "PT"})
    made = await admin.post(f"/api/v1/contacts/{contact.id}/callback", json=national)
    assert made.status_code == 201, made.text
    assert made.json()["phone"] == "+351912345678"
    await admin.aclose()
