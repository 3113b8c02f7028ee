"""One conformance suite for every adapter that sends through a provider (the channel
registry's senders), each against its fake provider speaking the real protocol (HTTP APIs,
SMTP): a text goes out and comes back as the provider's id; an outage or an unreachable
provider is retryable; a refusal and bad credentials are not; a lost answer is an unknown
outcome (never retried blindly); a rate limit says how long to wait; no secret shows in
an error, a traceback or a repr; every adapter declares what the contract asks.

And for every adapter that receives a provider's webhooks (the registry's receivers): each
recorded payload, correctly signed, verifies and parses into the expected normalised events;
a missing or wrong signature is refused, and so is a body changed after it was signed.

Adapters are called directly (no database): what the outbox does with these answers is
tested once, in tests/integration/test_sms.py and test_telegram.py."""

from __future__ import annotations

import hashlib
import json
import traceback
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from twilio.request_validator import RequestValidator

from tests.fakes import meta, smtp_relay, telegram
from tests.fakes.http_server import free_port, serving
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from threadline.app import build_channels
from threadline.channel_kinds import WEBHOOK_PATHS
from threadline.channels.contract import (
    CallUpdate,
    Capabilities,
    EndpointConfig,
    InboundAdapter,
    InboundEvent,
    InboundMessage,
    InboundRequest,
    MalformedPayload,
    MediaLimits,
    OutboundAdapter,
    OutboundMessage,
    SendFailed,
    SendOutcomeUnknown,
    SignatureInvalid,
    Skipped,
    StatusUpdate,
)
from threadline.channels.email.adapter import EmailAdapter
from threadline.channels.messenger import payload as messenger_payload
from threadline.channels.messenger.adapter import MessengerAdapter
from threadline.channels.meta import webhooks as meta_webhooks
from threadline.channels.registry import ChannelRegistry
from threadline.channels.sms.adapter import SmsAdapter
from threadline.channels.telegram.adapter import TelegramAdapter, webhook_secret
from threadline.channels.voice.adapter import VoiceAdapter
from threadline.channels.whatsapp import payload as whatsapp_payload
from threadline.channels.whatsapp.adapter import WhatsAppAdapter
from threadline.config import Settings
from threadline.customers.identities import IDENTITY_KINDS

TEST_SECRET_KEY = "conformance-secret-key"
SLOW_S = 1.5  # how late a slow provider answers
TIMEOUT_S = 0.5  # how long an adapter under test waits for an answer
RATE_LIMIT_S = 7


class RateLimitingTwilio(FakeTwilio):
    """The fake Twilio, plus a Retry-After header on its 429 answers."""

    retry_after: int | None = None

    async def _create(self, request: Request) -> JSONResponse:
        response = await super()._create(request)
        if response.status_code == 429 and self.retry_after is not None:
            response.headers["Retry-After"] = str(self.retry_after)
        return response


@dataclass
class Provider:
    """One adapter's fake provider, and how to make it misbehave. Subclasses fill in the
    endpoint it serves, the customer's address and the adapter."""

    channel: str
    key: str
    secret: str
    to: str
    settings: dict[str, Any] = field(default_factory=dict)
    # what of the secret must never show (a Telegram token's id part is public)
    secret_parts: tuple[str, ...] = ()

    def adapter(self, timeout_s: float) -> OutboundAdapter:
        raise NotImplementedError

    def sent_ids(self) -> list[str]:
        """The provider ids of what the provider accepted, in order."""
        raise NotImplementedError

    def sent_files(self) -> list[tuple[str, str]]:
        """(the file's link, or the SHA-256 of its bytes where they travel in the message;
        the text that went with it) for each file the provider accepted."""
        raise NotImplementedError

    def outage(self) -> None:
        """The provider is up but failing (HTTP 503; SMTP 451 to DATA)."""
        raise NotImplementedError

    def refusal(self) -> None:
        """The provider refuses this message for good (HTTP 400; SMTP 550 to RCPT)."""
        raise NotImplementedError

    def slow(self) -> None:
        """The provider takes the message and answers after SLOW_S."""
        raise NotImplementedError

    def rate_limit(self, seconds: int) -> bool:
        """The provider says "too many, wait `seconds`"; False when its protocol cannot."""
        return False

    def unreachable(self) -> dict[str, Any]:
        """Settings pointing at a port nobody listens on."""
        return {**self.settings, "api_base": f"http://127.0.0.1:{free_port()}"}

    def wrong_secret(self) -> str:
        raise NotImplementedError


@dataclass
class HttpProvider(Provider):
    """A provider with an HTTP API: an outage is a 503, a refusal a 400, a rate limit a 429
    with its wait (the HTTP fakes share `fail_with`, `delay_s` and `retry_after`)."""

    fake: Any = None

    def outage(self) -> None:
        self.fake.fail_with = 503

    def refusal(self) -> None:
        self.fake.fail_with = 400

    def slow(self) -> None:
        self.fake.delay_s = SLOW_S

    def rate_limit(self, seconds: int) -> bool:
        self.fake.fail_with, self.fake.retry_after = 429, seconds
        return True


