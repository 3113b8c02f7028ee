"""What an SMS provider module provides: another provider is one more module like
`twilio_provider.py`, registered in the SMS adapter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from threadline.channels.contract import EndpointConfig, SendResult, StatusUpdate
from threadline.channels.provider_media import FetchedMedia

Params = Mapping[str, Sequence[str]]  # a form post: every field with all its values


class MalformedWebhook(ValueError):
    """A correctly signed post that does not say what a webhook of its kind must."""


@dataclass(frozen=True, slots=True)
class InboundSms:
    sender: str
    recipient: str
    body: str
    provider_msg_id: str
    media: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """What the provider expects back from a webhook."""

    body: str
    media_type: str


class SmsProvider(Protocol):
    name: ClassVar[str]

    def verify(self, secret: str, url: str, params: Params, headers: Mapping[str, str]) -> bool:
        """Whether the post really comes from the provider; `url` is the public URL it
        called."""
        ...

    def parse_inbound(self, params: Params) -> InboundSms:
        """Raises MalformedWebhook."""
        ...

    def parse_status(self, params: Params) -> StatusUpdate:
        """A delivery report, its status one of sent|delivered|read|failed (or "" when it
        says nothing new); raises MalformedWebhook."""
        ...

    def reply(self) -> WebhookReply: ...

    def check_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Normalised endpoint settings; raises ValueError."""
        ...

    async def send(
        self,
        endpoint: EndpointConfig,
        to: str,
        body: str,
        status_callback: str,
        media_urls: Sequence[str] = (),
    ) -> SendResult:
        """Raises SendFailed / SendOutcomeUnknown."""
        ...

    async def fetch_media(
        self, endpoint: EndpointConfig, attachment: Mapping[str, Any]
    ) -> FetchedMedia:
        """An inbound MMS's file, with the account's credentials only on its own API host;
        raises MediaUnavailable."""
        ...
