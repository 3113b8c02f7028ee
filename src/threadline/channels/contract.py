"""The channel adapter contract: every channel (chat, SMS, email, ...) speaks its provider's
protocol behind this small interface and hands the core plain, frozen data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True, slots=True)
class Capabilities:
    text: bool = True
    media: bool = False
    voice: bool = False
    typing: bool = False
    read_receipts: bool = False


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A customer's message, normalised. `client_msg_id` / `provider_msg_id` make retries
    idempotent: the same id is stored once."""

    channel: str
    identity_kind: str
    identity_value: str
    body: str
    client_msg_id: str | None = None
    provider_msg_id: str | None = None
    sender_name: str | None = None
    language: str | None = None
    attachments: tuple[Mapping[str, Any], ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    channel: str
    to: str
    body: str
    thread_id: str
    event_id: int


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    provider_msg_id: str
    status: str  # queued|sent|delivered|read|failed
    error: str | None = None


class ChannelAdapter(Protocol):
    """What every channel package provides."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    verifies_signatures: ClassVar[bool]
