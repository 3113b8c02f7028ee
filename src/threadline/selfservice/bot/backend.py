"""The company's backend, called by a flow's `call` step: a signed HTTP request with a
timeout, outside any database transaction. The engine retries (it asks again with the next
`attempt`) and moves on to `on_error` when the attempts are spent.

The request carries `X-Threadline-Timestamp` and `X-Threadline-Signature: sha256=<hex>`, the
HMAC-SHA256 of `"<timestamp>.<body>"` under the organisation's signing key, so the company
can check it came from Threadline and is fresh (as the outbound webhooks do)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from threadline.selfservice.flows.actions import BackendResponse, CallBackend

MAX_BODY = 64 * 1024  # an answer larger than this is not a flow's business


def signing_key(secret_key: str, org_id: str) -> bytes:
    """The organisation's key for signing backend calls, derived from the server's secret."""
    return hmac.new(secret_key.encode(), f"bot-backend:{org_id}".encode(), hashlib.sha256).digest()


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


async def call(http: httpx.AsyncClient, key: bytes, action: CallBackend) -> BackendResponse:
    """One attempt of a backend call; never raises for what the network or the server does."""
    body = json.dumps(action.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Threadline-Timestamp": timestamp,
        "X-Threadline-Signature": signature(key, timestamp, body),
        "X-Threadline-Request": action.request,
    }
    try:
        if action.method == "GET":
            response = await http.get(
                action.url, params=action.payload, headers=headers, timeout=action.timeout_s
            )
        else:
            response = await http.post(
                action.url, content=body, headers=headers, timeout=action.timeout_s
            )
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
