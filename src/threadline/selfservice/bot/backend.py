"""The company's backend, called by a flow's `call` step: a signed HTTP request with a
timeout, outside any database transaction. The engine retries (it asks again with the next
`attempt`) and moves on to `on_error` when the attempts are spent.

The request carries `X-Threadline-Timestamp` and `X-Threadline-Signature: sha256=<hex>`, the
HMAC-SHA256 of `"<timestamp>.<body>"` under the organisation's signing key, so the company
can check it came from Threadline and is fresh (as the outbound webhooks do).

The URL is an admin's to choose, so it is checked as a webhook's is (webhooks/destinations.py):
https to public addresses only, unless the server allows private ones
(`bot_backend_allow_private`). It is checked when a flow is saved (`refusal`) and again at
every call against the addresses the name resolves to then; the request goes to the checked
address itself (the name kept for Host and TLS), so a second lookup cannot point it inside."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from threadline.selfservice.flows.actions import BackendResponse, CallBackend
from threadline.selfservice.flows.schemas import PLACEHOLDER
from threadline.webhooks.destinations import Destination, Refused, destination

MAX_BODY = 64 * 1024  # an answer larger than this is not a flow's business


def signing_key(secret_key: str, org_id: str) -> bytes:
    """The organisation's key for signing backend calls, derived from the server's secret."""
    return hmac.new(secret_key.encode(), f"bot-backend:{org_id}".encode(), hashlib.sha256).digest()


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


async def refusal(url: str, allow_private: bool) -> str | None:
    """Why a `call` step's URL (a template) may not be saved, or None when it may: its host
    is written out (no placeholder) and resolves to addresses we may call."""
    parts = url.split("//", 1)
    host_part = parts[1].split("/", 1)[0] if len(parts) == 2 else ""
    if "{" in host_part or "}" in host_part:
        return "the URL's host may not come from a placeholder"
    try:
        await destination(PLACEHOLDER.sub("x", url), allow_private)
    except Refused as exc:
        return str(exc)
    return None


async def checked(url: str, allow_private: bool) -> Destination:
    """The URL as it will be called, checked now; Refused (with the reason) otherwise."""
    return await destination(url, allow_private)


async def call(
    http: httpx.AsyncClient, key: bytes, action: CallBackend, *, allow_private: bool = False
) -> BackendResponse:
    """One attempt of a backend call; never raises for what the network or the server does.
    A URL that is not allowed (now) is an error answer, as an unreachable one is."""
    try:
        target = await checked(action.url, allow_private)
    except Refused:
        return BackendResponse(request=action.request, ok=False)
    return await send(http, key, action, target)


async def send(
    http: httpx.AsyncClient, key: bytes, action: CallBackend, target: Destination
) -> BackendResponse:
    """The call to a checked destination: to its first address that takes the connection."""
    for address in target.addresses:
        try:
            return await _attempt(http, key, action, target.pinned_url(address), target.host)
        except httpx.ConnectError:
            continue
    return BackendResponse(request=action.request, ok=False)


async def _attempt(
    http: httpx.AsyncClient, key: bytes, action: CallBackend, url: str, host: str
) -> BackendResponse:
    body = json.dumps(action.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "Host": _host_header(action.url),
        "X-Threadline-Timestamp": timestamp,
        "X-Threadline-Signature": signature(key, timestamp, body),
        "X-Threadline-Request": action.request,
    }
    sni = {"sni_hostname": host}
    timeout = action.timeout_s
    try:
        if action.method == "GET":
            request = http.build_request(
                "GET", url, params=action.payload, headers=headers, timeout=timeout, extensions=sni
            )
        else:
            request = http.build_request(
                "POST", url, content=body, headers=headers, timeout=timeout, extensions=sni
            )
        response = await http.send(request)
    except httpx.ConnectError:
        raise
    except (httpx.HTTPError, ValueError):
        return BackendResponse(request=action.request, ok=False)
    answer: Any = None
    if len(response.content) <= MAX_BODY:
        try:
            answer = response.json()
        except ValueError:
            answer = None
    ok = response.is_success and isinstance(answer, dict)
    return BackendResponse(
        request=action.request,
        ok=ok,
        status=response.status_code,
        body=answer if isinstance(answer, dict) else {},
    )


def _host_header(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{host}]" if ":" in host else host
    return literal if parts.port is None else f"{literal}:{parts.port}"
