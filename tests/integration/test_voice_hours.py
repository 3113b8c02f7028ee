"""A caller whose IVR choice leads to a queue outside its business hours, or on one of its
holidays, is told the line is closed and the call ends: no contact waits for nobody
(routing/hours.py, as the widget says it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.conftest import Running, World, count
from tests.fakes.twilio import FakeTwilio
from tests.integration.test_voice import CALLER, NUMBER, gather_action, said, twiml, url
from tests.integration.test_voice import twilio as twilio
from tests.integration.test_voice import voice as voice
from threadline.routing.hours import DAYS
from threadline.routing.models import Contact, Queue


async def _close_today(server: Running, queue_id: str, label: str) -> None:
    today = datetime.now(UTC).date()
    async with server.ctx.uow() as uow:
        queue = await uow.session.get(Queue, queue_id)
        assert queue is not None
        queue.business_hours = {
            "timezone": "UTC",
            "days": {day: [["00:00", "24:00"]] for day in DAYS},
            "holidays": [
                {"date": today.replace(year=2024).isoformat(), "label": label, "yearly": True}
            ],
        }


async def test_a_caller_choosing_a_queue_on_its_holiday_hears_it_is_closed(
    server: Running,
    world: World,
    twilio: FakeTwilio,
    voice: dict[str, Any],
) -> None:
    await _close_today(server, world.queues["cards"].id, "Anniversary")
    root = twiml(await twilio.call_webhook(url(server), "CA9", CALLER, NUMBER, "ringing"))
    root = twiml(await twilio.call_webhook(gather_action(root), "CA9", CALLER, NUMBER, Digits="1"))
    closed = twiml(
        await twilio.call_webhook(gather_action(root), "CA9", CALLER, NUMBER, Digits="1")
    )
    assert said(closed) == ["Sorry, we are closed now. Please call again during our opening hours."]
    assert closed.find("Hangup") is not None
    assert await count(server, Contact) == 0
    # the other option's queue is open: that call waits as usual (the caller's language is
    # known now: straight to the menu)
    root = twiml(await twilio.call_webhook(url(server), "CA10", CALLER, NUMBER, "ringing"))
    hold = twiml(await twilio.call_webhook(gather_action(root), "CA10", CALLER, NUMBER, Digits="2"))
    assert hold.find("Hangup") is None and hold.findtext("Redirect")
    assert await count(server, Contact) == 1
