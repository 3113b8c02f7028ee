"""What a Meta webhook notification says, once parsed by its channel (plain data)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from threadline.channels.contract import InboundMessage, StatusUpdate


class MalformedNotification(ValueError):
    """A correctly signed notification that does not have the shape Meta documents."""


@dataclass(frozen=True, slots=True)
class Notification:
    """`skipped`: why each part that could not be read was left out (logged, never a
    reason to refuse the rest)."""

    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    skipped: tuple[str, ...] = ()


# (an endpoint's key, the decoded JSON body) -> what it says for that endpoint (a phone
# number id, a page id); raises MalformedNotification
Parser = Callable[[str, Any], Notification]
# (the key of the endpoint whose URL was called, the decoded JSON body) -> the keys of the
# endpoints the notification speaks for, in order: one Meta app's webhook delivers for all
# its numbers and pages; raises MalformedNotification
Recipients = Callable[[str, Any], list[str]]


# (the context, the endpoint, a parsed message) -> the message with what the notification
# left out and the provider's API tells (Messenger: the sender's name); never raises
Enricher = Callable[[Any, Any, InboundMessage], Awaitable[InboundMessage]]


@dataclass(frozen=True, slots=True)
class Reader:
    """How a channel reads Meta's notifications."""

    recipients: Recipients
    parse: Parser
    enrich: Enricher | None = None


def as_object(value: Any) -> Mapping[str, Any]:
    """A JSON object of a notification (absent: empty); anything else is malformed."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedNotification(f"expected an object, got {type(value).__name__}")
    return value


def as_list(value: Any) -> list[Any]:
    """A JSON list of a notification (absent: empty); anything else is malformed."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedNotification(f"expected a list, got {type(value).__name__}")
    return value