@dataclass
class TwilioSms(HttpProvider):
    def adapter(self, timeout_s: float) -> OutboundAdapter:
        return SmsAdapter("http://threadline.test", timeout_s=timeout_s)

    def sent_ids(self) -> list[str]:
        return [m.sid for m in self.fake.messages]

    def sent_files(self) -> list[tuple[str, str]]:
        return [(url, m.body) for m in self.fake.messages for url in m.media_urls]

    def wrong_secret(self) -> str:
        return "not-the-auth-token-0123"


@dataclass
class Telegram(HttpProvider):
    def adapter(self, timeout_s: float) -> OutboundAdapter:
        return TelegramAdapter("http://threadline.test", timeout_s=timeout_s)

    def sent_ids(self) -> list[str]:
        return [f"{m.chat_id}:{m.message_id}" for m in self.fake.messages]

    def sent_files(self) -> list[tuple[str, str]]:
        return [(m.file_url, m.text) for m in self.fake.messages if m.file_url]

    def refusal(self) -> None:
        self.fake.blocked.add(int(self.to))  # 403: bot was blocked by the user

    def wrong_secret(self) -> str:
        return "7012345678:AAWrongTokenOfSomeoneElse_9876543210"


@dataclass
class Graph(HttpProvider):
    """WhatsApp Cloud API and Messenger's Send API: one fake Graph API."""

    def adapter(self, timeout_s: float) -> OutboundAdapter:
        if self.channel == "whatsapp":
            return WhatsAppAdapter(timeout_s=timeout_s)
        return MessengerAdapter(timeout_s=timeout_s)

    def sent_ids(self) -> list[str]:
        return [m.id for m in self.fake.messages]

    def sent_files(self) -> list[tuple[str, str]]:
        files = []
        for m in self.fake.messages:
            body = m.payload.get("message") or m.payload  # Messenger's, or WhatsApp's
            if "attachment" in body:
                files.append((body["attachment"]["payload"]["url"], ""))
            for kind in ("image", "document"):
                if kind in body:
                    files.append((body[kind]["link"], body[kind].get("caption", "")))
        return files

    def wrong_secret(self) -> str:
        return json.dumps({"app_secret": meta.APP_SECRET, "access_token": "EAAwrongtoken42"})


@dataclass
class Smtp(Provider):
    fake: smtp_relay.FakeRelay = field(default_factory=smtp_relay.FakeRelay)

    def adapter(self, timeout_s: float) -> OutboundAdapter:
        return EmailAdapter(TEST_SECRET_KEY, timeout_s=timeout_s)

    def sent_ids(self) -> list[str]:
        return [str(m.message["Message-ID"]) for m in self.fake.messages]

    def sent_files(self) -> list[tuple[str, str]]:
        files = []
        for m in self.fake.messages:
            text = m.message.get_body(("plain",))
            caption = text.get_content().strip() if text is not None else ""
            for part in m.message.iter_attachments():
                digest = hashlib.sha256(part.get_content()).hexdigest()
                files.append((digest, caption))
        return files

    def outage(self) -> None:
        self.fake.reject_data_with = "451 4.3.0 Temporary failure, try again later"

    def refusal(self) -> None:
        self.fake.reject_rcpt_with = "550 5.1.1 No such user here"

    def slow(self) -> None:
        self.fake.data_delay_s = SLOW_S

    def unreachable(self) -> dict[str, Any]:
        return {**self.settings, "smtp": {**self.settings["smtp"], "port": free_port()}}

    def wrong_secret(self) -> str:
        return "not-the-relay-password"


@asynccontextmanager
async def _sms() -> AsyncIterator[Provider]:
    provider = TwilioSms("sms", "+15005550006", AUTH_TOKEN, "+351912345678")
    provider.fake = RateLimitingTwilio()
    async with serving(provider.fake.app) as base_url:
        provider.settings = {"account_sid": ACCOUNT_SID, "api_base": base_url}
        yield provider


@asynccontextmanager
async def _telegram() -> AsyncIterator[Provider]:
    token = telegram.BOT_TOKEN
    provider = Telegram("telegram", telegram.BOT_USERNAME, token, "424242")
    provider.fake, provider.secret_parts = telegram.FakeTelegram(), (token.split(":", 1)[1],)
    async with serving(provider.fake.app) as base_url:
        provider.settings = {"api_base": base_url}
        yield provider


def _graph(channel: str, key: str, to: str) -> Any:
    @asynccontextmanager
    async def running() -> AsyncIterator[Provider]:
        secret = json.dumps({"app_secret": meta.APP_SECRET, "access_token": meta.ACCESS_TOKEN})
        provider = Graph(channel, key, secret, to, fake=meta.FakeGraph())
        provider.secret_parts = (meta.APP_SECRET, meta.ACCESS_TOKEN)
        async with serving(provider.fake.app) as base_url:
            provider.settings = {"verify_token": meta.VERIFY_TOKEN, "api_base": base_url}
            yield provider

    return running


