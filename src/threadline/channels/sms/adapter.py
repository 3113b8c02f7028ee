"""The SMS channel adapter: provider-neutral; each endpoint names its provider (default
"twilio") and the provider module speaks that provider's protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import httpx
import phonenumbers

from threadline.channels.contract import (
    Capabilities,
    EndpointConfig,
    InboundEvent,
    InboundMessage,
    InboundRequest,
    MalformedPayload,
    MediaLimits,
    OutboundMessage,
    SendResult,
    SignatureInvalid,
)
from threadline.channels.provider_media import FetchedMedia
from threadline.channels.sms.provider import MalformedWebhook, SmsProvider
from threadline.channels.sms.twilio_provider import TwilioProvider


class UnknownProvider(LookupError):
    pass


class SmsAdapter:
    name: ClassVar[str] = "sms"
    capabilities: ClassVar[Capabilities] = Capabilities(text=True, media=True)
    verifies_signatures: ClassVar[bool] = True
    address_kind: ClassVar[str] = "phone"
    # Twilio's Messages API takes no idempotency key: a send interrupted mid-way is never
    # repeated blindly (see channels/outbox.py).
    idempotent_sends: ClassVar[bool] = False
    # MMS: Twilio fetches each MediaUrl (up to 10, 5 MB in all for most carriers)
    media_limits: ClassVar[MediaLimits] = MediaLimits(
        max_count=10,
        max_bytes=5 * 1024 * 1024,
        content_types=frozenset({"image/jpeg", "image/png", "image/gif", "application/pdf"}),
    )

    def __init__(self, public_base_url: str, timeout_s: float = 15.0) -> None:
        self._base = public_base_url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5.0))
        providers: list[SmsProvider] = [TwilioProvider(self._http)]
        self._providers = {p.name: p for p in providers}

    def provider(self, name: str) -> SmsProvider:
        try:
            return self._providers[name]
        except KeyError:
            raise UnknownProvider(name) from None

    def provider_of(self, endpoint: EndpointConfig) -> SmsProvider:
        return self.provider(str(endpoint.settings.get("provider", "twilio")))

    def webhook_url(self, endpoint: EndpointConfig, suffix: str = "") -> str:
        provider = endpoint.settings.get("provider", "twilio")
        return f"{self._base}/webhooks/sms/{provider}/{quote(endpoint.key, safe='')}{suffix}"

    def verify(self, endpoint: EndpointConfig, request: InboundRequest) -> None:
        """The provider's signature over the public URL and the form; raises
        SignatureInvalid (UnknownProvider for an endpoint whose provider is not known)."""
        provider = self.provider_of(endpoint)
        if not provider.verify(endpoint.secret or "", request.url, request.form, request.headers):
            raise SignatureInvalid("the webhook signature is missing or invalid")

    def parse(self, endpoint: EndpointConfig, request: InboundRequest) -> list[InboundEvent]:
        """An inbound message, or (posted to `.../status`) a delivery report whose status is
        "" when it says nothing new; raises MalformedPayload."""
        provider = self.provider_of(endpoint)
        try:
            if urlsplit(request.url).path.endswith("/status"):
                return [provider.parse_status(request.form)]
            sms = provider.parse_inbound(request.form)
        except MalformedWebhook as exc:
            raise MalformedPayload(str(exc)) from None
        message = InboundMessage(
            channel=self.name,
            identity_kind=self.address_kind,
            identity_value=sms.sender,
            body=sms.body,
            provider_msg_id=sms.provider_msg_id,
            attachments=sms.media,
        )
        return [message]

    async def send(self, endpoint: EndpointConfig, message: OutboundMessage) -> SendResult:
        # the outbox row's id rides on the callback URL: a report settles even a send
        # whose answer was lost
        callback = self.webhook_url(endpoint, f"/status?outbox_id={message.idempotency_key}")
        media = [str(a["url"]) for a in message.attachments if a.get("url")]
        return await self.provider_of(endpoint).send(
            endpoint, message.to, message.body, callback, media
        )

    async def fetch_media(
        self, endpoint: EndpointConfig, attachment: Mapping[str, Any]
    ) -> FetchedMedia:
        """An inbound MMS's file, fetched the endpoint's provider's way."""
        return await self.provider_of(endpoint).fetch_media(endpoint, attachment)

    def configure(self, key: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The key is the endpoint's number in E.164; settings are the provider's."""
        try:
            number = phonenumbers.parse(key, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError("key: the endpoint's phone number in E.164 (+15005550006)") from exc
        if phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != key:
            raise ValueError("key: the endpoint's phone number in E.164 (+15005550006)")
        name = settings.get("provider", "twilio")
        if not isinstance(name, str) or name not in self._providers:
            raise ValueError(f"settings.provider: one of {sorted(self._providers)}")
        return {**self._providers[name].check_settings(settings), "provider": name}

    async def aclose(self) -> None:
        await self._http.aclose()
