"""Telegram callback queries (a button of an inline keyboard tapped) read into plain data:
the button's text from the keyboard of the bot's message, the callback data, the query's
id; what is not a tap in a private chat is left aside with its reason."""

from __future__ import annotations

from typing import Any

from threadline.channels.contract import EndpointConfig, OutboundMessage
from threadline.channels.messenger.adapter import message_object
from threadline.channels.telegram.adapter import TelegramAdapter
from threadline.channels.telegram.updates import ButtonTap, Ignored, parse_update

KEYBOARD = {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}


def _query(**changes: Any) -> dict[str, Any]:
    query: dict[str, Any] = {
        "id": "4382bfdwdsb323b2d9",
        "from": {"id": 7, "is_bot": False, "first_name": "Ana", "language_code": "pt-br"},
        "message": {
            "message_id": 30,
            "chat": {"id": 7, "type": "private"},
            "date": 1,
            "text": "Did it help?",
            "reply_markup": KEYBOARD,
        },
        "chat_instance": "-1",
        "data": "yes",
    }
    return {"update_id": 9, "callback_query": {**query, **changes}}


def test_a_tap_names_its_button_and_its_query() -> None:
    tap = parse_update(_query())
    assert isinstance(tap, ButtonTap)
    assert (tap.query_id, tap.chat_id, tap.data, tap.text, tap.message_id) == (
        "4382bfdwdsb323b2d9",
        7,
        "yes",
        "Yes",
        30,
    )


def test_a_message_too_old_to_carry_its_keyboard_gives_the_data_as_text() -> None:
    old = {"message_id": 30, "chat": {"id": 7, "type": "private"}, "date": 0}
    tap = parse_update(_query(message=old))
    assert isinstance(tap, ButtonTap) and tap.text == "yes"


def test_what_is_not_a_tap_in_a_private_chat_is_left_aside() -> None:
    group = {"message_id": 1, "chat": {"id": -100, "type": "supergroup"}, "date": 1}
    inline = _query(inline_message_id="AAA")
    del inline["callback_query"]["message"]
    game = _query(game_short_name="tetris")
    del game["callback_query"]["data"]
    for update in (_query(message=group), inline, game):
        assert isinstance(parse_update(update), Ignored)
    for broken in (_query(id=5), _query(**{"from": None}), _query(message={"chat": {}})):
        ignored = parse_update(broken)
        assert isinstance(ignored, Ignored) and ignored.unreadable


async def test_a_tap_is_the_customers_message_keyed_by_its_query() -> None:
    adapter = TelegramAdapter("https://threadline.test")
    endpoint = EndpointConfig("e-1", "telegram", "demo_bank_bot", {}, "1:token")
    tap = parse_update(_query())
    assert isinstance(tap, ButtonTap)
    message = adapter.tapped(endpoint, tap)
    await adapter.aclose()
    assert message.body == "Yes" and message.language == "pt"
    assert message.provider_msg_id == "demo_bank_bot:callback:4382bfdwdsb323b2d9"
    assert message.data["callback_data"] == "yes" and message.data["endpoint_id"] == "e-1"


def test_messenger_sends_quick_replies_with_the_text() -> None:
    quick = ({"content_type": "text", "title": "Yes", "payload": "yes"},)
    message = OutboundMessage("messenger", "123", "Did it help?", "t-1", 1, quick_replies=quick)
    assert message_object(message) == {"text": "Did it help?", "quick_replies": [dict(quick[0])]}
    plain = OutboundMessage("messenger", "123", "Hi", "t-1", 2)
    assert message_object(plain) == {"text": "Hi"}
