"""What a Meta webhook notification says, once parsed by its channel (plain data)."""

from __future__ import annotations

from collections.abc import Callable
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
