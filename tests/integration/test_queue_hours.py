"""Queues' business hours through the API (issue 13 §1): holidays with labels (one-off or
yearly) are stored and honoured by the widget's "we're closed"; a malformed week or holiday is
refused with the path of the faulty field; admin changes are audited; other roles are refused."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from tests.conftest import Running, World, login
from threadline.orgs.models import AuditEntry
from threadline.routing.hours import DAYS


async def test_a_yearly_holiday_closes_the_widget_and_is_audited(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    queue_id = world.queues["general"].id
    today = datetime.now(UTC).date()
    hours = {
        "timezone": "UTC",
        "days": {day: [["00:00", "12:00"], ["12:00", "24:00"]] for day in DAYS},
        # a yearly holiday first set years ago still closes today
        "holidays": [
            {"date": today.replace(year=2024).isoformat(), "label": "Founders' day", "yearly": True}
        ],
    }
    body = {"name": "General", "required_skills": ["general"], "business_hours": hours}
    response = await admin.put(f"/api/v1/queues/{queue_id}", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["business_hours"]["holidays"][0]["label"] == "Founders' day"

    async with server.client() as visitor:
        session = await visitor.post(f"/api/v1/widget/{world.widget.key}/session", json={})
    assert session.status_code == 200, session.text
    assert session.json()["open"] is False
    tomorrow = today + timedelta(days=1)
    assert datetime.fromisoformat(session.json()["opens_at"]) == datetime.combine(
        tomorrow, time(), UTC
    )

    async with server.ctx.db.sessions() as db:
        entries = list(
            await db.scalars(
                select(AuditEntry)
                .where(AuditEntry.target == queue_id)
                .order_by(AuditEntry.created_at)
            )
        )
    # the world's queue was seeded without an admin: only the admin's change is audited
    assert [(e.action, e.actor_agent_id, e.data) for e in entries] == [
        ("queue.update", world.agents["admin"].id, {"fields": ["business_hours"]})
    ]
    await admin.aclose()


async def test_a_faulty_week_or_holiday_is_refused_naming_the_field(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    for hours, where in (
        ({"days": {"mon": [["09:00", "13:00"], ["12:30", "18:00"]]}}, "days.mon[1]: overlaps"),
        ({"holidays": [{"date": "2026-13-01", "label": "x"}]}, "holidays[0].date:"),
        ({"holidays": [{"date": "2026-12-25", "yearly": "every"}]}, "holidays[0].yearly:"),
    ):
        response = await admin.post(
            "/api/v1/queues", json={"name": "Loans", "business_hours": hours}
        )
        assert response.status_code == 422, response.text
        (error,) = response.json()["details"]["errors"]
        assert error["loc"] == ["body", "business_hours"]
        assert where in error["msg"]
    await admin.aclose()
