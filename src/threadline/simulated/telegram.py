"""A fake Telegram Bot API: `sendMessage` (with an inline keyboard as `reply_markup`),
`sendPhoto` / `sendDocument` (by URL), `answerCallbackQuery` and `setWebhook` at
`/bot<token>/<method>` as a real HTTP server on a free port, answering as Telegram does
(`{"ok": true, "result": ...}` or `{"ok": false, "error_code": ..., "description": ...}`),
plus Telegram's side of the webhook: it posts Update objects with the
X-Telegram-Bot-Api-Secret-Token header, including the `callback_query` of a user tapping
a button of a keyboard the bot sent (`tap`).

Files, as the Bot API serves a user's: `add_file(data, path)` gives a file_id whose
`getFile` answers a `file_path`, its bytes at `/file/bot<token>/<file_path>`; `photo(...)`
makes a message's `photo` sizes. Set `files_fail_with` to refuse getFile (400, as for an
expired file_id); `file_fetches` counts the downloads, `file_lookups` the getFile calls.

Switch `fail_with` to 429 (flood control, with `retry_after`), 500/502 (outage) or 400;
put a user id in `blocked` for 403 "bot was blocked by the user"; `delay_s` makes it slow."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from threadline.simulated.http_server import serving

BOT_TOKEN = "7012345678:AAFakeTelegramBotTokenForTests_0123456"  # noqa: S105 - simulated
BOT_ID = 7012345678
BOT_USERNAME = "threadline_test_bot"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


@dataclass
class Sent:
    """One accepted message: text, or a file (`file_url`, sent by `method`) with its caption
    as `text`."""

    chat_id: int | str
    text: str
    message_id: int
    method: str = "sendMessage"
    file_url: str | None = None
    reply_markup: dict[str, Any] | None = None
    at: float = field(default_factory=time.time)  # when it was accepted (the demo's pages)

    def buttons(self) -> list[dict[str, Any]]:
        """The inline keyboard's buttons, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]


def _error(code: int, description: str, **parameters: Any) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)


