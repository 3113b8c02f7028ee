"""What a Meta webhook notification says, once parsed by its channel (plain data)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from threadline.channels.contract import InboundMessage, StatusUpdate


class MalformedNotification(ValueError):
    """A correctly signed notification that does not have the shape Meta documents."""


@dataclass(frozen=True, slots=True)
class Notification:
    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()


# (the endpoint's key, the decoded JSON body) -> what it says; raises MalformedNotification
Parser = Callable[[str, Any], Notification]


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
