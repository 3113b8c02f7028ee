"""The channel adapter contract: every channel (chat, SMS, email, ...) speaks its provider's
protocol behind this small interface and hands the core plain, frozen data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Protocol

# A provider asking for more than a day is not asking for a retry: cap what we honour.
MAX_RETRY_AFTER_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Capabilities:
    text: bool = True
    media: bool = False
    voice: bool = False
    typing: bool = False
    read_receipts: bool = False


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """What files a channel sends with a message (an adapter's `media_limits`, with
    `capabilities.media`): how many, how big each, of which types, and whether the text goes
    with them (`captions`; up to `max_caption_chars`). Checked when a reply is queued."""

    max_count: int = 1
    max_bytes: int = 5 * 1024 * 1024
    content_types: frozenset[str] = frozenset({"image/jpeg", "image/png", "application/pdf"})
    captions: bool = True
    max_caption_chars: int | None = None


# What an inbound message is (`InboundMessage.kind`): a message in its own right, a reaction
# to an earlier message (`body` the emoji, empty when the reaction is taken back), or a new
# version of an earlier message (`body` and `attachments` its new text and files).
INBOUND_KINDS = ("message", "reaction", "edit")


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A customer's message, normalised. `client_msg_id` / `provider_msg_id` make retries
    idempotent: the same id is stored once.

    `kind` is one of INBOUND_KINDS; a reaction or an edit names the message it is about by
    that message's provider id (`relates_to`). `sender_name` is the name the provider gives
    (a WhatsApp profile, Telegram's first and last name): it names a customer who has none
    yet. What is not text is kept as data in a shape every channel shares: `data["location"]`
    = {latitude, longitude, name?, address?, url?}, `data["contacts"]` = [{name, phones:
    [{phone, type?}], emails: [{email, type?}], org?}]. `recipient`: see InboundEvent."""

    channel: str
    identity_kind: str
    identity_value: str
    body: str
    client_msg_id: str | None = None
    provider_msg_id: str | None = None
    sender_name: str | None = None
    language: str | None = None
    attachments: tuple[Mapping[str, Any], ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "message"
    relates_to: str | None = None
    recipient: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in INBOUND_KINDS:
            raise ValueError(f"kind: one of {INBOUND_KINDS}, not {self.kind!r}")
        if (self.kind != "message") != bool(self.relates_to):
            raise ValueError("a reaction or an edit, and only they, relate to a message")


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """What an adapter needs of a configured endpoint, built from its row: the adapter never
    sees the database. `secret` is the provider credential (kept out of repr and logs)."""

    id: str
    channel: str
    key: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to send. `idempotency_key` is the outbox row's id: stable across retries,
    for providers that can deduplicate on it. `data`: the data of the customer's last message
    on this channel in the thread (an email's subject and Message-ID), to reply in context.
    `template`: an approved message template ({name, language, params}) sent instead of
    `body`, on channels that declare `sends_templates` (WhatsApp). `attachments`: the files
    to send, each {sha256, filename, content_type, size, url, data}: `url` a signed,
    expiring public link for providers that fetch media themselves, `data` the bytes for
    those that carry them (email)."""

    channel: str
    to: str
    body: str
    thread_id: str
    event_id: int
    idempotency_key: str = ""
    attachments: tuple[Mapping[str, Any], ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    template: Mapping[str, Any] | None = None
    # a WhatsApp interactive object (reply buttons or a list) sent instead of plain text
    interactive: Mapping[str, Any] | None = None
    # Telegram sendMessage's `reply_markup` (an inline keyboard) sent with the text
    reply_markup: Mapping[str, Any] | None = None
    # Messenger Send API's `message.quick_replies` (a list of quick replies) with the text
    quick_replies: tuple[Mapping[str, Any], ...] | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_msg_id: str
    status: str = "sent"  # what the provider said: queued|sent|delivered


class SendFailed(Exception):
    """A send did not go through. `retryable`: the provider surely did not take it and a later
    attempt may work (outage, rate limit); otherwise it never will (bad number, bad
    credentials). `retry_after_s`: the provider asked us to wait that long before trying
    again (Telegram's `retry_after`, an HTTP Retry-After); the outbox waits at least that.
    Adapters translate provider errors at their boundary: `raise ... from e`."""

    def __init__(
        self, message: str, *, retryable: bool, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after_s = retry_after_s


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """An HTTP Retry-After header (delta-seconds, or an HTTP-date) as seconds from `now`,
    within [0, MAX_RETRY_AFTER_S]; None when absent or unreadable."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            seconds = (parsedate_to_datetime(text) - now).total_seconds()
        except (TypeError, ValueError):  # not a date, or a date without a time zone
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class SendOutcomeUnknown(SendFailed):
    """The request may have reached the provider (a read timeout, a dropped connection after
    sending): retrying could send the message twice, so it is not retried blindly."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class CallFailed(Exception):
    """The provider did not place (or redirect) the call. `retryable`: it surely did not take
    the request and a later attempt may work (outage, rate limit); otherwise it never will
    (bad number, bad credentials, a call that already ended)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class CallOutcomeUnknown(CallFailed):
    """The request may have reached the provider (its answer was lost): placing the call again
    could ring the customer twice, so it is not retried blindly."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class PlacedCall(Protocol):
    @property
    def call_sid(self) -> str: ...


class OutboundCalls(Protocol):
    """Calling a customer, for any domain that needs to (a callback of the virtual queue):
    the voice channel provides it (channels/voice/outbound.py) and the registry hands it out,
    so no domain imports the voice channel. `purpose` and `ref_id` come back on each
    `CallOutcome` domain event of the call. Raises CallFailed / CallOutcomeUnknown at the
    provider boundary; Invalid, NotFound or Conflict for a bad number, thread or setup."""

    async def place_call(
        self,
        org_id: str,
        *,
        to: str,
        thread_id: str,
        agent_id: str | None,
        purpose: str,
        ref_id: str,
        language: str | None = None,
        announce: str | None = None,
        timeout_s: int | None = None,
    ) -> PlacedCall: ...


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    provider_msg_id: str
    status: str  # queued|sent|delivered|read|failed
    error: str | None = None
    recipient: str | None = None  # see InboundEvent


class ChannelAdapter(Protocol):
    """What every channel package provides."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    verifies_signatures: ClassVar[bool]


# ---- inbound: a provider's webhook request in, normalised events out ------------------------


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """A provider's webhook request as it arrived, before anything trusts it. `url` is the
    public URL the provider called (rebuilt from the configured base URL: Twilio signs it),
    `headers` have lower-case names, `body` is the raw bytes (Meta signs them), `form` the
    fields of a form post with all their values (Twilio), `query` the URL's query."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    form: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class SignatureInvalid(Exception):
    """The request's signature (or secret token) is missing or wrong: nothing in it is read."""


class MalformedPayload(ValueError):
    """A correctly signed request that is not a payload of its kind (answered 422)."""


@dataclass(frozen=True, slots=True)
class CallUpdate:
    """What a voice webhook says of a call: its provider id, its status as the provider
    names it (e.g. Twilio's ringing, in-progress, completed, busy, no-answer; "" when not
    given), who called whom, and its duration once it has ended."""

    call_sid: str
    status: str = ""
    caller: str = ""
    called: str = ""
    direction: str = ""
    duration_s: int | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A part of a request that was read and left aside, and why: an update of a kind the
    channel keeps no record of (a Telegram group message), or one that could not be read
    (`unreadable`), logged and never a reason to refuse the rest: the provider would retry
    the whole request."""

    reason: str
    unreadable: bool = False
    recipient: str | None = None


# What `InboundAdapter.parse` hands over. A message or a delivery report may be for another
# endpoint of the same provider account than the one whose URL was called (one Meta app's
# webhook delivers for all its numbers and pages): `recipient` names that endpoint's key.
InboundEvent = InboundMessage | StatusUpdate | CallUpdate | Skipped


class InboundAdapter(ChannelAdapter, Protocol):
    """A channel whose provider calls a webhook (sms, voice, whatsapp, messenger, telegram).

    The route builds an InboundRequest, finds the endpoint by the key in its URL, then calls
    `verify` and only then `parse`: nothing is read from, or stored for, a request whose
    signature does not check out. Both are pure (no database, no network, no clock); what the
    events become (a message stored once per provider id, an outbox row's new status, a
    call's next TwiML) is the services' business.

    The channels that are not webhooks map onto the same events by their own transport:
    - email: mail arrives by SMTP (aiosmtpd) or IMAP; the raw RFC 5322 bytes are parsed
      (channels/email/parsing.py) into an InboundMessage keyed by its Message-ID. The
      sender's authentication is the receiving server's business (SPF/DKIM), not a
      signature over a request.
    - chat and app: the customer's browser or app speaks to Threadline directly (HTTP and a
      WebSocket) under a signed, timed token that Threadline issued itself; each message
      becomes an InboundMessage keyed by its `client_msg_id`. There is no provider to verify.
    """

    def verify(self, endpoint: EndpointConfig, request: InboundRequest) -> None:
        """Check that the request comes from the provider, with the endpoint's secret;
        raises SignatureInvalid."""
        ...

    def parse(self, endpoint: EndpointConfig, request: InboundRequest) -> list[InboundEvent]:
        """The events a verified request carries, in order; raises MalformedPayload when the
        request itself is not of its kind (one unreadable part is a Skipped)."""
        ...


class OutboundAdapter(ChannelAdapter, Protocol):
    """A channel that sends through a provider, via the outbox.

    `address_kind` is the customer identity kind that reaches them on this channel (sms:
    "phone"). `idempotent_sends`: the provider deduplicates on `idempotency_key`, so a send
    interrupted by a crash may safely be repeated; without it the outbox never repeats a
    send whose outcome it does not know.

    Optional declarations: `service_window` (an object with `is_open(last_inbound_at, now)`
    and `refusal`, e.g. channels/meta/window.py) makes the outbox refuse free-form messages
    once the customer's last message on the channel is too old; `sends_templates = True`
    lets messages carry a `template`, which may go at any time; `media_limits`
    (MediaLimits) says what attachments go, on a channel whose capabilities say media."""

    address_kind: ClassVar[str]
    idempotent_sends: ClassVar[bool]

    async def send(self, endpoint: EndpointConfig, message: OutboundMessage) -> SendResult:
        """Hand one message to the provider; raises SendFailed (or SendOutcomeUnknown)."""
        ...

    def configure(self, key: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Check and normalise an endpoint's key and settings; raises ValueError."""
        ...