@asynccontextmanager
async def _email() -> AsyncIterator[Provider]:
    provider = Smtp("email", smtp_relay.USERNAME, smtp_relay.PASSWORD, "joao@example.pt")
    provider.settings = {
        "smtp": {
            "host": "127.0.0.1",
            "port": provider.fake.port,
            "username": smtp_relay.USERNAME,
            "starttls": False,
        }
    }
    provider.fake.start()
    try:
        yield provider
    finally:
        provider.fake.stop()


PROVIDERS = {
    "sms": _sms,
    "telegram": _telegram,
    "whatsapp": _graph("whatsapp", meta.PHONE_NUMBER_ID, "+351912345678"),
    "messenger": _graph("messenger", meta.PAGE_ID, "6483920145327781"),
    "email": _email,
}


@pytest.fixture
async def registry() -> AsyncIterator[ChannelRegistry]:
    settings = Settings(secret_key=TEST_SECRET_KEY, _env_file=None)  # type: ignore[call-arg]
    channels = build_channels(settings)
    yield channels
    await channels.aclose()


@pytest.fixture(params=sorted(PROVIDERS))
async def provider(request: pytest.FixtureRequest) -> AsyncIterator[Provider]:
    async with PROVIDERS[request.param]() as running:
        yield running


@pytest.fixture
async def adapter(provider: Provider) -> AsyncIterator[OutboundAdapter]:
    """The channel's adapter, waiting TIMEOUT_S for an answer."""
    made = provider.adapter(TIMEOUT_S)
    yield made
    if (close := getattr(made, "aclose", None)) is not None:
        await close()


def endpoint(
    provider: Provider,
    adapter: OutboundAdapter,
    *,
    settings: dict[str, Any] | None = None,
    secret: str | None = None,
) -> EndpointConfig:
    """The endpoint as an admin configures it: settings normalised by the adapter."""
    return EndpointConfig(
        id=str(uuid.uuid4()),
        channel=provider.channel,
        key=provider.key,
        settings=adapter.configure(provider.key, settings or provider.settings),
        secret=secret or provider.secret,
    )


def message(provider: Provider, body: str = "Your card is on its way.") -> OutboundMessage:
    return OutboundMessage(
        channel=provider.channel,
        to=provider.to,
        body=body,
        thread_id=str(uuid.uuid4()),
        event_id=1,
        idempotency_key=str(uuid.uuid4()),
    )


async def failure(adapter: OutboundAdapter, config: EndpointConfig, provider: Provider) -> Any:
    with pytest.raises(SendFailed) as raised:
        await adapter.send(config, message(provider))
    assert_no_secret(provider, raised.value)
    return raised.value


def assert_no_secret(provider: Provider, *shown: object) -> None:
    """Neither the secret nor any part of it in the text of what is shown: an exception's
    message, repr and whole traceback (its causes included), or anything's repr."""
    texts = []
    for item in shown:
        texts.append(repr(item))
        if isinstance(item, BaseException):
            texts.append(str(item))
            texts.append("".join(traceback.format_exception(item)))
    text = "\n".join(texts)
    for secret in (provider.secret, *provider.secret_parts):
        assert secret not in text, text


# ---- the registry: every sender has a fake, every adapter declares the contract -------------


def test_every_sender_in_the_registry_is_checked(registry: ChannelRegistry) -> None:
    senders = {name for name in registry.names() if _sends(registry, name)}
    assert senders == set(PROVIDERS)


def _sends(registry: ChannelRegistry, name: str) -> bool:
    return callable(getattr(registry.get(name), "send", None))


def test_capabilities_and_declarations(
    registry: ChannelRegistry, provider: Provider, adapter: OutboundAdapter
) -> None:
    registered = registry.sender(provider.channel)
    assert type(registered) is type(adapter)
    assert registered.name == provider.channel
    assert isinstance(registered.capabilities, Capabilities)
    assert registered.capabilities.text is True
    assert registered.capabilities.voice is False
    assert registered.verifies_signatures in (True, False)
    assert registered.idempotent_sends in (True, False)
    assert registered.address_kind in IDENTITY_KINDS


def test_settings_normalise_once_and_for_all(provider: Provider, adapter: OutboundAdapter) -> None:
    """What the API shows back can be sent back unchanged (the admin page edits settings)."""
    normalised = adapter.configure(provider.key, provider.settings)
    assert adapter.configure(provider.key, normalised) == normalised
    with pytest.raises(ValueError, match="key"):
        adapter.configure("not a valid key!", provider.settings)


# ---- sending ---------------------------------------------------------------------------------