class FakeTelegram:
    def __init__(self, token: str = BOT_TOKEN) -> None:
        self.token = token
        self.messages: list[Sent] = []
        self.attempts = 0  # every sendMessage call, accepted or not
        self.attempted_at: list[float] = []  # when each came (time.monotonic())
        self.fail_with: int | None = None
        self.retry_after = 1
        self.blocked: set[int] = set()
        self.delay_s = 0.0
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_allowed_updates: list[str] | None = None
        self.answered: list[str] = []  # the callback query ids answered, in order
        self._queries: set[str] = set()
        self._callback_ids = itertools.count(4_000_000_000_000_000_000)
        self.base_url = ""
        self._message_ids = itertools.count(1000)
        self._update_ids = itertools.count(500_000_000)
        self._chat_message_ids = itertools.count(1)
        # files by file_id: (file_path, bytes)
        self.files: dict[str, tuple[str, bytes]] = {}
        self.file_lookups = 0
        self.file_fetches = 0
        self.files_fail_with: int | None = None
        self._file_ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._call, methods=["POST"]),
                Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
            ]
        )

    def add_file(self, data: bytes, path: str = "photos/file.jpg") -> str:
        """A file a user sent: its file_id (getFile gives `path`, made unique)."""
        n = next(self._file_ids)
        file_id = f"AgACAgQAAxkBAAI{n:06d}Fake"
        folder, _, name = path.rpartition("/")
        self.files[file_id] = (f"{folder}/{n}_{name}" if folder else f"{n}_{name}", data)
        return file_id

    def photo(self, *sizes: tuple[bytes, int, int]) -> list[dict[str, Any]]:
        """A message's `photo`: each (bytes, width, height) as a PhotoSize, smallest first."""
        return [
            {
                "file_id": self.add_file(data, "photos/file.jpg"),
                "file_unique_id": f"AQAD{i}",
                "file_size": len(data),
                "width": width,
                "height": height,
            }
            for i, (data, width, height) in enumerate(sizes)
        ]

    def _get_file(self, params: dict[str, Any]) -> JSONResponse:
        self.file_lookups += 1
        if self.files_fail_with is not None:
            return _error(self.files_fail_with, "Bad Request: invalid file_id")
        file_id = str(params.get("file_id", ""))
        found = self.files.get(file_id)
        if found is None:
            return _error(400, "Bad Request: invalid file_id")
        path, data = found
        result = {
            "file_id": file_id,
            "file_unique_id": "AQAD" + file_id[-8:],
            "file_size": len(data),
            "file_path": path,
        }
        return JSONResponse({"ok": True, "result": result})

    async def _file(self, request: Request) -> Response:
        self.file_fetches += 1
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        path = request.path_params["path"]
        for known, data in self.files.values():
            if known == path:
                return Response(data, media_type="application/octet-stream")
        return _error(404, "Not Found")

    async def _call(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        params = await _params(request)
        method = request.path_params["method"]
        if method == "sendMessage":
            return await self._send_message(params)
        if method in ("sendPhoto", "sendDocument"):
            return await self._send_file(method, params)
        if method == "setWebhook":
            return self._set_webhook(params)
        if method == "answerCallbackQuery":
            return self._answer_callback_query(params)
        if method == "getFile":
            return self._get_file(params)
        return _error(404, "Not Found: method not found")

    async def _send_message(self, params: dict[str, Any]) -> JSONResponse:
        self.attempts += 1
        self.attempted_at.append(time.monotonic())
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_with == 429:
            wait = self.retry_after
            return _error(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        if self.fail_with is not None:
            return _error(self.fail_with, "Internal Server Error" if self.fail_with >= 500 else "x")
        chat_id, text = params.get("chat_id"), params.get("text")
        if chat_id in (None, "") or not text:
            return _error(400, "Bad Request: message text is empty")
        if len(str(text)) > 4096:
            return _error(400, "Bad Request: message is too long")
        if int(chat_id) in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        markup = params.get("reply_markup")
        if isinstance(markup, str):  # a form or query string carries it as JSON
            markup = json.loads(markup)
        if markup is not None and (refusal := _keyboard_refusal(markup)):
            return _error(400, f"Bad Request: {refusal}")
        sent = Sent(chat_id, str(text), next(self._message_ids), reply_markup=markup)
        self.messages.append(sent)
        return JSONResponse({"ok": True, "result": self._message_object(sent)})

    @staticmethod
    def _message_object(sent: Sent) -> dict[str, Any]:
        """The Message the Bot API returns for a sent text (and shows in a callback query)."""
        result: dict[str, Any] = {
            "message_id": sent.message_id,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Test", "username": BOT_USERNAME},
            "chat": {"id": int(sent.chat_id), "type": "private"},
            "date": 1_700_000_000,
            "text": sent.text,
        }
        if sent.reply_markup is not None:
            result["reply_markup"] = sent.reply_markup
        return result

    def _answer_callback_query(self, params: dict[str, Any]) -> JSONResponse:
        """Telegram answers each query once, and only one it sent (else 400)."""
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._queries or query_id in self.answered:
            return _error(400, "Bad Request: query is too old and response timeout expired")
        self.answered.append(query_id)
        return JSONResponse({"ok": True, "result": True})

    async def _send_file(self, method: str, params: dict[str, Any]) -> JSONResponse:
        """The file as a URL Telegram fetches (an HTTP(S) link), the text as its caption."""
        self.attempts += 1
        self.attempted_at.append(time.monotonic())
        field = "photo" if method == "sendPhoto" else "document"
        url, caption = params.get(field), params.get("caption") or ""
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return _error(400, f"Bad Request: there is no {field} in the request")
        if len(caption) > 1024:
            return _error(400, "Bad Request: message caption is too long")
        sent = Sent(params["chat_id"], caption, next(self._message_ids), method, url)
        self.messages.append(sent)
        result = {
            "message_id": sent.message_id,
            "chat": {"id": int(sent.chat_id), "type": "private"},
            "date": 1_700_000_000,
            field: [{"file_id": f"F{sent.message_id}"}] if field == "photo" else {"file_id": "D"},
        }
        return JSONResponse({"ok": True, "result": result})

    def _set_webhook(self, params: dict[str, Any]) -> JSONResponse:
        url = params.get("url")
        local = isinstance(url, str) and url.startswith("http://127.0.0.1")
        if not isinstance(url, str) or not (url.startswith("https://") or local):
            return _error(400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
        self.webhook_url, self.webhook_secret = url, params.get("secret_token")
        self.webhook_allowed_updates = params.get("allowed_updates")
        return JSONResponse({"ok": True, "result": True, "description": "Webhook was set"})

    def endpoint(self, name: str, queue_id: str | None = None) -> dict[str, Any]:
        """The bot, sending here, as an admin posts it to /api/v1/endpoints."""
        return {
            "channel": "telegram",
            "key": BOT_USERNAME,
            "name": name,
            "queue_id": queue_id,
            "secret": self.token,
            "settings": {"api_base": self.base_url},
        }

    # ---- Telegram's side of the webhook --------------------------------------------------

    def private_message(
        self,
        text: str | None,
        *,
        user_id: int = 424242,
        first_name: str = "Ana",
        last_name: str | None = "Silva",
        username: str | None = "ana_s",
        language_code: str | None = "pt-br",
        message_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """An Update with a `message` from a user in their private chat with the bot."""
        sender: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        for name, value in (
            ("last_name", last_name),
            ("username", username),
            ("language_code", language_code),
        ):
            if value is not None:
                sender[name] = value
        chat = {k: v for k, v in sender.items() if k in ("id", "first_name", "last_name")}
        message: dict[str, Any] = {
            "message_id": message_id if message_id is not None else next(self._chat_message_ids),
            "from": sender,
            "chat": {**chat, "type": "private"},
            "date": 1_700_000_000,
            **extra,
        }
        if text is not None:
            message["text"] = text
        return {"update_id": next(self._update_ids), "message": message}

    def tap(
        self,
        sent: Sent,
        text: str,
        *,
        user_id: int = 424242,
        first_name: str = "Ana",
        language_code: str | None = "pt-br",
    ) -> dict[str, Any]:
        """The `callback_query` Update Telegram posts when the user taps the button labelled
        `text` of the inline keyboard of a message the bot sent (`sent`). Post the same
        update twice for Telegram's retry."""
        button = next(b for b in sent.buttons() if b["text"] == text)
        sender: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code is not None:
            sender["language_code"] = language_code
        query_id = str(next(self._callback_ids))
        self._queries.add(query_id)
        query = {
            "id": query_id,
            "from": sender,
            "message": self._message_object(sent),
            "chat_instance": "-5839287468432139462",
            "data": button["callback_data"],
        }
        return {"update_id": next(self._update_ids), "callback_query": query}

    def edited(self, update: dict[str, Any], text: str, edit_date: int) -> dict[str, Any]:
        """The `edited_message` update Telegram sends when that message is edited."""
        message = {**update["message"], "text": text, "edit_date": edit_date}
        return {"update_id": next(self._update_ids), "edited_message": message}

    async def post_update(
        self,
        update: Any,
        url: str | None = None,
        *,
        secret: str | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """POST an update as Telegram does: JSON, with the secret token given to setWebhook
        (or `secret`, for a forger; "" sends no header)."""
        token = self.webhook_secret if secret is None else secret
        headers = {SECRET_HEADER: token} if token else {}
        target = url or self.webhook_url
        assert target, "no webhook set and no url given"
        async with httpx.AsyncClient(timeout=10) as client:
            if content is not None:
                headers["Content-Type"] = "application/json"
                return await client.post(target, content=content, headers=headers)
            return await client.post(target, json=update, headers=headers)


def _keyboard_refusal(markup: Any) -> str | None:
    """Why Telegram would refuse an InlineKeyboardMarkup (a list of rows of buttons, each
    with a text and, here, callback_data of 1-64 bytes), or None."""
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        return 'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
    for button in (b for row in rows for b in row):
        if not isinstance(button, dict) or not button.get("text"):
            return "BUTTON_TEXT_EMPTY"
        data = button.get("callback_data")
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
            return "BUTTON_DATA_INVALID"
    return None


async def _params(request: Request) -> dict[str, Any]:
    """Bot API methods take JSON, a query string or a form alike."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
        return body if isinstance(body, dict) else {}
    form = await request.form()
    return {**request.query_params, **{k: v for k, v in form.items() if isinstance(v, str)}}


@asynccontextmanager
async def running_fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    async with serving(fake.app) as base_url:
        fake.base_url = base_url
        yield fake
