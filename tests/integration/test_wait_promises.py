"""What a waiting customer is told about the wait agrees with routing's one estimate on every
channel: a caller whose contact is being offered to an agent hears their place and no made-up
wait; on SQLite and PostgreSQL (the wording of ranges: tests/unit/i18n/test_waits.py)."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Running, World, eventually
from tests.fakes.twilio import FakeTwilio
from tests.integration.test_voice import (  # the fixtures and helpers of the voice tests
    call_into_queue,
    contact_of,
    next_turn,
    offered,
    said,
    twilio,
    voice,
)
from tests.integration.test_voice_connect import available

__all__ = ["twilio", "voice"]  # fixtures, imported for pytest


async def test_a_caller_being_offered_to_an_agent_hears_no_made_up_wait(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    root = await call_into_queue(server, twilio, "CA-w1", ("1", "2"))  # English, General
    rui = await available(server, "rui@example.com")
    await offered(rui)  # routing offers the contact: it is no longer waiting in its queue

    async def is_offered() -> bool:
        return (await contact_of(server, "CA-w1")).status == "offered"

    await eventually(is_offered)
    redirect = root.findtext("Redirect") or ""
    root.find("Redirect").text = re.sub(r"turn=\d+", "turn=5", redirect)  # type: ignore[union-attr]
    spoken = " ".join(said(await next_turn(twilio, root, "CA-w1")))
    assert "You are number 1 in the queue." in spoken, spoken
    assert "minute" not in spoken, spoken  # no wait but routing's estimate is ever promised
    await rui.aclose()
