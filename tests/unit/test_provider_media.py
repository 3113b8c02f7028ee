"""Where a provider's media is fetched from: Meta's access token goes only to Meta's media
hosts (or the configured Graph API host), and of a Telegram photo's sizes the largest the
Bot API lets a bot download is the one kept."""

from __future__ import annotations

from typing import Any

from threadline.channels.meta.endpoint import meta_media_url
from threadline.channels.provider_media import content_type_of, same_origin
from threadline.channels.telegram.updates import DOWNLOAD_MAX_BYTES, ChatMessage, parse_update

GRAPH = "https://graph.facebook.com"


def test_meta_media_urls_are_on_metas_hosts_only() -> None:
    assert meta_media_url(
        "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1&ext=2&hash=3", GRAPH
    )
    assert meta_media_url("https://scontent.xx.fbcdn.net/v/t1.jpg?oh=1", GRAPH)
    assert meta_media_url(
        "http://127.0.0.1:8123/whatsapp_business/attachments/", "http://127.0.0.1:8123"
    )
    for url in (
        "http://lookaside.fbsbx.com/a",  # not https
        "https://lookaside.fbsbx.com.evil.example/a",
        "https://evilfbsbx.com/a",
        "https://lookaside.fbsbx.com:8443/a",
        "https://127.0.0.1/a",
        "http://127.0.0.1:8124/a",  # another port than the configured API's
        "not a url",
    ):
        assert not meta_media_url(url, "http://127.0.0.1:8123"), url


def test_same_origin_compares_scheme_host_and_port() -> None:
    base = "https://api.twilio.com"
    assert same_origin(
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", base
    )
    assert not same_origin("http://api.twilio.com/x", base)
    assert not same_origin("https://api.twilio.com.evil.example/x", base)
    assert not same_origin("https://api.twilio.com:444/x", base)
    assert not same_origin("/relative", base)


def test_content_types_are_checked() -> None:
    assert content_type_of("Image/JPEG; charset=binary") == "image/jpeg"
    assert content_type_of("text/html<script>") == "application/octet-stream"
    assert content_type_of(None) == "application/octet-stream"


def _photo_update(sizes: list[dict[str, Any]]) -> dict[str, Any]:
    message = {
        "message_id": 7,
        "from": {"id": 1, "is_bot": False, "first_name": "Ana"},
        "chat": {"id": 1, "type": "private", "first_name": "Ana"},
        "date": 1_700_000_000,
        "photo": sizes,
    }
    return {"update_id": 1, "message": message}


def _size(file_id: str, width: int, height: int, size: int | None) -> dict[str, Any]:
    found: dict[str, Any] = {"file_id": file_id, "width": width, "height": height}
    if size is not None:
        found["file_size"] = size
    return found


def _photo_of(sizes: list[dict[str, Any]]) -> str:
    parsed = parse_update(_photo_update(sizes))
    assert isinstance(parsed, ChatMessage)
    [photo] = parsed.attachments
    return str(photo["file_id"])


def test_a_telegram_photo_keeps_its_largest_size_a_bot_may_download() -> None:
    small, medium = _size("s", 90, 60, 1_000), _size("m", 800, 600, 60_000)
    big = _size("b", 4000, 3000, DOWNLOAD_MAX_BYTES + 1)
    assert _photo_of([small, medium, big]) == "m"
    assert _photo_of([big, medium, small]) == "m"  # whatever the order
    assert _photo_of([small, _size("x", 1280, 960, None)]) == "x"  # no size given: fits
    assert _photo_of([big]) == "b"  # none fits: still named, kept as a reference
