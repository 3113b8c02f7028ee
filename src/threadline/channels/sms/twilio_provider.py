"""Twilio-style SMS: signed form webhooks (X-Twilio-Signature, checked with the `twilio`
package's RequestValidator), the Messages REST API out, status callbacks back."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from twilio.request_validator import (  # type: ignore[import-untyped]  # no stubs shipped
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from threadline.channels.contract import (
    EndpointConfig,
    SendFailed,
    SendOutcomeUnknown,
    SendResult,
    StatusUpdate,
    retry_after_seconds,
)
from threadline.channels.provider_media import (
    FetchedMedia,
    MediaUnavailable,
    fetch_bounded,
    same_origin,
)
from threadline.channels.sms.provider import InboundSms, MalformedWebhook, Params, WebhookReply
from threadline.channels.sms.twilio_client import (
    DEFAULT_API_BASE,
    TwilioApiError,
    TwilioClient,
    TwilioNoAnswer,
    TwilioUnreachable,
)

ACCOUNT_SID = re.compile(r"[A-Za-z0-9]{2,64}")
MAX_MEDIA = 10
# Twilio's MessageStatus -> ours ("" for news of no interest: it is still on its way)
STATUSES = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
    "receiving": "",
    "received": "",
}


class _Form(dict[str, list[str]]):
    """The shape RequestValidator reads repeated fields from (`getlist`)."""

    def getlist(self, name: str) -> list[str]:
        return list(self[name])


def _one(params: Params, name: str) -> str:
    values = params.get(name) or ()
    return values[0] if values else ""


class TwilioProvider:
    name: ClassVar[str] = "twilio"

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._client = TwilioClient(http)
        self._http = http

    def verify(self, secret: str, url: str, params: Params, headers: Mapping[str, str]) -> bool:
        signature = headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER)
        if not secret or not signature:
            return False
        algorithm = get_signature_algorithm(headers.get(SIGNATURE_SETTINGS_HEADER.lower()))
        form = _Form({name: list(values) for name, values in params.items()})
        return bool(RequestValidator(secret).validate(url, form, signature, algorithm))

    def parse_inbound(self, params: Params) -> InboundSms:
        sid = _one(params, "MessageSid") or _one(params, "SmsSid")
        sender = _one(params, "From")
        if not sid or not sender:
            raise MalformedWebhook("an inbound message needs MessageSid and From")
        return InboundSms(
            sender=sender,
            recipient=_one(params, "To"),
            body=_one(params, "Body"),
            provider_msg_id=sid,
            media=tuple(_media(params)),
        )

    def parse_status(self, params: Params) -> StatusUpdate:
        sid = _one(params, "MessageSid") or _one(params, "SmsSid")
        raw = (_one(params, "MessageStatus") or _one(params, "SmsStatus")).lower()
        if not sid or raw not in STATUSES:
            raise MalformedWebhook("a status callback needs MessageSid and a known MessageStatus")
        code = _one(params, "ErrorCode")
        error = f"{raw} (error {code})" if code else (raw if STATUSES[raw] == "failed" else None)
        return StatusUpdate(provider_msg_id=sid, status=STATUSES[raw], error=error)

    def reply(self) -> WebhookReply:
        return WebhookReply('<?xml version="1.0" encoding="UTF-8"?><Response/>', "text/xml")

    def check_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        sid = settings.get("account_sid")
        if not isinstance(sid, str) or not ACCOUNT_SID.fullmatch(sid):
            raise ValueError("settings.account_sid: the Twilio account SID is required")
        api_base = settings.get("api_base") or DEFAULT_API_BASE
        parts = urlsplit(api_base) if isinstance(api_base, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("settings.api_base: an http(s) URL")
        return {**settings, "account_sid": sid, "api_base": api_base.rstrip("/")}

    async def fetch_media(
        self, endpoint: EndpointConfig, attachment: Mapping[str, Any]
    ) -> FetchedMedia:
        """A `MediaUrl{N}`'s bytes, with the account's basic auth (Twilio's HTTP
        authentication for media), only from the account's own API host: a MediaUrl
        elsewhere is not fetched. Twilio answers with a redirect to a short-lived copy,
        which is followed (httpx sends the credentials to no other host)."""
        url = attachment.get("url")
        api_base = str(endpoint.settings.get("api_base") or DEFAULT_API_BASE)
        if not isinstance(url, str) or len(url) > 2000 or not same_origin(url, api_base):
            raise MediaUnavailable("the media is not on the account's API host")
        account_sid = str(endpoint.settings.get("account_sid") or "")
        if not endpoint.secret or not account_sid:
            raise MediaUnavailable("the endpoint has no account credentials")
        data, served_as = await fetch_bounded(
            self._http, url, auth=(account_sid, endpoint.secret), follow_redirects=True
        )
        declared = attachment.get("content_type") or served_as
        return FetchedMedia(data, str(declared or ""))

    async def send(
        self,
        endpoint: EndpointConfig,
        to: str,
        body: str,
        status_callback: str,
        media_urls: Sequence[str] = (),
    ) -> SendResult:
        if not endpoint.secret:
            raise SendFailed("the endpoint has no auth token", retryable=False)
        try:
            message = await self._client.create_message(
                account_sid=str(endpoint.settings.get("account_sid", "")),
                auth_token=endpoint.secret,
                to=to,
                from_=endpoint.key,
                body=body,
                status_callback=status_callback,
                media_urls=media_urls,
                api_base=str(endpoint.settings.get("api_base") or DEFAULT_API_BASE),
            )
        except TwilioUnreachable as exc:
            raise SendFailed(str(exc), retryable=True) from exc
        except TwilioNoAnswer as exc:
            raise SendOutcomeUnknown(str(exc)) from exc
        except TwilioApiError as exc:
            wait = retry_after_seconds(exc.retry_after, datetime.now(UTC))
            raise SendFailed(str(exc), retryable=exc.retryable, retry_after_s=wait) from exc
        return SendResult(
            provider_msg_id=message.sid, status=STATUSES.get(message.status) or "sent"
        )


def _media(params: Params) -> list[dict[str, str]]:
    try:
        count = min(int(_one(params, "NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        raise MalformedWebhook("NumMedia is not a number") from None
    found = []
    for i in range(max(count, 0)):
        url = _one(params, f"MediaUrl{i}")
        if url:
            found.append({"url": url, "content_type": _one(params, f"MediaContentType{i}")})
    return found
