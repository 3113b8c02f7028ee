"""Telegram `Update` objects (as the Bot API posts them to a webhook) read into plain data.

Only private chats' `message` and `edited_message` updates carry a customer's words (text,
media, a location or venue, a contact), and their `callback_query` updates a button of an
inline keyboard the bot sent (a `ButtonTap`); every other well-formed update (groups,
channels, member changes, messages with nothing we keep, a game's callback) is `Ignored`
with its reason, so that the webhook still answers 200 and Telegram does not retry it.
Imports nothing from Threadline."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

# Media whose objects carry a file_id; a photo is a list of sizes (the last is the largest).
FILE_KINDS = ("document", "voice", "audio", "video", "video_note", "animation", "sticker")
FILE_FIELDS = (
    "file_id",
    "file_unique_id",
    "file_name",
    "mime_type",
    "file_size",
    "duration",
    "width",
    "height",
)
# What a bot may download through getFile (the Bot API's own limit): of a photo's sizes, the
# largest under it is kept.
DOWNLOAD_MAX_BYTES = 20 * 1024 * 1024
# "/start <payload>" from a t.me/<bot>?start=<payload> deep link: 1-64 of these characters
START = re.compile(r"/start(?:@\w+)?(?:\s+([A-Za-z0-9_-]{1,64}))?\s*")


class MalformedUpdate(ValueError):
    """A body that is not a Bot API Update, or a message without what every message has."""


@dataclass(frozen=True, slots=True)
class Sender:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p).strip()


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A private chat's message, or a new version of one (`edit_date` set)."""

    update_id: int
    chat_id: int
    message_id: int
    sender: Sender
    text: str
    date: int
    attachments: tuple[Mapping[str, Any], ...] = ()
    # a shared location (or venue), and contact cards, in the shape every channel shares
    location: Mapping[str, Any] | None = None
    contacts: tuple[Mapping[str, Any], ...] = ()
    edit_date: int | None = None
    start_payload: str | None = None
    reply_to_message_id: int | None = None


@dataclass(frozen=True, slots=True)
class ButtonTap:
    """A button of an inline keyboard tapped in a private chat (a `callback_query`): `data`
    is the button's callback_data, `text` its label as the keyboard of the bot's message
    shows it (the data itself when that message is too old to carry its keyboard).
    `query_id` identifies the tap: a retried update carries the same one, and the bot must
    answer it (answerCallbackQuery) to stop the client's spinner."""

    update_id: int
    query_id: str
    chat_id: int
    sender: Sender
    data: str
    text: str
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    """An update left aside; `unreadable` when it is an Update whose message lacks what
    every message has (acknowledged all the same: Telegram would retry it for a day)."""

    update_id: int
    reason: str
    unreadable: bool = False


def parse_update(data: Any) -> ChatMessage | ButtonTap | Ignored:
    """Raises MalformedUpdate when `data` is not an Update at all; an Update whose message
    cannot be read is `Ignored` (unreadable), with the reason."""
    if not isinstance(data, dict) or not _is_int(data.get("update_id")):
        raise MalformedUpdate("an update is a JSON object with an integer update_id")
    update_id: int = data["update_id"]
    if "callback_query" in data:
        try:
            return _button_tap(update_id, data["callback_query"])
        except MalformedUpdate as exc:
            return Ignored(update_id, str(exc), unreadable=True)
    kind = next((k for k in ("message", "edited_message") if k in data), None)
    if kind is None:
        other = next((k for k in data if k != "update_id"), "empty")
        return Ignored(update_id, f"{other} updates are not handled")
    try:
        return _chat_message(update_id, kind, data[kind])
    except MalformedUpdate as exc:
        return Ignored(update_id, str(exc), unreadable=True)


def _chat_message(update_id: int, kind: str, message: Any) -> ChatMessage | Ignored:
    chat = message.get("chat") if isinstance(message, dict) else None
    if not isinstance(chat, dict) or not _is_int(chat.get("id")):
        raise MalformedUpdate(f"{kind} needs a chat with an integer id")
    if not _is_int(message.get("message_id")):
        raise MalformedUpdate(f"{kind} needs an integer message_id")
    if chat.get("type") != "private":
        return Ignored(update_id, f"messages in {chat.get('type')!s} chats are not handled")
    sender = _sender(message.get("from"))
    if sender is None:
        raise MalformedUpdate(f"a private chat's {kind} needs `from` with an integer id")
    return _message(update_id, kind, message, chat["id"], sender)


def _message(
    update_id: int, kind: str, message: dict[str, Any], chat_id: int, sender: Sender
) -> ChatMessage | Ignored:
    text = _str(message.get("text")) or _str(message.get("caption")) or ""
    attachments = _attachments(message)
    location = _location(message)
    contact = _contact(message.get("contact"))
    if not text and not attachments and location is None and contact is None:
        return Ignored(update_id, "a message with nothing we keep (a poll, a dice, a game, ...)")
    start = START.fullmatch(text) if kind == "message" else None
    reply_to = message.get("reply_to_message")
    edit_date = message.get("edit_date")
    return ChatMessage(
        update_id=update_id,
        chat_id=chat_id,
        message_id=message["message_id"],
        sender=sender,
        text=text,
        date=message["date"] if _is_int(message.get("date")) else 0,
        attachments=attachments,
        location=location,
        contacts=(contact,) if contact is not None else (),
        edit_date=(edit_date if _is_int(edit_date) else 0) if kind == "edited_message" else None,
        start_payload=start.group(1) if start else None,
        reply_to_message_id=reply_to.get("message_id")
        if isinstance(reply_to, dict) and _is_int(reply_to.get("message_id"))
        else None,
    )


