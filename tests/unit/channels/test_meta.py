"""Meta's pure pieces: the 24-hour window rule, the webhook signature and handshake, and the
WhatsApp notification reader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.channels.contract import InboundMessage
from threadline.channels.meta.notification import MalformedNotification
from threadline.channels.meta.webhooks import (
    handshake_challenge,
    sign,
    signature_valid,
    token_digest,
)
from threadline.channels.meta.window import WINDOW, window_open
from threadline.channels.whatsapp.payload import parse_notification, wa_id_to_e164

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def test_the_window_is_open_for_24_hours_after_the_customers_last_message() -> None:
    assert window_open(NOW - timedelta(hours=23, minutes=59), NOW)
    assert not window_open(NOW - timedelta(hours=24), NOW)
    assert not window_open(NOW - timedelta(days=3), NOW)
    assert not window_open(None, NOW)  # never wrote: no window
    assert window_open(NOW - timedelta(minutes=5), NOW, timedelta(minutes=10))


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)))
def test_the_window_is_exactly_the_age_of_the_last_message(age: timedelta) -> None:
    assert window_open(NOW - age, NOW) == (age < WINDOW)


def test_signatures_are_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"object":"whatsapp_business_account"}'
    header = sign("app-secret", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert signature_valid("app-secret", body, header)
    assert not signature_valid("app-secret", body + b" ", header)
    assert not signature_valid("other-secret", body, header)
    assert not signature_valid("app-secret", body, header.removeprefix("sha256="))
    assert not signature_valid("app-secret", body, None)
    assert not signature_valid("", body, sign("", body))  # no secret configured: refuse


def test_the_handshake_echoes_the_challenge_only_for_the_right_token() -> None:
    digest = token_digest("the-token")
    ok = {"hub.mode": "subscribe", "hub.verify_token": "the-token", "hub.challenge": "42"}
    assert handshake_challenge(ok, digest) == "42"
    assert handshake_challenge({**ok, "hub.verify_token": "other"}, digest) is None
    assert handshake_challenge({**ok, "hub.mode": "x"}, digest) is None
    assert handshake_challenge(ok, "") is None


def test_a_wa_id_is_a_phone_number() -> None:
    assert wa_id_to_e164("351912345678") == "+351912345678"
    assert wa_id_to_e164("+15551234567") == "+15551234567"
    for wrong in ("", "abc", "12", "35191234567a"):
        with pytest.raises(MalformedNotification):
            wa_id_to_e164(wrong)


def test_notifications_for_another_number_of_the_account_are_skipped() -> None:
    value = {
        "metadata": {"phone_number_id": "222"},
        "messages": [{"from": "351912345678", "id": "wamid.1", "type": "text", "text": {}}],
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"field": "messages", "value": value}]}],
    }
    assert parse_notification("111", payload).messages == ()
    [message] = parse_notification("222", payload).messages
    assert message.identity_value == "+351912345678" and message.provider_msg_id == "wamid.1"


def test_locations_and_unknown_types_are_kept_as_what_they_are() -> None:
    def one(kind: str, content: dict[str, object]) -> InboundMessage:
        message = {"from": "351912345678", "id": "wamid.1", "type": kind, kind: content}
        payload = {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"value": {"messages": [message]}}]}],
        }
        return parse_notification("111", payload).messages[0]

    place = one("location", {"latitude": 38.7, "longitude": -9.1, "name": "Branch"})
    assert place.body == ""
    assert place.data["location"] == {"latitude": 38.7, "longitude": -9.1, "name": "Branch"}
    unknown = one("poll", {"question": "?"})
    assert unknown.body == "" and unknown.data["unsupported"] == {"type": "poll"}
