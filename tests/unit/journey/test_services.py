"""The journey's pure parts: what a replaced contact carries, the one-line summary of what
the customer entered, the time zone a device tells."""

from __future__ import annotations

import pytest

from threadline.customers.models import Customer
from threadline.errors import Conflict
from threadline.journey.services import (
    Request,
    remember_zone,
    replaceable,
    request_of,
    summary,
)
from threadline.routing.models import Contact


def contact(status: str = "queued", **context: object) -> Contact:
    return Contact(
        queue_id="q1", min_tier=2, reason="billing", status=status, context=dict(context)
    )


def test_a_replaced_contact_carries_its_queue_tier_reason_and_what_was_entered() -> None:
    request = request_of(contact(answers={"plan": "pro"}))
    assert request == Request("q1", 2, "billing", {"answers": {"plan": "pro"}})


def test_what_a_contact_carries_is_a_copy() -> None:
    waiting = contact(answers={})
    request_of(waiting).entered["via"] = "app"
    assert "via" not in waiting.context


@pytest.mark.parametrize("status", ["queued", "offered"])
def test_a_waiting_contact_may_be_replaced(status: str) -> None:
    waiting = contact(status)
    assert replaceable(waiting) is waiting


@pytest.mark.parametrize(
    ("waiting", "why"),
    [
        (contact("assigned"), "no longer waiting"),
        (contact("abandoned"), "no longer waiting"),
        (contact(callback_id="cb-1"), "keeps its place"),
    ],
)
def test_a_contact_answered_gone_or_kept_for_a_callback_may_not(waiting: Contact, why: str) -> None:
    with pytest.raises(Conflict, match=why):
        replaceable(waiting)


@pytest.mark.parametrize(
    ("entered", "line"),
    [
        ({"reason": "billing", "answers": {"plan": "pro", "n": 2}}, "billing · plan: pro; n: 2"),
        ({"reason": "billing", "answers": {}}, "billing"),
        ({"answers": {"plan": "pro"}}, "plan: pro"),
        ({}, ""),
    ],
)
def test_what_the_customer_entered_reads_as_one_line(entered: dict, line: str) -> None:
    assert summary(entered) == line


@pytest.mark.parametrize(
    ("known", "told", "kept"),
    [
        (None, "Europe/Lisbon", "Europe/Lisbon"),
        ("Europe/Athens", "Europe/Lisbon", "Europe/Athens"),  # the first one told stays
        (None, "Mars/Olympus", None),  # not a zone
        (None, "../../etc/passwd", None),
        (None, None, None),
    ],
)
def test_the_zone_a_device_tells_is_kept_once_and_only_if_real(
    known: str | None, told: str | None, kept: str | None
) -> None:
    customer = Customer(timezone=known)
    remember_zone(customer, told)
    assert customer.timezone == kept