def _button_tap(update_id: int, query: Any) -> ButtonTap | Ignored:
    """A callback query from a button of a message the bot sent to a private chat; one
    from an inline-mode message (no `message`) or a game's button (no `data`) is Ignored."""
    if not isinstance(query, dict) or not _str(query.get("id")):
        raise MalformedUpdate("a callback_query needs a string id")
    sender = _sender(query.get("from"))
    if sender is None:
        raise MalformedUpdate("a callback_query needs `from` with an integer id")
    message, data = query.get("message"), _str(query.get("data"))
    if not isinstance(message, dict) or data is None:
        return Ignored(update_id, "callback queries without a message or data are not handled")
    chat = message.get("chat")
    if not isinstance(chat, dict) or not _is_int(chat.get("id")):
        raise MalformedUpdate("a callback_query's message needs a chat with an integer id")
    if chat.get("type") != "private":
        return Ignored(update_id, f"buttons in {chat.get('type')!s} chats are not handled")
    return ButtonTap(
        update_id=update_id,
        query_id=query["id"],
        chat_id=chat["id"],
        sender=sender,
        data=data,
        text=_button_text(message.get("reply_markup"), data) or data,
        message_id=message["message_id"] if _is_int(message.get("message_id")) else None,
    )


def _button_text(markup: Any, data: str) -> str | None:
    """The label of the inline keyboard's button that carries `data`."""
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    for row in rows if isinstance(rows, list) else ():
        for button in row if isinstance(row, list) else ():
            if isinstance(button, dict) and button.get("callback_data") == data:
                return _str(button.get("text"))
    return None


def _location(message: dict[str, Any]) -> dict[str, Any] | None:
    """A `location`, or a `venue` (a location with a title and an address)."""
    venue = message.get("venue") if isinstance(message.get("venue"), dict) else None
    raw = (venue or {}).get("location") or message.get("location")
    if not isinstance(raw, dict):
        return None
    latitude, longitude = raw.get("latitude"), raw.get("longitude")
    if not (_number(latitude) and _number(longitude)):
        raise MalformedUpdate("a location needs numeric latitude and longitude")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise MalformedUpdate("a location's coordinates are out of range")
    place: dict[str, Any] = {"latitude": float(latitude), "longitude": float(longitude)}
    if venue is not None:
        place |= {k: v for k in ("title", "address") if (v := _str(venue.get(k)))}
        if "title" in place:
            place["name"] = place.pop("title")
    if isinstance(raw.get("live_period"), int):
        place["live_period"] = raw["live_period"]
    return place


def _contact(raw: Any) -> dict[str, Any] | None:
    """A shared contact (`phone_number`, `first_name`, `last_name`, `user_id`) as a card."""
    if not isinstance(raw, dict) or not _str(raw.get("phone_number")):
        return None
    name = " ".join(p for p in (_str(raw.get("first_name")), _str(raw.get("last_name"))) if p)
    card: dict[str, Any] = {"name": name, "phones": [{"phone": raw["phone_number"]}], "emails": []}
    if _is_int(raw.get("user_id")):
        card["telegram_user_id"] = raw["user_id"]
    return card


def _sender(raw: Any) -> Sender | None:
    if not isinstance(raw, dict) or not _is_int(raw.get("id")):
        return None
    return Sender(
        id=raw["id"],
        first_name=_str(raw.get("first_name")) or "",
        last_name=_str(raw.get("last_name")),
        username=_str(raw.get("username")),
        language_code=_str(raw.get("language_code")),
    )


def _attachments(message: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Each media item's file metadata: the file itself is fetched later through getFile,
    whose download URL holds the bot token and so is never stored."""
    found: list[dict[str, Any]] = []
    photo = message.get("photo")
    if isinstance(photo, list) and (size := _largest(photo)) is not None:
        found.append(_file("photo", size))
    for kind in FILE_KINDS:
        if isinstance(message.get(kind), dict):
            found.append(_file(kind, message[kind]))
    return tuple(item for item in found if item.get("file_id"))


def _largest(sizes: list[Any]) -> dict[str, Any] | None:
    """The largest of a photo's sizes a bot may download (by pixels; a size whose weight is
    not given counts as fitting), else the smallest of them."""
    usable = [s for s in sizes if isinstance(s, dict) and isinstance(s.get("file_id"), str)]
    if not usable:
        return None

    def weight(size: dict[str, Any]) -> int:
        value = size.get("file_size")
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def pixels(size: dict[str, Any]) -> tuple[int, int]:
        width, height = size.get("width"), size.get("height")
        if isinstance(width, int) and isinstance(height, int):
            return width * height, weight(size)
        return 0, weight(size)

    fitting = [s for s in usable if weight(s) <= DOWNLOAD_MAX_BYTES]
    if fitting:
        return max(fitting, key=pixels)
    return min(usable, key=weight)


def _file(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, **{k: raw[k] for k in FILE_FIELDS if isinstance(raw.get(k), str | int)}}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
