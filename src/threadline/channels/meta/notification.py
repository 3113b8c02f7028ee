"""What a Meta webhook notification says, once parsed by its channel (plain data), and the
inbound contract's two steps that WhatsApp and Messenger share: the signature check and the
reading of a notification into events for each number or page it speaks for."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from threadline.channels.contract import (
    EndpointConfig,
    InboundEvent,
    InboundMessage,
    InboundRequest,
    MalformedPayload,
    SignatureInvalid,
    Skipped,
    StatusUpdate,
)
from threadline.channels.meta.endpoint import MetaCredentials
from threadline.channels.meta.webhooks import SIGNATURE_HEADER, signature_valid


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


def verify_signature(endpoint: EndpointConfig, request: InboundRequest) -> None:
    """X-Hub-Signature-256 over the raw body, keyed with the app secret in the endpoint's
    secret; raises SignatureInvalid."""
    credentials = MetaCredentials.parse(endpoint.secret)
    signature = request.header(SIGNATURE_HEADER)
    if credentials is None or not signature_valid(credentials.app_secret, request.body, signature):
        raise SignatureInvalid("the webhook signature is missing or invalid")


def read_notification(
    channel: str, key: str, body: bytes, recipients: Recipients, parse: Parser
) -> list[InboundEvent]:
    """A notification's events for each endpoint it speaks for (`recipient`: that
    endpoint's key), in order; a part that could not be read is Skipped. Raises
    MalformedPayload when the body is not a notification of `channel`."""
    try:
        payload = json.loads(body)
        parts = {k: parse(k, payload) for k in recipients(key, payload)}
    except (ValueError, MalformedNotification) as exc:  # JSONDecodeError is a ValueError
        raise MalformedPayload(f"not a {channel} notification: {exc}") from None
    events: list[InboundEvent] = []
    for recipient, part in parts.items():
        events.extend(Skipped(r, unreadable=True, recipient=recipient) for r in part.skipped)
        events.extend(replace(m, recipient=recipient) for m in part.messages)
        events.extend(replace(u, recipient=recipient) for u in part.statuses)
    return events


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
