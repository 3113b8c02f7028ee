"""A fake Meta Graph API: the WhatsApp Cloud API's and Messenger's Send API endpoints and
Messenger's user profiles (`GET /{psid}`) as a real HTTP server on a free port, plus Meta's
side of the webhooks (notifications signed with X-Hub-Signature-256 over the raw body, keyed
with the app secret).

Media, as the Cloud API serves a customer's: `add_media(data, mime_type)` gives a media id
whose `GET /{version}/{media-id}` (bearer token) answers `url`, `mime_type`, `sha256` and
`file_size` (a string, as Meta sends it), the url serving the bytes to the same token only;
`cdn_url(data, mime_type)` is a Messenger attachment's `payload.url` (no token). Set
`media_fail_with` to refuse the downloads; `media_fetches` counts them.

Switch `fail_with` to an HTTP status to simulate an outage (500/503), a refusal (400) or a
rate limit (429; `fail_code` sets the Graph error code, e.g. 130429 for WhatsApp's
throughput limit, and `retry_after` adds a Retry-After header); `delay_s` makes it slow."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
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

APP_SECRET = "fake-meta-app-secret"  # noqa: S105 - the simulated app's, public
ACCESS_TOKEN = "EAAfakeaccesstoken"  # noqa: S105 - simulated, public
VERIFY_TOKEN = "fake-verify-token"  # noqa: S105 - simulated, public
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_NUMBER = "15550783881"
PAGE_ID = "104729785590011"


@dataclass
class SentMessage:
    """One accepted send: `path` tells the API (`{phone_number_id}/messages` or
    `me/messages`), `payload` is the JSON body as posted."""

    id: str
    path: str
    payload: dict[str, Any]
    at: float = field(default_factory=time.time)  # when it was accepted (the demo's pages)


def _error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": "OAuthException", "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


class FakeGraph:
    def __init__(self, access_token: str = ACCESS_TOKEN, app_secret: str = APP_SECRET) -> None:
        self.access_token = access_token
        self.app_secret = app_secret
        self.messages: list[SentMessage] = []
        self.attempts = 0
        self.fail_with: int | None = None
        self.fail_code: int | None = None
        self.retry_after: int | None = None
        self.delay_s = 0.0
        self.base_url = ""
        # Messenger user profiles by PSID, as the Graph API serves them to the Page token;
        # `profile_requests` counts the reads
        self.profiles: dict[str, dict[str, Any]] = {}
        self.profile_requests = 0
        # media by id: (bytes, type); lookups of their URL and downloads of their bytes
        self.media: dict[str, tuple[bytes, str]] = {}
        self.media_lookups = 0
        self.media_fetches = 0
        self.media_fail_with: int | None = None
        self.app = Starlette(
            routes=[
                Route("/whatsapp_business/attachments/", self._download, methods=["GET"]),
                Route("/cdn/{name}", self._cdn, methods=["GET"]),
                Route("/{version}/{node}/messages", self._messages, methods=["POST"]),
                Route("/{version}/{node}", self._node, methods=["GET"]),
            ]
        )

    # ---- media ----------------------------------------------------------------------------

    def add_media(self, data: bytes, mime_type: str) -> str:
        """A customer's media at Meta: its id, as a webhook names it."""
        media_id = str(uuid.uuid4().int)[:16]
        self.media[media_id] = (data, mime_type)
        return media_id

    def cdn_url(self, data: bytes, mime_type: str) -> str:
        """A Messenger attachment's `payload.url`: the bytes on Meta's CDN, no token needed."""
        return f"{self.base_url}/cdn/{self.add_media(data, mime_type)}"

    def _media_info(self, request: Request, media_id: str) -> JSONResponse:
        """`GET /{media-id}`: where to download it for the next minutes, as Meta answers."""
        self.media_lookups += 1
        if self._token(request) != self.access_token:
            return _error(401, 190, "Invalid OAuth access token")
        data, mime_type = self.media[media_id]
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.base_url}/whatsapp_business/attachments/?mid={media_id}"
                f"&ext={int(time.time()) + 300}&hash=ATtx{uuid.uuid4().hex[:16]}",
                "mime_type": mime_type,
                "sha256": hashlib.sha256(data).hexdigest(),
                "file_size": str(len(data)),
                "id": media_id,
            }
        )

    async def _download(self, request: Request) -> Response:
        """The media URL: the bytes, to the bearer of the app's token only."""
        self.media_fetches += 1
        if self._token(request) != self.access_token:
            return _error(401, 190, "Invalid OAuth access token")
        if self.media_fail_with is not None:
            return _error(self.media_fail_with, 131052, "Media download error")
        found = self.media.get(request.query_params.get("mid", ""))
        if found is None:
            return _error(404, 100, "(#100) media not found")
        return Response(found[0], media_type=found[1])

    async def _cdn(self, request: Request) -> Response:
        self.media_fetches += 1
        if self.media_fail_with is not None:
            return Response(b"", status_code=self.media_fail_with)
        found = self.media.get(request.path_params["name"])
        if found is None:
            return Response(b"", status_code=404)
        return Response(found[0], media_type=found[1])

    async def _node(self, request: Request) -> JSONResponse:
        """`GET /{psid}?fields=first_name,last_name`: a user's profile, only the fields asked
        for (plus id), as Meta answers it; an unknown id is error 100. A media id: its URL."""
        if request.path_params["node"] in self.media:
            return self._media_info(request, request.path_params["node"])
        self.profile_requests += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self._token(request) != self.access_token:
            return _error(401, 190, "Invalid OAuth access token")
        node = request.path_params["node"]
        profile = self.profiles.get(node)
        if profile is None:
            return _error(400, 100, f"(#100) Unsupported get request. Object {node} does not exist")
        fields = [f for f in request.query_params.get("fields", "").split(",") if f]
        return JSONResponse({"id": node, **{f: profile[f] for f in fields if f in profile}})

    def _token(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            return header.removeprefix("Bearer ")
        return request.query_params.get("access_token", "")

    async def _messages(self, request: Request) -> JSONResponse:
        self.attempts += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self._token(request) != self.access_token:
            return _error(401, 190, "Invalid OAuth access token")
        if self.fail_with is not None:
            return self._failure(self.fail_with)
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return _error(400, 100, "Invalid JSON")
        node = request.path_params["node"]
        if node == "me":
            return self._messenger(payload)
        return self._whatsapp(node, payload)

    def _failure(self, status: int) -> JSONResponse:
        code = self.fail_code or (131000 if status >= 500 else 131026)
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return _error(status, code, "failing", headers)

    def _whatsapp(self, node: str, payload: dict[str, Any]) -> JSONResponse:
        if payload.get("messaging_product") != "whatsapp" or not payload.get("to"):
            return _error(400, 100, "(#100) Invalid parameter")
        kind = payload.get("type", "text")
        if kind not in payload or (kind == "text" and not payload["text"].get("body")):
            return _error(400, 100, f"(#100) The parameter {kind} is required")
        if kind in ("image", "document") and not (
            payload[kind].get("link") or payload[kind].get("id")
        ):
            return _error(400, 100, f"(#100) {kind} needs a link or an id")
        sent = SentMessage("wamid." + uuid.uuid4().hex, f"{node}/messages", payload)
        self.messages.append(sent)
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": payload["to"], "wa_id": payload["to"]}],
                "messages": [{"id": sent.id}],
            }
        )

    def _messenger(self, payload: dict[str, Any]) -> JSONResponse:
        recipient = (payload.get("recipient") or {}).get("id")
        message = payload.get("message") or {}
        attachment = message.get("attachment") or {}
        if not recipient or not (
            message.get("text") or (attachment.get("payload") or {}).get("url")
        ):
            return _error(400, 100, "(#100) param recipient and message are required")
        if message.get("text") and attachment:
            return _error(400, 100, "(#100) Only one of text or attachment can be specified")
        if "quick_replies" in message and (refusal := _quick_replies_refusal(message)):
            return _error(400, 100, f"(#100) {refusal}")
        sent = SentMessage("m_" + uuid.uuid4().hex, "me/messages", payload)
        self.messages.append(sent)
        return JSONResponse({"recipient_id": recipient, "message_id": sent.id})

    def endpoint(
        self,
        channel: str,
        key: str,
        name: str,
        queue_id: str | None = None,
        *,
        app_secret: str | None = None,
    ) -> dict[str, Any]:
        """An endpoint (a WhatsApp number, a Messenger page) of this app, sending here, as
        an admin posts it to /api/v1/endpoints."""
        secret = {"app_secret": app_secret or self.app_secret, "access_token": self.access_token}
        return {
            "channel": channel,
            "key": key,
            "name": name,
            "queue_id": queue_id,
            "secret": json.dumps(secret),
            "settings": {"verify_token": VERIFY_TOKEN, "api_base": self.base_url},
        }

    # ---- Meta's side of the webhooks ----------------------------------------------------------

    def sign(self, body: bytes, secret: str | None = None) -> str:
        key = (secret or self.app_secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    async def notify(
        self, url: str, payload: dict[str, Any], *, secret: str | None = None
    ) -> httpx.Response:
        """POST a notification as Meta does: JSON, signed over the exact bytes sent."""
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": self.sign(body, secret),
        }
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(url, content=body, headers=headers)


