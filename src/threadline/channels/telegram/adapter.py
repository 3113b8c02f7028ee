"""The Telegram channel adapter (Bot API): an endpoint is one bot, its key the bot's
username and its secret the bot token.

The webhook's secret token (echoed by Telegram in X-Telegram-Bot-Api-Secret-Token) is not
stored: it is derived from the bot token and the endpoint key (HMAC-SHA256), so only who
holds the token can forge it, it is never shown back, and a new token means a new secret
(register the webhook again after rotating it, which Telegram needs anyway)."""

from __future__ import annotations

import hashlib
import hmac
import json
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import httpx

from threadline.channels.contract import (
    Capabilities,
    EndpointConfig,
    InboundEvent,
    InboundMessage,
    InboundRequest,
    MalformedPayload,
    MediaLimits,
    OutboundMessage,
    SendFailed,
    SendOutcomeUnknown,
    SendResult,
    SignatureInvalid,
    Skipped,
)
from threadline.channels.provider_media import (
    MEDIA_BUDGET_S,
    FetchedMedia,
    MediaUnavailable,
    fetch_bounded,
)
from threadline.channels.telegram.bot_api import (
    DEFAULT_API_BASE,
    MAX_TEXT,
    SECRET_TOKEN_HEADER,
    BotApiClient,
    SentMessage,
    TelegramApiError,
    TelegramError,
    TelegramNoAnswer,
    TelegramUnreachable,
    redact,
)
from threadline.channels.telegram.updates import (
    DOWNLOAD_MAX_BYTES,
    ButtonTap,
    ChatMessage,
    Ignored,
    MalformedUpdate,
    parse_update,
)

# A file_path as getFile gives it ("photos/file_12.jpg"): nothing that climbs out of it
FILE_PATH = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_./-]{0,254}")
# What a kind of file is when Telegram does not say (photos are JPEG; voice notes Opus)
KIND_TYPES = {
    "photo": "image/jpeg",
    "voice": "audio/ogg",
    "video_note": "video/mp4",
    "animation": "video/mp4",
    "sticker": "image/webp",
}


# Telegram bot usernames: 5-32 characters of [A-Za-z0-9_], ending in "bot"
BOT_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt]")


def webhook_secret(bot_token: str, key: str) -> str:
    """The secret_token given to setWebhook for this bot: 64 hex characters (Telegram allows
    1-256 of A-Z, a-z, 0-9, _ and -)."""
    message = f"threadline telegram webhook {key}".encode()
    return hmac.new(bot_token.encode(), message, hashlib.sha256).hexdigest()


def provider_msg_id(key: str, message: ChatMessage) -> str:
    """`{bot}:{chat_id}:{message_id}`, plus `:edit:{edit_date}` for an edit. Message ids are
    counted per bot, so two bots of one organisation could see the same chat:message pair:
    the bot's username keeps them apart. A retried update (same message, same edit) maps to
    the same id and is stored once; update_id is not used because it is only a delivery
    counter of the bot's update queue."""
    base = f"{key}:{message.chat_id}:{message.message_id}"
    return base if message.edit_date is None else f"{base}:edit:{message.edit_date}"


def tap_id(key: str, tap: ButtonTap) -> str:
    """`{bot}:callback:{query id}`: Telegram gives each tap its own callback query id and
    sends it again when it retries the update, so the tap is stored once."""
    return f"{key}:callback:{tap.query_id}"


def primary_language(code: str | None) -> str | None:
    """The IETF tag's primary subtag ("pt-br" -> "pt"), as agents' languages are kept."""
    primary = (code or "").split("-")[0].strip().lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 8 else None