async def test_a_text_goes_out_and_returns_the_provider_id(
    provider: Provider, adapter: OutboundAdapter
) -> None:
    config = endpoint(provider, adapter)
    result = await adapter.send(config, message(provider))
    assert result.provider_msg_id and provider.sent_ids() == [result.provider_msg_id]
    assert result.status in ("queued", "sent", "delivered")
    assert_no_secret(provider, result, config, adapter)


async def test_an_outage_is_retryable(provider: Provider, adapter: OutboundAdapter) -> None:
    provider.outage()
    failed = await failure(adapter, endpoint(provider, adapter), provider)
    assert failed.retryable is True and not isinstance(failed, SendOutcomeUnknown)
    assert provider.sent_ids() == []


async def test_an_unreachable_provider_is_retryable(
    provider: Provider, adapter: OutboundAdapter
) -> None:
    config = endpoint(provider, adapter, settings=provider.unreachable())
    failed = await failure(adapter, config, provider)
    assert failed.retryable is True and not isinstance(failed, SendOutcomeUnknown)


async def test_a_refusal_is_not_retryable(provider: Provider, adapter: OutboundAdapter) -> None:
    provider.refusal()
    failed = await failure(adapter, endpoint(provider, adapter), provider)
    assert failed.retryable is False and not isinstance(failed, SendOutcomeUnknown)
    assert provider.sent_ids() == []


async def test_wrong_credentials_are_not_retryable_and_not_shown(
    provider: Provider, adapter: OutboundAdapter
) -> None:
    wrong = provider.wrong_secret()
    config = endpoint(provider, adapter, secret=wrong)
    failed = await failure(adapter, config, provider)
    assert failed.retryable is False
    assert_no_secret(Provider(provider.channel, provider.key, wrong, provider.to), failed)


async def test_a_lost_answer_is_an_unknown_outcome(
    provider: Provider, adapter: OutboundAdapter
) -> None:
    """The provider may have the message: the contract says SendOutcomeUnknown, which the
    outbox never retries blindly."""
    provider.slow()
    failed = await failure(adapter, endpoint(provider, adapter), provider)
    assert isinstance(failed, SendOutcomeUnknown) and failed.retryable is False


async def test_a_rate_limit_says_how_long_to_wait(
    provider: Provider, adapter: OutboundAdapter
) -> None:
    if not provider.rate_limit(RATE_LIMIT_S):
        pytest.skip(f"{provider.channel}'s protocol has no retry-after")
    failed = await failure(adapter, endpoint(provider, adapter), provider)
    assert failed.retryable is True
    assert failed.retry_after_s == pytest.approx(RATE_LIMIT_S)


def test_no_adapter_keeps_a_secret_in_its_repr(provider: Provider) -> None:
    config = EndpointConfig("e1", provider.channel, provider.key, provider.settings, "s3cr3t-x")
    assert "s3cr3t-x" not in repr(config)


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


async def test_a_file_goes_out_by_link_or_inside_the_message(
    provider: Provider, adapter: OutboundAdapter
) -> None:
    """Within the channel's declared media limits: providers that fetch media get the
    signed link, email carries the bytes; the text goes with the file where it may."""
    limits: MediaLimits = adapter.media_limits  # type: ignore[attr-defined]
    assert adapter.capabilities.media and "image/png" in limits.content_types
    digest = hashlib.sha256(PNG).hexdigest()
    url = f"https://threadline.test/media/signed-token/receipt.png?d={digest[:8]}"
    file = {
        "sha256": digest,
        "filename": "receipt.png",
        "content_type": "image/png",
        "size": len(PNG),
        "url": url,
        "data": PNG,
    }
    caption = "Your receipt" if limits.captions else ""
    sent = replace(message(provider, caption), attachments=(file,))
    result = await adapter.send(endpoint(provider, adapter), sent)
    assert provider.sent_ids() == [result.provider_msg_id]
    by_link = provider.channel != "email"
    assert provider.sent_files() == [(url if by_link else digest, caption)]


# ---- inbound: every adapter reads every recorded payload of its channel ---------------------
#
# tests/channels/fixtures/<channel>/*.json are bodies the providers really send (sources and
# licences in fixtures/README.md). Each is read by its channel's parser into normalised
# events, with nothing skipped, and summed up as below: what the thread will show.

FIXTURES = Path(__file__).parent / "fixtures"
WA_PHONE_NUMBER_ID = "106540352242922"  # the business number of Meta's examples
MS_PAGE_ID = "104729785590011"
TG_BOT = "threadline_test_bot"
SHEENA = "Sheena Nelson"
WA_ORIGINAL = "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="
MS_MID = "m_1457764197618:41d102a3e1ae206a38"
CALLER = "+14155552671"
BARBARA = {
    "name": "Barbara J. Johnson",
    "phones": [{"phone": "+1 (415) 555-0829", "type": "MOBILE"}],
    "emails": [],
    "org": "Social Tsunami",
}

