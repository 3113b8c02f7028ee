"""A small asynchronous client for the Telegram Bot API (httpx): `sendMessage` (with an
inline keyboard), `sendPhoto` / `sendDocument` (by URL), `answerCallbackQuery` and
`setWebhook`.

It imports nothing from Threadline, so it could live as its own library. The bot token is
part of every method's URL (`/bot<token>/<method>`): no error message of this module
contains it, and `install_log_redaction` keeps httpx's request log from printing it.
Errors tell whether the request surely never reached Telegram (`TelegramUnreachable`),
was answered with an error (`TelegramApiError`), or may have reached it with the answer
lost (`TelegramNoAnswer`): only the first two are safe to retry.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_API_BASE = "https://api.telegram.org"
SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_TEXT = 4096  # sendMessage's limit, in characters after entity parsing
# "/bot<id>:<secret>/" as it appears in method and file URLs
TOKEN_IN_URL = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")


class TelegramError(Exception):
    pass


class TelegramUnreachable(TelegramError):
    """No request left this process (connection refused, DNS, connect timeout)."""


class TelegramNoAnswer(TelegramError):
    """The request may have been received; its answer never came (or made no sense)."""


class TelegramApiError(TelegramError):
    """Telegram answered `ok: false` (or an HTTP error without a Bot API body)."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        suffix = f" (retry after {retry_after} s)" if retry_after is not None else ""
        super().__init__(f"error {code}: {description}{suffix}")
        self.code = code
        self.description = description
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Flood control (429) and server trouble; 400 (bad chat, too long) and 403 (the
        user blocked the bot) never get better."""
        return self.code == 429 or self.code >= 500


@dataclass(frozen=True, slots=True)
class SentMessage:
    message_id: int
    chat_id: int | str


def redact(text: str, token: str | None = None) -> str:
    """`text` with any bot token in it replaced (the given one, and any in a method URL)."""
    if token:
        text = text.replace(token, "<bot-token>")
    return TOKEN_IN_URL.sub("/bot<bot-token>", text)


class _RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        record.msg = redact(record.msg) if isinstance(record.msg, str) else record.msg
        return True


def _redact_arg(value: Any) -> Any:
    # httpx logs the request's URL object: its text is what would print
    return redact(str(value)) if isinstance(value, str | httpx.URL) else value


def install_log_redaction() -> None:
    """Keep bot tokens out of httpx's request log ("HTTP Request: POST .../bot<token>/...").
    Idempotent; the filter sits on the `httpx` logger, where those records are made."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactTokens) for f in logger.filters):
        logger.addFilter(_RedactTokens())


class BotApiClient:
    """Calls Bot API methods over a shared httpx client (its pool is reused)."""

    def __init__(self, http: httpx.AsyncClient, api_base: str = DEFAULT_API_BASE) -> None:
        self._http = http
        self._api_base = api_base.rstrip("/")
        install_log_redaction()

    async def send_message(
        self,
        token: str,
        chat_id: int | str,
        text: str,
        *,
        reply_markup: Mapping[str, Any] | None = None,
        api_base: str | None = None,
    ) -> SentMessage:
        """A text, with `reply_markup` (an InlineKeyboardMarkup, ...) when given."""
        params: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if reply_markup is not None:
            params["reply_markup"] = dict(reply_markup)
        result = await self.call(token, "sendMessage", params, api_base)
        return _sent("sendMessage", result, chat_id)

    async def answer_callback_query(
        self, token: str, callback_query_id: str, *, api_base: str | None = None
    ) -> None:
        """Acknowledge a tapped inline button, which stops the client's progress spinner.
        Telegram refuses an answer later than about 15 s after the tap (error 400)."""
        params = {"callback_query_id": callback_query_id}
        if await self.call(token, "answerCallbackQuery", params, api_base) is not True:
            raise TelegramNoAnswer("answerCallbackQuery did not answer true")

    async def send_file(
        self,
        token: str,
        chat_id: int | str,
        url: str,
        *,
        photo: bool,
        caption: str = "",
        api_base: str | None = None,
    ) -> SentMessage:
        """sendPhoto (`photo`) or sendDocument with a file Telegram fetches from `url`."""
        method, field = ("sendPhoto", "photo") if photo else ("sendDocument", "document")
        params: dict[str, Any] = {"chat_id": chat_id, field: url}
        if caption:
            params["caption"] = caption
        return _sent(method, await self.call(token, method, params, api_base), chat_id)

    async def set_webhook(
        self,
        token: str,
        url: str,
        secret_token: str,
        *,
        allowed_updates: Sequence[str] = ("message", "edited_message", "callback_query"),
        drop_pending_updates: bool = False,
        api_base: str | None = None,
    ) -> None:
        """Point the bot's updates at `url`; Telegram sends `secret_token` back in the
        X-Telegram-Bot-Api-Secret-Token header of every update."""
        params = {
            "url": url,
            "secret_token": secret_token,
            "allowed_updates": list(allowed_updates),
            "drop_pending_updates": drop_pending_updates,
        }
        if await self.call(token, "setWebhook", params, api_base) is not True:
            raise TelegramNoAnswer("setWebhook did not answer true")

    async def get_file(
        self, token: str, file_id: str, *, api_base: str | None = None
    ) -> dict[str, Any]:
        """getFile: the File object (`file_path`, `file_size`) whose bytes are then at
        `file_url(token, file_path)`, for at least an hour."""
        result = await self.call(token, "getFile", {"file_id": file_id}, api_base)
        if not isinstance(result, dict) or not isinstance(result.get("file_path"), str):
            raise TelegramNoAnswer("getFile answered without a file_path")
        return result

    def file_url(self, token: str, file_path: str, api_base: str | None = None) -> str:
        """Where a file's bytes are (`{api}/file/bot<token>/<file_path>`): it holds the
        token, so it is never stored nor shown."""
        return f"{(api_base or self._api_base).rstrip('/')}/file/bot{token}/{file_path}"

    async def call(
        self, token: str, method: str, params: dict[str, Any], api_base: str | None = None
    ) -> Any:
        """One Bot API method; returns its `result`. Raises TelegramError subclasses whose
        messages never contain the token."""
        url = f"{(api_base or self._api_base).rstrip('/')}/bot{token}/{method}"
        try:
            response = await self._http.post(url, json=params)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TelegramUnreachable(f"{method}: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:  # sent, perhaps received: a read timeout, a reset
            raise TelegramNoAnswer(f"{method}: {type(exc).__name__}") from None
        # `from None`: httpx's exceptions carry the request, and its URL the token
        return _result(method, response)


def _sent(method: str, result: Any, chat_id: int | str) -> SentMessage:
    if not isinstance(result, dict) or not isinstance(result.get("message_id"), int):
        raise TelegramNoAnswer(f"{method} answered without a message_id")
    chat = result.get("chat")
    return SentMessage(
        message_id=result["message_id"],
        chat_id=chat.get("id", chat_id) if isinstance(chat, dict) else chat_id,
    )


def _result(method: str, response: httpx.Response) -> Any:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if response.status_code >= 400:
            raise TelegramApiError(response.status_code, response.reason_phrase or "error")
        raise TelegramNoAnswer(f"{method}: HTTP {response.status_code} without a Bot API body")
    if data.get("ok") is True and response.status_code < 400:
        return data.get("result")
    code = data.get("error_code")
    parameters = data.get("parameters")
    retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
    error_code = code if isinstance(code, int) else response.status_code
    description = str(data.get("description") or response.reason_phrase or "error")[:300]
    raise TelegramApiError(
        error_code, description, retry_after if isinstance(retry_after, int) else None
    )