# ---- notification payloads, as Meta documents them ----------------------------------------------


def whatsapp_change(
    value: dict[str, Any], phone_number_id: str = PHONE_NUMBER_ID
) -> dict[str, Any]:
    metadata = {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": phone_number_id}
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {"messaging_product": "whatsapp", "metadata": metadata, **value},
                    }
                ],
            }
        ],
    }


def whatsapp_message(
    wamid: str,
    wa_id: str,
    kind: str = "text",
    name: str = "Ana",
    phone_number_id: str = PHONE_NUMBER_ID,
    **content: Any,
) -> dict[str, Any]:
    """A customer message to one of the business's numbers: `content` is the type's object
    (text: body=...)."""
    message: dict[str, Any] = {"from": wa_id, "id": wamid, "timestamp": "1760000000", "type": kind}
    message[kind] = content
    return whatsapp_change(
        {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]},
        phone_number_id,
    )


def batched(*notifications: dict[str, Any]) -> dict[str, Any]:
    """Several notifications in one, as Meta batches an app's changes (entries in order)."""
    entries = [entry for n in notifications for entry in n["entry"]]
    return {**notifications[0], "entry": entries}


def whatsapp_status(
    wamid: str,
    status: str,
    recipient: str,
    errors: list[dict[str, Any]] | None = None,
    phone_number_id: str = PHONE_NUMBER_ID,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": "1760000100",
        "recipient_id": recipient,
    }
    if errors:
        entry["errors"] = errors
    return whatsapp_change({"statuses": [entry]}, phone_number_id)


