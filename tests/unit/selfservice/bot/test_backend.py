"""The company's backend call: signed as documented, and never raising for what the network
or the server does (the engine decides about retries)."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from threadline.selfservice.bot import backend
from threadline.selfservice.flows.actions import CallBackend

KEY = backend.signing_key("server-secret", "org-1")


def _action(method: str = "POST") -> CallBackend:
    return CallBackend(
        request="lookup.1",
        url="https://93.184.215.14/cards",
        method=method,  # type: ignore[arg-type]
        payload={"card_last4": "4321"},
        timeout_s=2.0,
        attempt=1,
    )


async def test_a_post_is_signed_over_timestamp_and_body_and_fills_from_json() -> None:
    seen: list[httpx.Request] = []

    def company(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"card": {"status": "shipped"}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(company)) as http:
        response = await backend.call(http, KEY, _action())
    assert response.ok and response.body == {"card": {"status": "shipped"}}
    assert response.request == "lookup.1" and response.status == 200
    [request] = seen
    timestamp = request.headers["X-Threadline-Timestamp"]
    expected = hmac.new(KEY, timestamp.encode() + b"." + request.content, hashlib.sha256)
    assert request.headers["X-Threadline-Signature"] == "sha256=" + expected.hexdigest()
    assert json.loads(request.content) == {"card_last4": "4321"}
    assert backend.signing_key("server-secret", "org-2") != KEY  # one key per organisation


async def test_errors_timeouts_and_odd_answers_are_not_ok() -> None:
    answers = iter(
        [
            httpx.Response(503, json={"error": "down"}),
            httpx.Response(200, text="<html>maintenance</html>"),
            httpx.Response(200, json=["not", "an", "object"]),
        ]
    )

    def company(request: httpx.Request) -> httpx.Response:
        return next(answers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(company)) as http:
        for _ in range(3):
            assert not (await backend.call(http, KEY, _action())).ok

    def timing_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(timing_out)) as http:
        response = await backend.call(http, KEY, _action("GET"))
    assert not response.ok and response.status is None


def _to(url: str) -> CallBackend:
    return CallBackend(
        request="lookup.1", url=url, method="POST", payload={}, timeout_s=2.0, attempt=1
    )


async def test_a_private_or_loopback_backend_is_never_called_unless_allowed() -> None:
    seen: list[httpx.Request] = []

    def company(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    async with httpx.AsyncClient(transport=httpx.MockTransport(company)) as http:
        for url in (
            "http://127.0.0.1:8080/cards",
            "https://127.0.0.1/cards",
            "https://10.0.0.7/cards",
            "https://[::ffff:192.168.1.1]/cards",
            "https://169.254.169.254/latest",
        ):
            assert not (await backend.call(http, KEY, _to(url))).ok, url
        assert seen == []
        allowed = await backend.call(
            http, KEY, _to("http://127.0.0.1:8080/cards"), allow_private=True
        )
    assert allowed.ok and [str(r.url) for r in seen] == ["http://127.0.0.1:8080/cards"]
    assert seen[0].headers["Host"] == "127.0.0.1:8080"


async def test_a_saved_url_is_refused_with_its_reason() -> None:
    assert await backend.refusal("https://93.184.215.14/cards/{slots.card}", False) is None
    assert await backend.refusal("https://{message}.bank.example/x", False) == (
        "the URL's host may not come from a placeholder"
    )
    assert await backend.refusal("http://93.184.215.14/cards", False) == "the URL must use https"
    assert await backend.refusal("https://10.1.1.1/x", False) == (
        "10.1.1.1 is a private or internal address"
    )
    assert await backend.refusal("https://10.1.1.1/x", True) is None