# fixture -> what each event in it is, in order: a message (kind, body, and what it carries),
# a delivery report ("status"), or an update read and left aside ("ignored")
EXPECTED: dict[str, list[dict[str, Any]]] = {
    "whatsapp/text.json": [{"kind": "message", "body": "Does it come in another color?"}],
    "whatsapp/contacts.json": [{"kind": "message", "body": "", "contacts": [BARBARA]}],
    "whatsapp/reaction.json": [
        {"kind": "reaction", "body": "\U0001f44d", "relates_to": WA_ORIGINAL}
    ],
    "whatsapp/reaction_removed.json": [{"kind": "reaction", "body": "", "relates_to": WA_ORIGINAL}],
    "whatsapp/location.json": [
        {
            "kind": "message",
            "body": "",
            "location": {
                "latitude": 37.483253479003906,
                "longitude": -122.14960479736328,
                "name": "Main Street Beach",
                "address": "1 Hacker Way, Menlo Park, CA 94025",
                "url": "https://foursquare.com/v/4d7031d35b5df7744",
            },
        }
    ],
    "whatsapp/image.json": [{"kind": "message", "body": "This is a caption", "files": 1}],
    "whatsapp/edit.json": [
        {
            "kind": "edit",
            "body": "The blue one, not the red one",
            "relates_to": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
            "files": 1,
        }
    ],
    "whatsapp/unsupported.json": [
        {"kind": "message", "body": "", "unsupported": "unsupported: Message type unknown"}
    ],
    "whatsapp/interactive_button_reply.json": [{"kind": "message", "body": "Cancel"}],
    "whatsapp/system_number_changed.json": [],
    "whatsapp/status_delivered.json": [{"status": "delivered"}],
    "whatsapp/status_failed.json": [{"status": "failed"}],
    "whatsapp/batch_with_contacts.json": [
        {"kind": "message", "body": "Here is my colleague"},
        {
            "kind": "message",
            "body": "",
            "contacts": [
                {
                    "name": "Barbara J. Johnson",
                    "phones": [{"phone": "+1 (415) 555-0829", "type": "MOBILE"}],
                    "emails": [{"email": "bjohnson@socialtsunami.com", "type": "WORK"}],
                }
            ],
        },
        {"kind": "message", "body": "Please call her"},
    ],
    "messenger/text.json": [
        {"kind": "message", "body": "hello, world!", "quick_reply": "DEVELOPER_DEFINED_PAYLOAD"}
    ],
    "messenger/image.json": [{"kind": "message", "body": "", "files": 1}],
    "messenger/location.json": [
        {
            "kind": "message",
            "body": "",
            "location": {
                "latitude": 37.483872693672,
                "longitude": -122.14900441942,
                "name": "Pinned Location",
            },
        }
    ],
    "messenger/postback_without_mid.json": [{"kind": "message", "body": "Get Started"}],
    "messenger/postback.json": [{"kind": "message", "body": "Talk to an agent"}],
    "messenger/reaction.json": [{"kind": "reaction", "body": "\u2764\ufe0f", "relates_to": MS_MID}],
    "messenger/unreaction.json": [{"kind": "reaction", "body": "", "relates_to": MS_MID}],
    "messenger/delivery.json": [{"status": "delivered"}],
    "messenger/read.json": [],
    "messenger/echo.json": [],
    "telegram/message.json": [{"kind": "message", "body": "Hi, world!"}],
    "telegram/edited_message.json": [
        {"kind": "edit", "body": "hi there (edited)", "relates_to": f"{TG_BOT}:12345678:12345"}
    ],
    "telegram/message_with_location.json": [
        {"kind": "message", "body": "", "location": {"latitude": 55.693416, "longitude": 37.624605}}
    ],
    "telegram/message_with_venue.json": [
        {
            "kind": "message",
            "body": "",
            "location": {
                "latitude": 38.710832,
                "longitude": -9.136742,
                "name": "Praça do Comércio",
                "address": "Praça do Comércio, 1100-148 Lisboa",
            },
        }
    ],
    "telegram/message_with_contact.json": [
        {
            "kind": "message",
            "body": "",
            "contacts": [
                {
                    "name": "Rui Costa",
                    "phones": [{"phone": "+351912345678"}],
                    "emails": [],
                    "telegram_user_id": 87654321,
                }
            ],
        }
    ],
    "telegram/message_with_photo.json": [{"kind": "message", "body": "description", "files": 1}],
    "telegram/message_with_voice.json": [{"kind": "message", "body": "", "files": 1}],
    "telegram/reply_message.json": [{"kind": "message", "body": "Reply to quoted message"}],
    "telegram/message_with_game.json": [{"ignored": True}],
    "telegram/callback_query.json": [{"kind": "message", "body": "Yes", "callback_data": "yes"}],
    "telegram/shipping_query.json": [{"ignored": True}],
    "sms/inbound_text.json": [{"kind": "message", "body": "Hola, necesito ayuda con mi pedido"}],
    "sms/inbound_mms.json": [{"kind": "message", "body": "", "files": 1}],
    "sms/status_delivered.json": [{"status": "delivered"}],
    "sms/status_undelivered.json": [{"status": "failed"}],
    "voice/incoming_call.json": [{"call": "ringing", "from": CALLER, "to": "+15005550006"}],
    "voice/gather_digits.json": [{"call": "in-progress", "from": CALLER, "to": "+15005550006"}],
    "voice/status_completed.json": [
        {"call": "completed", "from": CALLER, "to": "+15005550006", "duration_s": 184}
    ],
    "voice/status_no_answer.json": [
        {"call": "no-answer", "from": CALLER, "to": "+15005550006", "duration_s": 0}
    ],
}
# the sender's name each channel's payloads give (Messenger's come from the profile API;
# Telegram's are the sender's first and last name)
NAMES = {"whatsapp": SHEENA, "messenger": None, "sms": None}


