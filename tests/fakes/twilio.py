"""A fake Twilio: the Messages REST API as a real HTTP server on a free port, plus the
provider's side of the webhooks (inbound messages and status callbacks), signed the way
Twilio signs them (`RequestValidator.compute_signature` over the URL it calls).

Switch `fail_with` to an HTTP status to simulate an outage (500/503) or a refusal (400),
and `delay_s` to make it slow."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from tests.fakes.http_server import serving

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-twilio-auth-token"


@dataclass
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    media_urls: list[str] = field(default_factory=list)


def _problem(status: int, code: int, message: str) -> JSONResponse:
    body = {"code": code, "message": message, "status": status, "more_info": ""}
    return JSONResponse(body, status_code=status)


class FakeTwilio:
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[SentMessage] = []
        self.attempts = 0  # every Messages.json POST, accepted or not
        self.fail_with: int | None = None
        self.delay_s = 0.0
        self.base_url = ""
        self.app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._create, methods=["POST"])
            ]
        )

    def _authorised(self, request: Request, sid: str) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return sid == self.account_sid and request.headers.get("authorization") == (
            f"Basic {expected}"
        )

    async def _create(self, request: Request) -> JSONResponse:
        self.attempts += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if not self._authorised(request, request.path_params["sid"]):
            return _problem(401, 20003, "Authenticate")
        if self.fail_with is not None:
            return _problem(self.fail_with, 21211 if self.fail_with < 500 else 20500, "failing")
        form = await request.form()
        to, from_, body = (str(form.get(name, "")) for name in ("To", "From", "Body"))
        if not to or not from_:
            return _problem(400, 21604, "A 'To' and a 'From' are required")
        message = SentMessage(
            sid="SM" + uuid.uuid4().hex,
            to=to,
            from_=from_,
            body=body,
            status_callback=str(form["StatusCallback"]) if "StatusCallback" in form else None,
            media_urls=[str(v) for v in form.getlist("MediaUrl")],
        )
        self.messages.append(message)
        return JSONResponse(
            {
                "sid": message.sid,
                "account_sid": self.account_sid,
                "to": to,
                "from": from_,
                "body": body,
                "status": "queued",
                "num_segments": "1",
            },
            status_code=201,
        )

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, dict(params)))

    async def post_signed(
        self, url: str, params: Mapping[str, str], *, token: str | None = None
    ) -> httpx.Response:
        """POST a webhook as Twilio does: a form, signed over the exact URL called."""
        signer = RequestValidator(token or self.auth_token)
        signature = signer.compute_signature(url, dict(params))
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(
                url, data=dict(params), headers={"X-Twilio-Signature": signature}
            )

    async def call_webhook(
        self,
        url: str,
        call_sid: str,
        from_: str,
        to: str,
        status: str = "in-progress",
        **extra: str,
    ) -> httpx.Response:
        """A voice webhook as Twilio posts it during a call (incoming call, Gather action,
        Redirect, status callback): the call's fields plus `extra` (Digits, SpeechResult,
        CallDuration, RecordingUrl, ...), signed over the exact URL called."""
        params = {
            "CallSid": call_sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "To": to,
            "CallStatus": status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            **extra,
        }
        return await self.post_signed(url, params)

    async def report(
        self, message: SentMessage, status: str, error_code: str | None = None
    ) -> httpx.Response:
        """The status callback Twilio posts for a message it accepted."""
        assert message.status_callback, "the message was sent without a StatusCallback"
        params = {
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "AccountSid": self.account_sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": message.to,
            "From": message.from_,
        }
        if error_code:
            params["ErrorCode"] = error_code
        return await self.post_signed(message.status_callback, params)


@asynccontextmanager
async def running_fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    async with serving(fake.app) as base_url:
        fake.base_url = base_url
        yield fake
