"""The Twilio provider's webhook side, as pure functions: signatures over the public URL,
inbound and status parsing, settings; recorded-style payloads as Twilio posts them."""

from __future__ import annotations

import httpx
import pytest
from twilio.request_validator import RequestValidator

from threadline.channels.sms.provider import MalformedWebhook
from threadline.channels.sms.twilio_provider import TwilioProvider

TOKEN = "auth-token"
URL = "https://contact.example.com/webhooks/sms/twilio/%2B15005550006"
INBOUND = {
    "MessageSid": "SM1",
    "AccountSid": "AC1",
    "From": "+351912345678",
    "To": "+15005550006",
    "Body": "Olá",
    "NumMedia": "2",
    "MediaUrl0": "https://api.twilio.com/m/0",
    "MediaContentType0": "image/png",
    "MediaUrl1": "https://api.twilio.com/m/1",
    "MediaContentType1": "application/pdf",
}


@pytest.fixture
async def provider() -> TwilioProvider:
    async with httpx.AsyncClient() as http:
        return TwilioProvider(http)


def form(params: dict[str, str]) -> dict[str, list[str]]:
    return {k: [v] for k, v in params.items()}


def signed(url: str, params: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"x-twilio-signature": RequestValidator(token).compute_signature(url, params)}


def test_signature_over_the_public_url(provider: TwilioProvider) -> None:
    headers = signed(URL, INBOUND)
    assert provider.verify(TOKEN, URL, form(INBOUND), headers)
    assert not provider.verify("other-token", URL, form(INBOUND), headers)
    assert not provider.verify(TOKEN, URL.replace("https", "http"), form(INBOUND), headers)
    assert not provider.verify(TOKEN, URL, form({**INBOUND, "Body": "x"}), headers)
    assert not provider.verify(TOKEN, URL, form(INBOUND), {})
    assert not provider.verify("", URL, form(INBOUND), signed(URL, INBOUND, token=""))


def test_inbound_with_media(provider: TwilioProvider) -> None:
    sms = provider.parse_inbound(form(INBOUND))
    assert (sms.sender, sms.recipient, sms.body, sms.provider_msg_id) == (
        "+351912345678",
        "+15005550006",
        "Olá",
        "SM1",
    )
    assert [m["content_type"] for m in sms.media] == ["image/png", "application/pdf"]
    for broken in ({**INBOUND, "From": ""}, {**INBOUND, "NumMedia": "many"}):
        with pytest.raises(MalformedWebhook):
            provider.parse_inbound(form(broken))


@pytest.mark.parametrize(
    ("raw", "ours"),
    [
        ("queued", "sent"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("read", "read"),
        ("undelivered", "failed"),
        ("failed", "failed"),
        ("received", ""),
    ],
)
def test_statuses(provider: TwilioProvider, raw: str, ours: str) -> None:
    update = provider.parse_status(form({"MessageSid": "SM1", "MessageStatus": raw}))
    assert update.status == ours and update.provider_msg_id == "SM1"


def test_failed_status_carries_the_error_code(provider: TwilioProvider) -> None:
    update = provider.parse_status(
        form({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"})
    )
    assert update.error == "undelivered (error 30003)"
    with pytest.raises(MalformedWebhook):
        provider.parse_status(form({"MessageSid": "SM1", "MessageStatus": "bogus"}))


def test_settings(provider: TwilioProvider) -> None:
    assert provider.check_settings({"account_sid": "AC1"})["api_base"] == "https://api.twilio.com"
    for wrong in ({}, {"account_sid": "AC 1"}, {"account_sid": "AC1", "api_base": "ftp://x"}):
        with pytest.raises(ValueError):
            provider.check_settings(wrong)
