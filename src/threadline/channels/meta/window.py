"""The customer-service window (WhatsApp, Messenger): a business may send free-form
messages only within 24 hours of the customer's last message on that channel; outside it,
only an approved template (WhatsApp) goes. Pure: the caller passes `now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)


def window_open(
    last_inbound_at: datetime | None, now: datetime, length: timedelta = WINDOW
) -> bool:
    """Whether a free-form message may go at `now`: the customer wrote less than `length`
    ago. A customer who never wrote on the channel has no window."""
    return last_inbound_at is not None and now - last_inbound_at < length


@dataclass(frozen=True, slots=True)
class ServiceWindow:
    """An adapter's declaration (`service_window`): the outbox refuses a free-form message
    outside it with `refusal`."""

    refusal: str
    length: timedelta = WINDOW

    def is_open(self, last_inbound_at: datetime | None, now: datetime) -> bool:
        return window_open(last_inbound_at, now, self.length)
