"""Providers that say "slow down, come back in N seconds": the Retry-After header read, the
outbox's wait never shorter than asked, and Meta's throttling codes (sent with HTTP 400)
read as retryable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from tests.fakes.meta import (
    ACCESS_TOKEN,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    running_fake_graph,
)
from threadline.channels.contract import (
    MAX_RETRY_AFTER_S,
    EndpointConfig,
    OutboundMessage,
    SendFailed,
    retry_after_seconds,
)
from threadline.channels.outbox import backoff_delay, retry_delay
from threadline.channels.whatsapp.adapter import WhatsAppAdapter

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_seconds("120", NOW) == 120
    assert retry_after_seconds(" 0 ", NOW) == 0
    later = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds(later, NOW) == 90
    earlier = format_datetime(NOW - timedelta(minutes=5), usegmt=True)
    assert retry_after_seconds(earlier, NOW) == 0  # already past: no extra wait
    assert retry_after_seconds("99999999", NOW) == MAX_RETRY_AFTER_S
    for unreadable in (None, "", "soon", "-5", "1.5e3", "Tue, 3 Nov 2026 12:00:00"):
        assert retry_after_seconds(unreadable, NOW) is None, unreadable


@pytest.mark.parametrize("attempt", [1, 2, 5, 12])
def test_the_outbox_waits_at_least_what_the_provider_asked(attempt: int) -> None:
    ours = backoff_delay(attempt, 1.0, 60.0, 0.5)
    assert retry_delay(attempt, 1.0, 60.0, 0.5, None) == ours
    assert retry_delay(attempt, 1.0, 60.0, 0.5, 0.1) == ours  # ours is longer: ours
    assert retry_delay(attempt, 1.0, 60.0, 0.5, 300.0) == 300.0  # past our cap too


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (400, 130429, True),  # WhatsApp: throughput reached
        (400, 131056, True),  # WhatsApp: too many messages to one recipient
        (400, 80007, True),  # WhatsApp: business account rate limit
        (403, 4, True),  # application request limit
        (400, 131026, False),  # message undeliverable
        (400, 100, False),  # invalid parameter
    ],
)
async def test_graph_throttling_codes_are_retryable_whatever_the_status(
    status: int, code: int, retryable: bool
) -> None:
    adapter = WhatsAppAdapter(timeout_s=5)
    async with running_fake_graph() as graph:
        graph.fail_with, graph.fail_code, graph.retry_after = status, code, 30
        settings = {"verify_token": VERIFY_TOKEN, "api_base": graph.base_url}
        secret = json.dumps({"app_secret": APP_SECRET, "access_token": ACCESS_TOKEN})
        endpoint = EndpointConfig(
            "e1", "whatsapp", PHONE_NUMBER_ID, adapter.configure(PHONE_NUMBER_ID, settings), secret
        )
        message = OutboundMessage("whatsapp", "+351912345678", "hi", "t1", 1, "k1")
        with pytest.raises(SendFailed) as failed:
            await adapter.send(endpoint, message)
    await adapter.aclose()
    assert failed.value.retryable is retryable
    assert f"error {code}" in failed.value.message
    assert failed.value.retry_after_s == 30
