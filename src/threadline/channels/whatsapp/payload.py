"""WhatsApp Cloud API notifications, read into plain data (pure).

Shape: `{"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{"field":
"messages", "value": {"metadata": {"phone_number_id": ...}, "contacts": [{"wa_id": ...,
"profile": {"name": ...}}], "messages": [...], "statuses": [...]}}]}]}`. A message's
`from` is the customer's wa_id (their phone number's digits): it becomes a `phone`
identity in E.164, so the same person on SMS and WhatsApp is one customer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers

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

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}


def parse_notification(phone_number_id: str, payload: Any) -> Notification:
    """The messages and delivery reports for this phone number id (changes for other
    numbers of the same business account are skipped); raises MalformedNotification."""
    _check_object(payload)
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    for value in _values(payload):
        metadata = _dict(value.get("metadata"))
        if str(metadata.get("phone_number_id", phone_number_id)) != phone_number_id:
            continue
        names = _profile_names(value.get("contacts"))
        messages.extend(_message(_dict(m), names) for m in _list(value.get("messages")))
        statuses.extend(s for s in map(_status, _list(value.get("statuses"))) if s)
    return Notification(tuple(messages), tuple(statuses))


def recipients(default: str, payload: Any) -> list[str]:
    """The phone number ids the notification is for (`metadata.phone_number_id` of each
    change; a change without one is for `default`, the number whose URL was called)."""
    _check_object(payload)
    found = (
        str(_dict(v.get("metadata")).get("phone_number_id", default)) for v in _values(payload)
    )
    return list(dict.fromkeys(found))


def _check_object(payload: Any) -> None:
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise MalformedNotification("object is not whatsapp_business_account")


def wa_id_to_e164(wa_id: str) -> str:
    """ "351912345678" -> "+351912345678"; raises MalformedNotification."""
    digits = wa_id.removeprefix("+")
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        raise MalformedNotification(f"not a WhatsApp id: {wa_id!r}") from None
    if not digits.isdigit() or not phonenumbers.is_possible_number(number):
        raise MalformedNotification(f"not a WhatsApp id: {wa_id!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _values(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise MalformedNotification("entry is not a list")
    values = []
    for entry in entries:
        for change in _list(_dict(entry).get("changes")):
            change = _dict(change)
            if change.get("field", "messages") == "messages":
                values.append(_dict(change.get("value")))
    return values


def _message(message: Mapping[str, Any], names: Mapping[str, str]) -> InboundMessage:
    wamid, sender, kind = message.get("id"), message.get("from"), message.get("type")
    if not isinstance(wamid, str) or not wamid or not isinstance(sender, str):
        raise MalformedNotification("a message needs id and from")
    body, attachments = _content(str(kind), message)
    data: dict[str, Any] = {"whatsapp_type": kind}
    if isinstance(context := message.get("context"), dict) and context.get("id"):
        data["in_reply_to"] = str(context["id"])  # the wamid the customer answered
    return InboundMessage(
        channel="whatsapp",
        identity_kind="phone",
        identity_value=wa_id_to_e164(sender),
        body=body,
        provider_msg_id=wamid,
        sender_name=names.get(sender),
        attachments=attachments,
        data=data,
    )


def _content(kind: str, message: Mapping[str, Any]) -> tuple[str, tuple[dict[str, Any], ...]]:
    """The text shown on the timeline and the attachments' metadata (media stay at Meta:
    their id fetches them through the Graph API)."""
    part = _dict(message.get(kind))
    if kind == "text":
        return str(part.get("body", "")), ()
    if kind in MEDIA_TYPES:
        media = {"type": kind, "media_id": str(part.get("id", ""))}
        for name in ("mime_type", "sha256", "filename", "caption"):
            if part.get(name):
                media[name] = str(part[name])
        return str(part.get("caption", "")), (media,)
    if kind == "location":
        place = {k: part[k] for k in ("latitude", "longitude", "name", "address") if k in part}
        label = ", ".join(str(part[k]) for k in ("name", "address") if part.get(k))
        where = f"{part.get('latitude')}, {part.get('longitude')}"
        return f"Location: {label} ({where})" if label else f"Location: {where}", (
            {"type": "location", **place},
        )
    if kind == "button":
        return str(part.get("text", "")), ()
    if kind == "interactive":
        reply = _dict(part.get("button_reply") or part.get("list_reply"))
        return str(reply.get("title", "")), ()
    if kind == "reaction":
        return str(part.get("emoji", "")), ()
    return f"(a WhatsApp {kind} message Threadline does not show)", ()


def _status(raw: Any) -> StatusUpdate | None:
    status = _dict(raw)
    wamid, state = status.get("id"), STATUSES.get(str(status.get("status")))
    if not isinstance(wamid, str) or not wamid:
        raise MalformedNotification("a status needs id")
    if state is None:
        return None  # e.g. "deleted", "warning": nothing the outbox tracks
    error = None
    if state == "failed":
        errors = [_dict(e) for e in _list(status.get("errors"))]
        error = (
            "; ".join(
                f"{e.get('title') or e.get('message') or 'error'} (error {e.get('code')})"
                for e in errors
            )
            or "failed"
        )
    return StatusUpdate(provider_msg_id=wamid, status=state, error=error)


def _profile_names(contacts: Any) -> dict[str, str]:
    names = {}
    for contact in _list(contacts):
        contact = _dict(contact)
        name = _dict(contact.get("profile")).get("name")
        if isinstance(contact.get("wa_id"), str) and isinstance(name, str) and name:
            names[contact["wa_id"]] = name
    return names
