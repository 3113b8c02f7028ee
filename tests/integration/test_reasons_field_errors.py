"""The taxonomy's refusals name their field (SQLite and PostgreSQL), so the admin page can
show each beside its field: `details.field` for the taxonomy's own checks."""

from __future__ import annotations

from typing import Any

from tests.conftest import Running, World, login


async def test_each_refusal_names_its_field(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")

    async def refused(method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        response = await admin.request(method, path, json=body)
        return response.status_code, (response.json().get("details") or {}).get("field")

    for body in (
        {"code": "cards", "labels": {"en": "Cards"}},
        {"code": "card_lost", "parent": "cards", "labels": {"en": "Lost"}, "wrapup": ["lost"]},
    ):
        assert (await admin.post("/api/v1/reasons", json=body)).status_code == 201
    assert await refused("POST", "/api/v1/reasons", {"code": "cards", "labels": {"en": "X"}}) == (
        409,
        "code",
    )
    taken = {"code": "loans", "labels": {"en": "Loans"}, "wrapup": ["lost"]}
    assert await refused("POST", "/api/v1/reasons", taken) == (409, "wrapup")
    orphan = {"code": "loans", "labels": {"en": "Loans"}, "parent": "nothing"}
    assert await refused("POST", "/api/v1/reasons", orphan) == (422, "parent")
    three_levels = {"code": "deep", "labels": {"en": "Deep"}, "parent": "card_lost"}
    assert await refused("POST", "/api/v1/reasons", three_levels) == (422, "parent")
    assert (
        await admin.post("/api/v1/reasons", json={"code": "loans", "labels": {"en": "L"}})
    ).is_success
    assert await refused("PATCH", "/api/v1/reasons/cards", {"parent": "loans"}) == (422, "parent")
    assert await refused("PATCH", "/api/v1/reasons/cards", {"ivr": None}) == (422, "ivr")
    await admin.aclose()