def messenger_event(event: dict[str, Any], page_id: str = PAGE_ID) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [{"id": page_id, "time": 1760000000000, "messaging": [event]}],
    }


def messenger_quick_reply(
    mid: str, psid: str, sent: SentMessage, title: str, page_id: str = PAGE_ID
) -> dict[str, Any]:
    """The customer tapping the quick reply titled `title` of a message the page sent
    (`sent`): a message with that text and the quick reply's `payload`, as Meta posts it."""
    quick = next(q for q in sent.payload["message"]["quick_replies"] if q["title"] == title)
    return messenger_event(
        {
            "sender": {"id": psid},
            "recipient": {"id": page_id},
            "timestamp": 1760000000000,
            "message": {"mid": mid, "text": title, "quick_reply": {"payload": quick["payload"]}},
        },
        page_id,
    )


def _quick_replies_refusal(message: dict[str, Any]) -> str | None:
    """Why the Send API would refuse a message's quick replies (at most 13, each a text one
    with a title of up to 20 characters and a payload of up to 1000), or None."""
    quick = message["quick_replies"]
    if not isinstance(quick, list) or not 1 <= len(quick) <= 13:
        return "param message[quick_replies] must have between 1 and 13 elements"
    for item in quick:
        if not isinstance(item, dict) or item.get("content_type") != "text":
            return "param message[quick_replies][content_type] must be text"
        title, payload = item.get("title"), item.get("payload")
        if not isinstance(title, str) or not 1 <= len(title) <= 20:
            return "param message[quick_replies][title] must be 1-20 characters"
        if not isinstance(payload, str) or not 1 <= len(payload) <= 1000:
            return "param message[quick_replies][payload] must be 1-1000 characters"
    return None


def messenger_message(mid: str, psid: str, text: str, page_id: str = PAGE_ID) -> dict[str, Any]:
    return messenger_event(
        {
            "sender": {"id": psid},
            "recipient": {"id": page_id},
            "timestamp": 1760000000000,
            "message": {"mid": mid, "text": text},
        },
        page_id,
    )


@asynccontextmanager
async def running_fake_graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph()
    async with serving(fake.app) as base_url:
        fake.base_url = base_url
        yield fake
