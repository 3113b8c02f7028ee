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
    numbers of the same business account are skipped); raises MalformedNotification when
    the notification itself has not Meta's shape. One message or report that cannot be
    read is skipped with its reason (`Notification.skipped`), never the whole notification:
    Meta would retry it, and lose the rest with it."""
    _check_object(payload)
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    skipped: list[str] = []
    for value in _values(payload):
        metadata = _dict(value.get("metadata"))
        if str(metadata.get("phone_number_id", phone_number_id)) != phone_number_id:
            continue
        names = _profile_names(value.get("contacts"))
        for raw in _list(value.get("messages")):
            try:
                if (message := _message(_dict(raw), names)) is not None:
                    messages.append(message)
            except MalformedNotification as exc:
                skipped.append(f"message: {exc}")
        for raw in _list(value.get("statuses")):
            try:
                if (status := _status(raw)) is not None:
                    statuses.append(status)
            except MalformedNotification as exc:
                skipped.append(f"status: {exc}")
    return Notification(tuple(messages), tuple(statuses), tuple(skipped))


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


def _message(message: Mapping[str, Any], names: Mapping[str, str]) -> InboundMessage | None:
    """One customer message; None for what carries nothing for the thread (a `system`
    notice). Raises MalformedNotification."""
    wamid, sender, kind = message.get("id"), message.get("from"), message.get("type")
    if not isinstance(wamid, str) or not wamid or not isinstance(sender, str):
        raise MalformedNotification("a message needs id and from")
    if not isinstance(kind, str) or not kind:
        raise MalformedNotification(f"message {wamid} has no type")
    if kind == "system":
        return None  # "the customer changed their number" and the like: no words of theirs
    common: dict[str, Any] = {
        "channel": "whatsapp",
        "identity_kind": "phone",
        "identity_value": wa_id_to_e164(sender),
        "provider_msg_id": wamid,
        "sender_name": names.get(sender),
    }
    if kind == "reaction":
        reaction = _dict(message.get("reaction"))
        target = reaction.get("message_id")
        if not isinstance(target, str) or not target:
            raise MalformedNotification(f"reaction {wamid} names no message")
        emoji = reaction.get("emoji")
        return InboundMessage(
            body=emoji if isinstance(emoji, str) else "",  # no emoji: the reaction is removed
            kind="reaction",
            relates_to=target,
            data={"whatsapp_type": kind},
            **common,
        )
    if kind == "edit":
        edit = _dict(message.get("edit"))
        target, new = edit.get("original_message_id"), _dict(edit.get("message"))
        if not isinstance(target, str) or not target:
            raise MalformedNotification(f"edit {wamid} names no original message")
        new_kind = str(new.get("type") or "text")
        body, attachments, data = _content(new_kind, new)
        return InboundMessage(
            body=body,
            attachments=attachments,
            kind="edit",
            relates_to=target,
            data={"whatsapp_type": new_kind, **data},
            **common,
        )
    body, attachments, data = _content(kind, message)
    if isinstance(context := message.get("context"), dict) and context.get("id"):
        data["in_reply_to"] = str(context["id"])  # the wamid the customer answered
    return InboundMessage(
        body=body, attachments=attachments, data={"whatsapp_type": kind, **data}, **common
    )


def _content(
    kind: str, message: Mapping[str, Any]
) -> tuple[str, tuple[dict[str, Any], ...], dict[str, Any]]:
    """The text shown on the timeline, the attachments' metadata (media stay at Meta: their
    id fetches them through the Graph API) and what else the message is (a location, contact
    cards), in the shape every channel shares. A type Threadline does not know is kept as
    such (`data.unsupported`), with the error Meta gives for it, if any."""
    if kind == "contacts":
        cards = [c for c in (_card(_dict(raw)) for raw in _list(message.get("contacts"))) if c]
        return "", (), {"contacts": cards}
    part = _dict(message.get(kind)) if isinstance(message.get(kind), dict) else {}
    if kind == "text":
        return str(part.get("body", "")), (), {}
    if kind in MEDIA_TYPES:
        media = {"type": kind, "media_id": str(part.get("id", ""))}
        for name in ("mime_type", "filename", "caption"):
            if part.get(name):
                media[name] = str(part[name])
        if part.get("sha256"):  # Meta's digest (base64); `sha256` names bytes kept here
            media["provider_sha256"] = str(part["sha256"])
        return str(part.get("caption", "")), (media,), {}
    if kind == "location":
        return "", (), {"location": _location(part)}
    if kind == "button":
        return str(part.get("text", "")), (), {}
    if kind == "interactive":
        reply = _dict(part.get("button_reply") or part.get("list_reply"))
        chosen = {"reply_id": str(reply["id"])} if reply.get("id") else {}
        return str(reply.get("title", "")), (), chosen
    errors = [_dict(e) for e in _list(message.get("errors"))]
    reason = "; ".join(str(e.get("title") or e.get("message") or "") for e in errors)
    return "", (), {"unsupported": {"type": kind, **({"reason": reason} if reason else {})}}


def _location(part: Mapping[str, Any]) -> dict[str, Any]:
    try:
        latitude, longitude = float(part["latitude"]), float(part["longitude"])
    except (KeyError, TypeError, ValueError):
        raise MalformedNotification("a location needs latitude and longitude") from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise MalformedNotification("a location's coordinates are out of range")
    place: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    for name in ("name", "address", "url"):
        if isinstance(part.get(name), str) and part[name]:
            place[name] = part[name]
    return place


def _card(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """A shared contact as a card: its name, phones, emails and organisation."""
    name = _dict(raw.get("name"))
    full = name.get("formatted_name") or " ".join(
        str(name[k]) for k in ("first_name", "last_name") if name.get(k)
    )
    phones = [
        {"phone": str(p["phone"]), **({"type": str(p["type"])} if p.get("type") else {})}
        for p in map(_dict, _list(raw.get("phones")))
        if p.get("phone")
    ]
    emails = [
        {"email": str(e["email"]), **({"type": str(e["type"])} if e.get("type") else {})}
        for e in map(_dict, _list(raw.get("emails")))
        if e.get("email")
    ]
    org = _dict(raw.get("org")).get("company")
    if not full and not phones and not emails:
        return None
    card: dict[str, Any] = {"name": str(full or ""), "phones": phones, "emails": emails}
    if org:
        card["org"] = str(org)
    return card


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