class TelegramAdapter:
    name: ClassVar[str] = "telegram"
    capabilities: ClassVar[Capabilities] = Capabilities(text=True, media=True)
    verifies_signatures: ClassVar[bool] = True
    address_kind: ClassVar[str] = "telegram"  # the user id, which is the private chat's id
    # sendMessage takes no idempotency key: an interrupted send is never repeated blindly.
    idempotent_sends: ClassVar[bool] = False
    # a photo or a document, fetched by Telegram from its link (5 MB for photos, 20 MB for
    # other files), the text as its caption
    media_limits: ClassVar[MediaLimits] = MediaLimits(
        max_count=1,
        max_bytes=5 * 1024 * 1024,
        content_types=frozenset({"image/jpeg", "image/png", "application/pdf", "text/plain"}),
        max_caption_chars=1024,
    )

    def __init__(self, public_base_url: str, timeout_s: float = 15.0) -> None:
        self._base = public_base_url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5.0))
        self.bot_api = BotApiClient(self._http)

    def webhook_url(self, endpoint: EndpointConfig) -> str:
        return f"{self._base}/webhooks/telegram/{quote(endpoint.key, safe='')}"

    def verify(self, endpoint: EndpointConfig, request: InboundRequest) -> None:
        """The update's secret token header must be this bot's (constant-time); raises
        SignatureInvalid. Telegram signs no body: who knows the token could send any."""
        secret_token = request.header(SECRET_TOKEN_HEADER)
        if not endpoint.secret or not secret_token:
            raise SignatureInvalid("the secret token is missing or invalid")
        expected = webhook_secret(endpoint.secret, endpoint.key)
        if not hmac.compare_digest(expected.encode(), secret_token.encode()):
            raise SignatureInvalid("the secret token is missing or invalid")

    def parse(self, endpoint: EndpointConfig, request: InboundRequest) -> list[InboundEvent]:
        """A private chat's message or edit, or a button of the bot's inline keyboard tapped
        there; any other well-formed update is Skipped (and acknowledged, or Telegram
        retries it). Raises MalformedPayload when the body is not
        an Update."""
        try:
            update = parse_update(json.loads(request.body))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and MalformedUpdate
            reason = str(exc) if isinstance(exc, MalformedUpdate) else "the body is not JSON"
            raise MalformedPayload(reason) from None
        if isinstance(update, Ignored):
            return [Skipped(f"update {update.update_id}: {update.reason}", update.unreadable)]
        if isinstance(update, ButtonTap):
            return [self.tapped(endpoint, update)]
        return [self.inbound(endpoint, update)]

    def tapped(self, endpoint: EndpointConfig, tap: ButtonTap) -> InboundMessage:
        """A button tapped, as the customer's message: the button's text as its body, its
        callback data in `data["callback_data"]` (what the bot reads back), and the query's
        id to answer it (`answer_tap`)."""
        data: dict[str, Any] = {
            "endpoint_id": endpoint.id,
            "chat_id": tap.chat_id,
            "update_id": tap.update_id,
            "username": tap.sender.username,
            "callback_data": tap.data,
            "callback_query_id": tap.query_id,
            "callback_message_id": tap.message_id,
        }
        return InboundMessage(
            channel=self.name,
            identity_kind=self.address_kind,
            identity_value=str(tap.sender.id),
            body=tap.text,
            provider_msg_id=tap_id(endpoint.key, tap),
            sender_name=tap.sender.name or tap.sender.username,
            language=primary_language(tap.sender.language_code),
            data={k: v for k, v in data.items() if v is not None},
        )

    async def answer_tap(self, endpoint: EndpointConfig, callback_query_id: str) -> None:
        """answerCallbackQuery, which stops the spinner on the tapped button. Raises the
        client's TelegramError (its message without the token)."""
        if not endpoint.secret:
            raise ValueError("the endpoint has no bot token")
        await self.bot_api.answer_callback_query(
            endpoint.secret,
            callback_query_id,
            api_base=str(endpoint.settings.get("api_base") or DEFAULT_API_BASE),
        )

    async def fetch_media(
        self, endpoint: EndpointConfig, attachment: Mapping[str, Any]
    ) -> FetchedMedia:
        """A customer's file: getFile (its `file_id`) gives a `file_path`, whose bytes are
        at `{api}/file/bot<token>/<file_path>` (the bot's own Bot API server: the token goes
        nowhere else). Raises MediaUnavailable, whose message never holds the token."""
        file_id = attachment.get("file_id")
        if not isinstance(file_id, str) or not file_id or len(file_id) > 256:
            raise MediaUnavailable("no file_id")
        if not endpoint.secret:
            raise MediaUnavailable("the endpoint has no bot token")
        api_base = str(endpoint.settings.get("api_base") or DEFAULT_API_BASE)
        try:
            found = await self.bot_api.get_file(endpoint.secret, file_id, api_base=api_base)
        except TelegramError as exc:
            raise MediaUnavailable(redact(str(exc), endpoint.secret)) from None
        file_path = str(found["file_path"])
        if not FILE_PATH.fullmatch(file_path) or ".." in file_path.split("/"):
            raise MediaUnavailable("getFile gave an unusable file_path")
        size = found.get("file_size")
        if isinstance(size, int) and size > DOWNLOAD_MAX_BYTES:
            raise MediaUnavailable("the file is too big to keep")
        url = self.bot_api.file_url(endpoint.secret, quote(file_path), api_base)
        data, served_as = await fetch_bounded(
            self._http, url, max_bytes=DOWNLOAD_MAX_BYTES, timeout_s=MEDIA_BUDGET_S
        )
        kind = str(attachment.get("kind") or "")
        declared = attachment.get("mime_type") or KIND_TYPES.get(kind)
        if not declared:
            declared = mimetypes.guess_type(file_path)[0] or served_as
        name = attachment.get("file_name")
        return FetchedMedia(data, str(declared or ""), name if isinstance(name, str) else None)

    def inbound(self, endpoint: EndpointConfig, message: ChatMessage) -> InboundMessage:
        """The message as the core stores it: an edit is an `edit` of the original (named by
        its provider id), since the timeline never rewrites what was said. The sender's
        first and last name (else their username) names a customer who has none yet."""
        data: dict[str, Any] = {
            "endpoint_id": endpoint.id,  # replies leave through the bot written to
            "chat_id": message.chat_id,
            "message_id": message.message_id,
            "update_id": message.update_id,
            "username": message.sender.username,
            "start_payload": message.start_payload,
            "reply_to_message_id": message.reply_to_message_id,
        }
        original = None
        if message.edit_date is not None:
            original = provider_msg_id(endpoint.key, replace(message, edit_date=None))
            data["edit_date"] = message.edit_date
        if message.location is not None:
            data["location"] = dict(message.location)
        if message.contacts:
            data["contacts"] = [dict(c) for c in message.contacts]
        return InboundMessage(
            channel=self.name,
            identity_kind=self.address_kind,
            identity_value=str(message.sender.id),
            body=message.text,
            provider_msg_id=provider_msg_id(endpoint.key, message),
            sender_name=message.sender.name or message.sender.username,
            language=primary_language(message.sender.language_code),
            attachments=message.attachments,
            data={k: v for k, v in data.items() if v is not None},
            kind="edit" if original else "message",
            relates_to=original,
        )

    async def send(self, endpoint: EndpointConfig, message: OutboundMessage) -> SendResult:
        token = endpoint.secret
        if not token:
            raise SendFailed("the endpoint has no bot token", retryable=False)
        if len(message.body) > MAX_TEXT:
            raise SendFailed(f"longer than Telegram's {MAX_TEXT} characters", retryable=False)
        chat_id: int | str = int(message.to) if message.to.lstrip("-").isdigit() else message.to
        api_base = str(endpoint.settings.get("api_base") or DEFAULT_API_BASE)
        try:
            sent = await self._send(token, chat_id, message, api_base)
        except TelegramUnreachable as exc:
            raise SendFailed(redact(str(exc), token), retryable=True) from None
        except TelegramNoAnswer as exc:
            raise SendOutcomeUnknown(redact(str(exc), token)) from None
        except TelegramApiError as exc:
            raise SendFailed(
                redact(str(exc), token), retryable=exc.retryable, retry_after_s=exc.retry_after
            ) from None
        return SendResult(provider_msg_id=f"{sent.chat_id}:{sent.message_id}", status="sent")

    async def _send(
        self, token: str, chat_id: int | str, message: OutboundMessage, api_base: str
    ) -> SentMessage:
        if not message.attachments:  # a bot's question carries its inline keyboard
            return await self.bot_api.send_message(
                token, chat_id, message.body, reply_markup=message.reply_markup, api_base=api_base
            )
        file = message.attachments[0]
        photo = str(file["content_type"]).startswith("image/")
        return await self.bot_api.send_file(
            token, chat_id, str(file["url"]), photo=photo, caption=message.body, api_base=api_base
        )

    async def register_webhook(self, endpoint: EndpointConfig) -> str:
        """Tell Telegram to post this bot's updates to Threadline (setWebhook, with the
        derived secret token); returns the URL. Raises the client's TelegramError."""
        if not endpoint.secret:
            raise ValueError("the endpoint has no bot token")
        url = self.webhook_url(endpoint)
        await self.bot_api.set_webhook(
            endpoint.secret,
            url,
            webhook_secret(endpoint.secret, endpoint.key),
            api_base=str(endpoint.settings.get("api_base") or DEFAULT_API_BASE),
        )
        return url

    def configure(self, key: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The key is the bot's username (without @); the bot token goes in `secret`."""
        if not BOT_USERNAME.fullmatch(key):
            raise ValueError("key: the bot's username, 5-32 letters, digits or _, ending in bot")
        if {"token", "bot_token"} & set(settings):
            raise ValueError("settings: the bot token goes in `secret`, never in settings")
        api_base = settings.get("api_base") or DEFAULT_API_BASE
        parts = urlsplit(api_base) if isinstance(api_base, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("settings.api_base: an http(s) URL")
        if parts.path.rstrip("/"):
            raise ValueError("settings.api_base: the Bot API server's root URL, with no path")
        return {**settings, "api_base": api_base.rstrip("/")}

    async def aclose(self) -> None:
        await self._http.aclose()