def recorded(channel: str | None = None) -> list[str]:
    pattern = f"{channel}/*.json" if channel else "*/*.json"
    return sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.glob(pattern))


# ---- the inbound contract: verify, then parse, for every webhook adapter --------------------

WEBHOOK_BASE = "https://threadline.test"
NUMBER = "+15005550006"
TWILIO_TOKEN = "recorded-payloads-auth-token"
META_SECRET = json.dumps({"app_secret": meta.APP_SECRET, "access_token": meta.ACCESS_TOKEN})


class _Form(dict[str, list[str]]):
    """The shape Twilio's RequestValidator reads repeated fields from."""

    def getlist(self, name: str) -> list[str]:
        return list(self[name])


def _twilio_signature(secret: str, request: InboundRequest) -> dict[str, str]:
    form = _Form({k: list(v) for k, v in request.form.items()})
    return {"x-twilio-signature": RequestValidator(secret).compute_signature(request.url, form)}


def _meta_signature(secret: str, request: InboundRequest) -> dict[str, str]:
    app_secret = json.loads(secret)["app_secret"]
    return {"x-hub-signature-256": meta_webhooks.sign(app_secret, request.body)}


def _telegram_token(secret: str, request: InboundRequest) -> dict[str, str]:
    return {"x-telegram-bot-api-secret-token": webhook_secret(secret, TG_BOT)}


@dataclass(frozen=True)
class Webhook:
    """How a channel's provider calls its endpoint: the endpoint (with the provider
    credential), where, and how the provider signs a request with a credential."""

    endpoint: EndpointConfig
    path: str
    sign: Callable[[str, InboundRequest], dict[str, str]]
    wrong_secret: str
    signs_body: bool = True  # Telegram's secret token proves the sender, not the body


WEBHOOKS = {
    "sms": Webhook(
        EndpointConfig("e-sms", "sms", NUMBER, {"provider": "twilio"}, TWILIO_TOKEN),
        "/webhooks/sms/twilio/%2B15005550006",
        _twilio_signature,
        "not-the-auth-token-0123",
    ),
    "voice": Webhook(
        EndpointConfig("e-voice", "voice", NUMBER, {"provider": "twilio"}, TWILIO_TOKEN),
        "/webhooks/voice/twilio/%2B15005550006",
        _twilio_signature,
        "not-the-auth-token-0123",
    ),
    "whatsapp": Webhook(
        EndpointConfig("e-wa", "whatsapp", WA_PHONE_NUMBER_ID, {}, META_SECRET),
        f"/webhooks/whatsapp/{WA_PHONE_NUMBER_ID}",
        _meta_signature,
        json.dumps({"app_secret": "another-app", "access_token": meta.ACCESS_TOKEN}),
    ),
    "messenger": Webhook(
        EndpointConfig("e-ms", "messenger", MS_PAGE_ID, {}, META_SECRET),
        f"/webhooks/messenger/{MS_PAGE_ID}",
        _meta_signature,
        json.dumps({"app_secret": "another-app", "access_token": meta.ACCESS_TOKEN}),
    ),
    "telegram": Webhook(
        EndpointConfig("e-tg", "telegram", TG_BOT, {}, telegram.BOT_TOKEN),
        f"/webhooks/telegram/{TG_BOT}",
        _telegram_token,
        "7012345678:AAWrongTokenOfSomeoneElse_9876543210",
        signs_body=False,
    ),
}


@pytest.fixture
async def receivers() -> AsyncIterator[dict[str, InboundAdapter]]:
    """Every webhook channel's adapter, as build_channels makes it."""
    made: dict[str, Any] = {
        "sms": SmsAdapter(WEBHOOK_BASE),
        "voice": VoiceAdapter(WEBHOOK_BASE),
        "whatsapp": WhatsAppAdapter(),
        "messenger": MessengerAdapter(),
        "telegram": TelegramAdapter(WEBHOOK_BASE),
    }
    yield made
    for adapter in made.values():
        await adapter.aclose()


