"""Messenger Platform notifications, read into plain data (pure).

Shape: `{"object": "page", "entry": [{"id": PAGE_ID, "messaging": [event, ...]}]}`; an event
has `sender.id` (the customer's page-scoped id, PSID) and one of `message` (mid, text,
attachments; `is_echo` for the page's own sends, skipped), `postback` (a button tapped) or
`delivery` (the mids delivered), or `reaction` (to a mid; react or unreact). `read` events
carry only a watermark time and are not tracked per message. A `sender.id` is the PSID:
the customer's name comes from the Graph API's user profile (see messenger/services.py)."""

from __future__ import annotations

import hashlib
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
    """The messages, reactions and delivery reports for this page (other pages' entries are
    skipped); raises MalformedNotification when the notification itself has not Meta's
    shape. An event that cannot be read is skipped with its reason, never the whole
    notification (Meta would retry it, and lose the rest with it)."""
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    skipped: list[str] = []
    for entry in _entries(payload):
        if str(entry.get("id", page_id)) != page_id:
            continue
        for raw in _list(entry.get("messaging")):
            try:
                event = _dict(raw)
                if (message := _message(event)) is not None:
                    messages.append(message)
                delivery = _dict(event.get("delivery"))
                statuses.extend(
                    StatusUpdate(provider_msg_id=str(mid), status="delivered")
                    for mid in _list(delivery.get("mids"))
                    if mid
                )
            except MalformedNotification as exc:
                skipped.append(f"event: {exc}")
    return Notification(tuple(messages), tuple(statuses), tuple(skipped))


def _message(event: Mapping[str, Any]) -> InboundMessage | None:
    message, postback = _dict(event.get("message")), _dict(event.get("postback"))
    reaction = _dict(event.get("reaction"))
    if not message and not postback and not reaction:
        return None  # delivery, read, optin, referral, ...: no words of the customer
    if message.get("is_echo"):
        return None  # the page's own message, sent by us or from the Page inbox
    psid = _dict(event.get("sender")).get("id")
    if not isinstance(psid, str | int) or isinstance(psid, bool) or not str(psid):
        raise MalformedNotification("an event needs sender.id")
    psid = str(psid)
    if reaction:
        return _reaction(event, psid, reaction)
    if postback:
        return _postback(event, psid, postback)
    mid = message.get("mid")
    if not isinstance(mid, str) or not mid:
        raise MalformedNotification("a message needs a mid")
    attachments: list[dict[str, Any]] = []
    data: dict[str, Any] = {}
    for raw in map(_dict, _list(message.get("attachments"))):
        if raw.get("type") == "location":
            data["location"] = _location(raw)
        else:
            attachments.append(_attachment(raw))
    if quick := _dict(message.get("quick_reply")).get("payload"):
        data["quick_reply"] = str(quick)
    if reply_to := _dict(message.get("reply_to")).get("mid"):
        data["in_reply_to"] = str(reply_to)
    return InboundMessage(
        channel="messenger",
        identity_kind="messenger",
        identity_value=psid,
        body=str(message.get("text") or ""),
        provider_msg_id=mid,
        attachments=tuple(attachments),
        data=data,
    )


def _postback(event: Mapping[str, Any], psid: str, postback: Mapping[str, Any]) -> InboundMessage:
    """A button tapped. Postbacks carry a mid only sometimes: without one, the same tap
    delivered again must still be stored once, so its key is derived from what identifies
    it (sender, time and payload)."""
    payload = str(postback.get("payload", ""))
    mid = postback.get("mid")
    if not isinstance(mid, str) or not mid:
        mid = derived_id("postback", psid, event.get("timestamp"), payload)
    return InboundMessage(
        channel="messenger",
        identity_kind="messenger",
        identity_value=psid,
        body=str(postback.get("title") or ""),
        provider_msg_id=mid,
        data={"postback": payload},
    )


def _reaction(event: Mapping[str, Any], psid: str, reaction: Mapping[str, Any]) -> InboundMessage:
    """A reaction (`action` react) or its removal (unreact) on a message, named by mid."""
    target = reaction.get("mid")
    if not isinstance(target, str) or not target:
        raise MalformedNotification("a reaction needs the mid it reacts to")
    action = str(reaction.get("action") or "react")
    emoji = str(reaction.get("emoji") or "") if action == "react" else ""
    return InboundMessage(
        channel="messenger",
        identity_kind="messenger",
        identity_value=psid,
        body=emoji,
        provider_msg_id=derived_id("reaction", psid, event.get("timestamp"), target, action),
        kind="reaction",
        relates_to=target,
        data={"reaction": str(reaction.get("reaction") or "")} if reaction.get("reaction") else {},
    )


def derived_id(kind: str, *parts: Any) -> str:
    """A stable id for an event Meta gives none: the same event delivered again maps to the
    same id (and so is stored once), different events to different ids."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
    return f"{kind}.{digest[:40]}"


def _location(attachment: Mapping[str, Any]) -> dict[str, Any]:
    payload = _dict(attachment.get("payload"))
    coordinates = _dict(payload.get("coordinates"))
    try:
        latitude, longitude = float(coordinates["lat"]), float(coordinates["long"])
    except (KeyError, TypeError, ValueError):
        raise MalformedNotification("a location needs coordinates.lat and .long") from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise MalformedNotification("a location's coordinates are out of range")
    place: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if isinstance(title := attachment.get("title") or payload.get("title"), str) and title:
        place["name"] = title
    return place


def _attachment(attachment: Mapping[str, Any]) -> dict[str, Any]:
    payload = _dict(attachment.get("payload"))
    found: dict[str, Any] = {"type": str(attachment.get("type", "file"))}
    for name in ("url", "title", "sticker_id"):
        if payload.get(name):
            found[name] = payload[name]
    return found
