"""Messenger Platform notifications, read into plain data (pure).

Shape: `{"object": "page", "entry": [{"id": PAGE_ID, "messaging": [event, ...]}]}`; an event
has `sender.id` (the customer's page-scoped id, PSID) and one of `message` (mid, text,
attachments; `is_echo` for the page's own sends, skipped), `postback` (a button tapped) or
`delivery` (the mids delivered). `read` events carry only a watermark time and are not
tracked per message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from threadline.channels.contract import InboundMessage, StatusUpdate
from threadline.channels.meta.notification import (
    MalformedNotification,
    Notification,
)
from threadline.channels.meta.notification import (
    as_list as _list,
)
from threadline.channels.meta.notification import (
    as_object as _dict,
)


def recipients(default: str, payload: Any) -> list[str]:
    """The page ids the notification is for (each entry's `id`; an entry without one is for
    `default`, the page whose URL was called)."""
    found = (str(entry.get("id", default)) for entry in _entries(payload))
    return list(dict.fromkeys(found))


def _entries(payload: Any) -> list[Mapping[str, Any]]:
    if not isinstance(payload, dict) or payload.get("object") != "page":
        raise MalformedNotification("object is not page")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise MalformedNotification("entry is not a list")
    return [_dict(entry) for entry in entries]


def parse_notification(page_id: str, payload: Any) -> Notification:
    """The messages and delivery reports for this page (other pages' entries are skipped);
    raises MalformedNotification."""
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    for entry in _entries(payload):
        if str(entry.get("id", page_id)) != page_id:
            continue
        for event in map(_dict, _list(entry.get("messaging"))):
            if (message := _message(event)) is not None:
                messages.append(message)
            delivery = _dict(event.get("delivery"))
            statuses.extend(
                StatusUpdate(provider_msg_id=str(mid), status="delivered")
                for mid in _list(delivery.get("mids"))
                if mid
            )
    return Notification(tuple(messages), tuple(statuses))


def _message(event: Mapping[str, Any]) -> InboundMessage | None:
    message, postback = _dict(event.get("message")), _dict(event.get("postback"))
    if not message and not postback:
        return None
    if message.get("is_echo"):
        return None  # the page's own message, sent by us or from the Page inbox
    psid = _dict(event.get("sender")).get("id")
    mid = message.get("mid") or postback.get("mid")
    if not isinstance(psid, str) or not psid or not isinstance(mid, str) or not mid:
        raise MalformedNotification("a message needs sender.id and mid")
    attachments = tuple(_attachment(_dict(a)) for a in _list(message.get("attachments")))
    body = str(message.get("text") or postback.get("title") or "")
    return InboundMessage(
        channel="messenger",
        identity_kind="messenger",
        identity_value=psid,
        body=body,
        provider_msg_id=mid,
        attachments=attachments,
        data={"postback": str(postback.get("payload", ""))} if postback else {},
    )


def _attachment(attachment: Mapping[str, Any]) -> dict[str, Any]:
    payload = _dict(attachment.get("payload"))
    found: dict[str, Any] = {"type": str(attachment.get("type", "file"))}
    for name in ("url", "title", "sticker_id"):
        if payload.get(name):
            found[name] = payload[name]
    if isinstance(coordinates := payload.get("coordinates"), dict):
        found.update({k: coordinates[k] for k in ("lat", "long") if k in coordinates})
    return found