def _form_request(url: str, form: Mapping[str, Sequence[str]]) -> InboundRequest:
    fields = {k: tuple(v) for k, v in form.items()}
    body = urlencode([(k, v) for k, values in fields.items() for v in values]).encode()
    content_type = {"content-type": "application/x-www-form-urlencoded"}
    return InboundRequest(url, content_type, body, fields, dict(parse_qsl(urlsplit(url).query)))


def _json_request(url: str, body: bytes) -> InboundRequest:
    return InboundRequest(url, {"content-type": "application/json"}, body)


def unsigned(name: str) -> InboundRequest:
    """A recorded payload as its provider posts it to its endpoint's webhook, unsigned: a
    Twilio form to the URL of its kind (a delivery report to `/status`), a JSON body as
    recorded, byte for byte."""
    channel = name.split("/")[0]
    raw = (FIXTURES / name).read_bytes()
    url = WEBHOOK_BASE + WEBHOOKS[channel].path
    if channel not in ("sms", "voice"):
        return _json_request(url, raw)
    form = json.loads(raw)
    if "MessageStatus" in form:
        url += "/status?outbox_id=4b0c8f0e-1f0a-4d8e-9a51-0d3c2f6e7a10"
    elif "CallDuration" in form:
        url += "/status"
    elif "Digits" in form:
        url += "/ivr?step=menu&tries=1"
    return _form_request(url, form)


def signed(channel: str, request: InboundRequest, secret: str | None = None) -> InboundRequest:
    webhook = WEBHOOKS[channel]
    headers = webhook.sign(secret or str(webhook.endpoint.secret), request)
    return replace(request, headers={**request.headers, **headers})


def tampered(request: InboundRequest) -> InboundRequest:
    """The same request with one value changed after it was signed (the signature kept)."""
    if request.form:
        first = sorted(request.form)[0]
        form = {**request.form, first: ("tampered",)}
        return replace(_form_request(request.url, form), headers=request.headers)
    payload = json.loads(request.body)
    return replace(request, body=json.dumps({**payload, "tampered": True}).encode())


Read = InboundEvent


def read(name: str, receivers: dict[str, InboundAdapter]) -> list[Read]:
    """What the channel's adapter makes of a recorded body, correctly signed: verify, then
    parse, as the webhook route does."""
    channel = name.split("/")[0]
    adapter, config = receivers[channel], WEBHOOKS[channel].endpoint
    request = signed(channel, unsigned(name))
    adapter.verify(config, request)
    return adapter.parse(config, request)


def summary(item: Read) -> dict[str, Any]:
    if isinstance(item, Skipped):
        return {"ignored": True, "unreadable": True} if item.unreadable else {"ignored": True}
    if isinstance(item, StatusUpdate):
        return {"status": item.status}
    if isinstance(item, CallUpdate):
        call = {"call": item.status, "from": item.caller, "to": item.called}
        return call if item.duration_s is None else {**call, "duration_s": item.duration_s}
    out: dict[str, Any] = {"kind": item.kind, "body": item.body}
    if item.relates_to:
        out["relates_to"] = item.relates_to
    if item.attachments:
        out["files"] = len(item.attachments)
    for name in ("location", "contacts", "callback_data", "quick_reply"):
        if name in item.data:
            out[name] = item.data[name]
    if (unsupported := item.data.get("unsupported")) is not None:
        out["unsupported"] = f"{unsupported['type']}: {unsupported.get('reason', '')}"
    return out


def test_every_recorded_payload_has_its_expectation() -> None:
    assert recorded() == sorted(EXPECTED)
    for channel in WEBHOOKS:
        assert len(recorded(channel)) >= 4, channel


