"""Callback booking windows from the queue's forecast (Context.forecasts, planning/forecasts.py)
instead of the mean of past weeks, on SQLite and PostgreSQL: a window the forecast fills is
not offered; with too little history the mean of past weeks decides, as before."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import CALLBACK_POLICY, Running, World, login
from threadline.customers.models import Customer
from threadline.planning.forecasts import QueueForecasts
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread


class FixedForecasts:
    """The Context.forecasts protocol with a forecast given by the test: `peaks` contacts in
    the windows starting then, none elsewhere; None (no tested forecast) when `peaks` is."""

    def __init__(self, peaks: dict[datetime, float] | None) -> None:
        self.peaks = peaks
        self.asked: list[str] = []

    async def expected(
        self, org_id: str, queue_id: str, windows: Sequence[tuple[datetime, datetime]]
    ) -> list[float] | None:
        self.asked.append(queue_id)
        if self.peaks is None:
            return None
        return [self.peaks.get(start, 0.0) for start, _ in windows]


async def _windows(client: httpx.AsyncClient, queue_id: str) -> list[str]:
    response = await client.get(f"/api/v1/queues/{queue_id}/callback-windows")
    assert response.status_code == 200, response.text
    return [str(w["start"]) for w in response.json()]


async def _policy(server: Running, queue_id: str) -> None:
    async with server.ctx.uow() as uow:
        await uow.session.execute(
            update(Queue).where(Queue.id == queue_id).values(callback_policy=CALLBACK_POLICY)
        )


async def _seed(server: Running, world: World, queue_id: str, moments: list[datetime]) -> None:
    async with server.ctx.uow() as uow:
        customer = Customer(org_id=world.org_id, name="History")
        uow.session.add(customer)
        await uow.session.flush()
        thread = Thread(org_id=world.org_id, customer_id=customer.id)
        uow.session.add(thread)
        await uow.session.flush()
        for moment in moments:
            uow.session.add(
                Contact(
                    org_id=world.org_id,
                    thread_id=thread.id,
                    customer_id=customer.id,
                    queue_id=queue_id,
                    channel="voice",
                    status="ended",
                    enqueued_at=moment,
                )
            )


def _peak_window(starts: list[str]) -> datetime:
    """A window half a day ahead (the windows listed cover the next 24 hours)."""
    later = [datetime.fromisoformat(s) for s in starts]
    goal = datetime.now(UTC) + timedelta(hours=12)
    return min(later, key=lambda s: abs(s - goal))


async def test_a_window_the_forecast_fills_is_not_offered(server: Running, world: World) -> None:
    queue_id = world.queues["cards"].id
    await _policy(server, queue_id)
    rui = await login(server, "rui@example.com")
    before = await _windows(rui, queue_id)
    peak = _peak_window(before)
    server.ctx.forecasts = FixedForecasts({peak: 40.0})  # 3 agents cannot take 40 in 30 min
    after = await _windows(rui, queue_id)
    assert server.ctx.forecasts.asked == [queue_id]  # type: ignore[attr-defined]
    assert {datetime.fromisoformat(s) for s in before} - {
        datetime.fromisoformat(s) for s in after
    } == {peak}
    # no tested forecast: the mean of the same window in past weeks decides (none came)
    server.ctx.forecasts = FixedForecasts(None)
    assert await _windows(rui, queue_id) == before
    await rui.aclose()


async def test_without_a_forecast_the_mean_of_past_weeks_decides(
    server: Running, world: World
) -> None:
    queue_id = world.queues["cards"].id
    await _policy(server, queue_id)
    rui = await login(server, "rui@example.com")
    peak = _peak_window(await _windows(rui, queue_id))
    # 40 contacts in the same window each of the last 4 weeks: a mean of 40
    weeks = [peak - timedelta(weeks=w) for w in (1, 2, 3, 4)]
    moments = [m + timedelta(seconds=40 * k) for m in weeks for k in range(40)]
    await _seed(server, world, queue_id, moments)
    server.ctx.forecasts = FixedForecasts(None)
    assert peak not in {datetime.fromisoformat(s) for s in await _windows(rui, queue_id)}
    await rui.aclose()


async def test_the_queues_own_forecast_makes_a_daily_peak_unavailable(
    server: Running, world: World
) -> None:
    queue_id = world.queues["cards"].id
    await _policy(server, queue_id)
    rui = await login(server, "rui@example.com")
    before = await _windows(rui, queue_id)
    peak = _peak_window(before)
    # four weeks with 30 contacts at that time of day, every day
    moments = [
        peak - timedelta(days=d) + timedelta(seconds=50 * k)
        for d in range(1, 29)
        for k in range(30)
    ]
    await _seed(server, world, queue_id, moments)
    forecasts = QueueForecasts(server.ctx)
    server.ctx.forecasts = forecasts
    expected = await forecasts.expected(
        world.org_id, queue_id, [(peak, peak + timedelta(minutes=30))]
    )
    assert expected is not None and expected[0] == pytest.approx(30, abs=3)
    after = {datetime.fromisoformat(s) for s in await _windows(rui, queue_id)}
    assert peak not in after
    assert peak - timedelta(hours=3) in after  # a quiet time of day stays open

    # a queue with under two weeks of history has no tested forecast: None, the mean decides
    general = world.queues["general"].id
    await _seed(server, world, general, [peak - timedelta(days=d) for d in range(1, 6)])
    assert await forecasts.expected(world.org_id, general, [(peak, peak)]) is None
    await rui.aclose()