def test_every_webhook_channel_has_an_inbound_adapter(registry: ChannelRegistry) -> None:
    """The registry's receivers are exactly the channels with a webhook, and each is
    checked here."""
    receiving = {n for n in registry.names() if callable(getattr(registry.get(n), "parse", None))}
    assert receiving == set(WEBHOOK_PATHS) == set(WEBHOOKS)
    for channel in receiving:
        assert registry.receiver(channel).verifies_signatures is True


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_recorded_payload_reads_into_normalised_events(
    name: str, receivers: dict[str, InboundAdapter]
) -> None:
    channel = name.split("/")[0]
    events = read(name, receivers)
    assert [summary(e) for e in events] == EXPECTED[name]
    assert read(name, receivers) == events  # plain data: the same request, the same events
    for event in events:
        if channel in ("whatsapp", "messenger") and not isinstance(event, CallUpdate):
            assert event.recipient == WEBHOOKS[channel].endpoint.key
        if not isinstance(event, InboundMessage):
            continue
        assert event.channel == channel and event.identity_value and event.provider_msg_id
        json.dumps(dict(event.data))  # what is stored must be JSON
        if channel in NAMES:
            assert event.sender_name == NAMES[channel]
        else:
            raw = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
            update = raw.get("message") or raw.get("edited_message") or raw["callback_query"]
            sender = update["from"]
            given = (sender.get("first_name"), sender.get("last_name"))
            assert event.sender_name == " ".join(p for p in given if p)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_wrong_or_missing_signature_is_refused(
    name: str, receivers: dict[str, InboundAdapter]
) -> None:
    channel = name.split("/")[0]
    adapter, webhook = receivers[channel], WEBHOOKS[channel]
    request = unsigned(name)
    for refused in (request, signed(channel, request, webhook.wrong_secret)):
        with pytest.raises(SignatureInvalid):
            adapter.verify(webhook.endpoint, refused)
    without_secret = replace(webhook.endpoint, secret=None)
    with pytest.raises(SignatureInvalid):
        adapter.verify(without_secret, signed(channel, request))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_tampered_body_is_refused(name: str, receivers: dict[str, InboundAdapter]) -> None:
    channel = name.split("/")[0]
    adapter, webhook = receivers[channel], WEBHOOKS[channel]
    if not webhook.signs_body:
        pytest.skip(f"{channel} signs no body: its secret token proves the sender only")
    request = signed(channel, unsigned(name))
    adapter.verify(webhook.endpoint, request)
    with pytest.raises(SignatureInvalid):
        adapter.verify(webhook.endpoint, tampered(request))


@pytest.mark.parametrize(
    ("channel", "body"),
    [
        ("whatsapp", b"not json"),
        ("whatsapp", b"[]"),
        ("messenger", b'{"object": "page", "entry": "not a list"}'),
        ("telegram", b"not json"),
        ("telegram", b'{"message": {}}'),
    ],
)
def test_a_signed_body_of_another_kind_is_malformed(
    channel: str, body: bytes, receivers: dict[str, InboundAdapter]
) -> None:
    webhook = WEBHOOKS[channel]
    request = signed(channel, _json_request(WEBHOOK_BASE + webhook.path, body))
    receivers[channel].verify(webhook.endpoint, request)
    with pytest.raises(MalformedPayload):
        receivers[channel].parse(webhook.endpoint, request)


@pytest.mark.parametrize(("channel", "missing"), [("sms", "From"), ("voice", "CallSid")])
def test_a_signed_form_without_what_it_must_say_is_malformed(
    channel: str, missing: str, receivers: dict[str, InboundAdapter]
) -> None:
    form = json.loads((FIXTURES / f"{channel}/{recorded(channel)[0].split('/')[1]}").read_text())
    webhook = WEBHOOKS[channel]
    form.pop(missing)
    request = signed(channel, _form_request(WEBHOOK_BASE + webhook.path, form))
    receivers[channel].verify(webhook.endpoint, request)
    with pytest.raises(MalformedPayload):
        receivers[channel].parse(webhook.endpoint, request)


def test_a_postback_without_mid_has_a_stable_key_of_its_own() -> None:
    payload = json.loads((FIXTURES / "messenger/postback_without_mid.json").read_text())
    first = messenger_payload.parse_notification(MS_PAGE_ID, payload).messages[0]
    again = messenger_payload.parse_notification(MS_PAGE_ID, payload).messages[0]
    assert first.provider_msg_id == again.provider_msg_id
    assert first.provider_msg_id and first.data == {"postback": "GET_STARTED_PAYLOAD"}
    later = json.loads(json.dumps(payload))
    later["entry"][0]["messaging"][0]["timestamp"] += 1000  # the same button, tapped again
    tapped_again = messenger_payload.parse_notification(MS_PAGE_ID, later).messages[0]
    assert tapped_again.provider_msg_id != first.provider_msg_id


def test_one_unreadable_message_is_skipped_and_the_others_kept() -> None:
    payload = json.loads((FIXTURES / "whatsapp/batch_with_contacts.json").read_text())
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    messages.insert(1, {"id": "wamid.X", "from": "16505551234", "type": "location"})
    messages.insert(0, "not an object")
    notification = whatsapp_payload.parse_notification(WA_PHONE_NUMBER_ID, payload)
    assert [m.provider_msg_id for m in notification.messages] == [
        "wamid.BATCH.1",
        "wamid.BATCH.2",
        "wamid.BATCH.3",
    ]
    assert len(notification.skipped) == 2


def test_only_a_reaction_or_an_edit_relates_to_a_message() -> None:
    said = {"channel": "whatsapp", "identity_kind": "phone", "identity_value": "+1", "body": ""}
    assert InboundMessage(**said, kind="reaction", relates_to="wamid.1").relates_to == "wamid.1"
    for wrong in (
        {"kind": "reaction"},
        {"kind": "edit", "relates_to": ""},
        {"kind": "message", "relates_to": "wamid.1"},
        {"kind": "sticker", "relates_to": "wamid.1"},
    ):
        with pytest.raises(ValueError):
            InboundMessage(**said, **wrong)
