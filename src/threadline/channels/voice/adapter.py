"""The voice channel adapter: an endpoint is a phone number (key in E.164); its settings name
the account, carry the IVR menu and, for the agents' softphones, the API key and TwiML app.

The endpoint's write-only secret is the account's auth token (it checks webhook signatures
and authorises Calls API requests), or, when the number also issues softphone tokens, a JSON
object `{"auth_token": "...", "api_key_secret": "..."}`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

import httpx
import phonenumbers

from threadline.channels.contract import (
    CallFailed,
    CallOutcomeUnknown,
    CallUpdate,
    Capabilities,
    EndpointConfig,
    InboundEvent,
    InboundRequest,
    MalformedPayload,
    SignatureInvalid,
)
from threadline.channels.provider_media import MediaUnavailable, fetch_bounded, same_origin
from threadline.channels.voice import twilio_voice
from threadline.channels.voice.ivr import Menu, flow_menu, parse_menu, routes
from threadline.channels.voice.twilio_calls import (
    DEFAULT_API_BASE,
    Account,
    CallResource,
    ParticipantResource,
    TwilioApiError,
    TwilioCalls,
    TwilioError,
    TwilioNoAnswer,
    TwilioUnreachable,
)

SID = re.compile(r"[A-Za-z0-9]{2,64}")
# A recording is kept as a file: an hour of mono MP3 at Twilio's 32 kbit/s is ~15 MB.
RECORDING_MAX_BYTES = 64 * 1024 * 1024
RECORDING_TIMEOUT_S = 20.0


class RecordingUnavailable(Exception):
    """The provider would not hand over a recording (gone, refused, too big, unreachable)."""


@dataclass(frozen=True, slots=True)
class VoiceCredentials:
    auth_token: str = field(repr=False)
    api_key_secret: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, secret: str | None) -> VoiceCredentials:
        """The credentials in an endpoint's secret (an empty auth token when it has none,
        which no signature matches)."""
        text = (secret or "").strip()
        if not text.startswith("{"):
            return cls(text)
        try:
            data = json.loads(text)
        except ValueError:
            return cls("")
        token, key_secret = data.get("auth_token"), data.get("api_key_secret")
        return cls(
            token if isinstance(token, str) else "",
            key_secret if isinstance(key_secret, str) and key_secret else None,
        )


def flow_of(settings: Mapping[str, Any]) -> str | None:
    """The flow a number runs as its IVR (`settings.bot.flow`, checked when saved)."""
    bot = settings.get("bot")
    flow = bot.get("flow") if isinstance(bot, Mapping) else None
    return flow if isinstance(flow, str) and flow else None


class VoiceAdapter:
    name: ClassVar[str] = "voice"
    capabilities: ClassVar[Capabilities] = Capabilities(text=False, voice=True)
    verifies_signatures: ClassVar[bool] = True
    address_kind: ClassVar[str] = "phone"

    def __init__(self, public_base_url: str, timeout_s: float = 15.0) -> None:
        self._base = public_base_url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5.0))
        self._calls = TwilioCalls(self._http)

    def webhook_url(self, key: str, suffix: str = "", **query: str | int | None) -> str:
        """The public URL of one of a number's webhooks, as Twilio will call (and sign) it;
        query values that are None are left out."""
        url = f"{self._base}/webhooks/voice/twilio/{quote(key, safe='')}{suffix}"
        given = {k: v for k, v in query.items() if v is not None}
        return url + (f"?{urlencode(given)}" if given else "")

    def verify(self, endpoint: EndpointConfig, request: InboundRequest) -> None:
        """Twilio's signature over the public URL called and the form, with the account's
        auth token; raises SignatureInvalid."""
        token = VoiceCredentials.parse(endpoint.secret).auth_token
        if not twilio_voice.verify(token, request.url, request.form, request.headers):
            raise SignatureInvalid("the webhook signature is missing or invalid")

    def parse(self, endpoint: EndpointConfig, request: InboundRequest) -> list[InboundEvent]:
        """What every voice webhook says of its call (an incoming call, an IVR answer, a
        status callback...); what is particular to one webhook (Digits, RecordingUrl) stays
        in the form for its service. Raises MalformedPayload without a CallSid."""
        form = request.form
        sid = twilio_voice.one(form, "CallSid")
        if not sid or len(sid) > 64:
            raise MalformedPayload("a voice webhook needs a CallSid")
        duration = twilio_voice.one(form, "CallDuration")
        update = CallUpdate(
            call_sid=sid,
            status=twilio_voice.one(form, "CallStatus").lower(),
            caller=twilio_voice.one(form, "From"),
            called=twilio_voice.one(form, "To"),
            direction=twilio_voice.one(form, "Direction"),
            duration_s=int(duration) if duration.isdigit() and len(duration) <= 7 else None,
        )
        return [update]

    def menu(
        self, endpoint: EndpointConfig, flow_languages: Sequence[tuple[str, str]] = ()
    ) -> Menu:
        """The number's menu. A number whose IVR is a flow (`settings.bot`) may set an
        `ivr` without options (its language question, hold settings and texts), else the
        flow's languages make its menu."""
        raw = endpoint.settings.get("ivr")
        if not flow_of(endpoint.settings):
            return parse_menu(raw)
        if raw is None:
            return flow_menu(flow_languages)
        return parse_menu(raw, needs_options=False)

    def records(self, endpoint: EndpointConfig) -> bool:
        return endpoint.settings.get("record") is True

    def conferences(self, endpoint: EndpointConfig) -> bool:
        """Whether the number's answered calls live in a conference (`settings.conference`):
        the agent can hold the caller and supervisors can listen, whisper and barge."""
        return endpoint.settings.get("conference") is True

    async def fetch_recording(self, endpoint: EndpointConfig, recording_url: str) -> bytes:
        """A finished recording's audio as MP3 (`{RecordingUrl}.mp3`, basic auth with the
        account's SID and token, as Twilio serves it). Only a URL on the account's own API
        host gets the credentials; raises RecordingUnavailable."""
        account = self.account(endpoint)
        if not same_origin(recording_url, account.api_base):
            raise RecordingUnavailable("the recording is not on the account's API host")
        try:
            audio, _type = await fetch_bounded(
                self._http,
                recording_url + ".mp3",
                auth=(account.sid, account.auth_token),
                max_bytes=RECORDING_MAX_BYTES,
                timeout_s=RECORDING_TIMEOUT_S,
            )
        except MediaUnavailable as exc:
            raise RecordingUnavailable(str(exc)) from exc
        return audio

    def configure(self, key: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The key is the number in E.164; settings: account_sid, api_base, ivr, record,
        conference, and
        for softphones api_key_sid and twiml_app_sid; `bot` (checked by the caller) when a
        flow is the number's IVR."""
        try:
            number = phonenumbers.parse(key, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError("key: the endpoint's phone number in E.164 (+15005550006)") from exc
        if phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != key:
            raise ValueError("key: the endpoint's phone number in E.164 (+15005550006)")
        provider = settings.get("provider", "twilio")
        if provider != "twilio":
            raise ValueError("settings.provider: one of ['twilio']")
        sid = settings.get("account_sid")
        if not isinstance(sid, str) or not SID.fullmatch(sid):
            raise ValueError("settings.account_sid: the Twilio account SID is required")
        for name in ("api_key_sid", "twiml_app_sid"):
            value = settings.get(name)
            if value is not None and (not isinstance(value, str) or not SID.fullmatch(value)):
                raise ValueError(f"settings.{name}: a Twilio SID")
        for flag in ("record", "conference"):
            if not isinstance(settings.get(flag, False), bool):
                raise ValueError(f"settings.{flag}: true or false")
        api_base = settings.get("api_base") or DEFAULT_API_BASE
        parts = urlsplit(api_base) if isinstance(api_base, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("settings.api_base: an http(s) URL")
        flow = flow_of(settings)  # a flow is the IVR: the menu is optional, without options
        if settings.get("ivr") is not None or not flow:
            parse_menu(settings.get("ivr"), needs_options=not flow)  # ValueError names the field
        return {
            **settings,
            "provider": "twilio",
            "account_sid": sid,
            "api_base": api_base.rstrip("/"),
        }

    def queue_names(self, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The queues an endpoint's IVR sends callers to, by name, each with the setting that
        names it (`settings.ivr.options[0].queue`); a flow's queues fall back to the
        endpoint's when missing, like the bot's on the other channels."""
        if flow_of(settings):
            return []
        menu = parse_menu(settings.get("ivr"))
        named = routes(menu.options)
        if menu.default_queue:
            named.append(("settings.ivr.default.queue", menu.default_queue))
        return named

    # ------------------------------------------------------------ the Calls API
    def account(self, endpoint: EndpointConfig) -> Account:
        return Account(
            sid=str(endpoint.settings.get("account_sid", "")),
            auth_token=VoiceCredentials.parse(endpoint.secret).auth_token,
            api_base=str(endpoint.settings.get("api_base") or DEFAULT_API_BASE),
        )

    async def place(
        self,
        endpoint: EndpointConfig,
        *,
        to: str,
        answer_url: str,
        status_callback: str,
        timeout_s: int = 30,
        machine_detection: bool = False,
    ) -> CallResource:
        """Call `to` from the endpoint's number, ringing `timeout_s`; raises CallFailed /
        CallOutcomeUnknown."""
        try:
            return await self._calls.create(
                self.account(endpoint),
                to=to,
                from_=endpoint.key,
                url=answer_url,
                status_callback=status_callback,
                timeout_s=timeout_s,
                machine_detection=machine_detection,
            )
        except TwilioError as exc:
            raise _call_failed(exc) from exc

    async def redirect(self, endpoint: EndpointConfig, call_sid: str, url: str) -> CallResource:
        """Make a live call fetch its TwiML from `url` now; raises CallFailed."""
        try:
            return await self._calls.redirect(self.account(endpoint), call_sid, url)
        except TwilioError as exc:
            raise _call_failed(exc) from exc

    # ------------------------------------------------------------ conference participants
    async def add_participant(
        self,
        endpoint: EndpointConfig,
        conference: str,
        *,
        to: str,
        status_callback: str | None = None,
        options: Sequence[tuple[str, str]] = (),
    ) -> ParticipantResource:
        """Dial `to` from the endpoint's number into `conference` (SID or friendly name);
        raises CallFailed / CallOutcomeUnknown."""
        try:
            return await self._calls.add_participant(
                self.account(endpoint),
                conference,
                from_=endpoint.key,
                to=to,
                status_callback=status_callback,
                options=options,
            )
        except TwilioError as exc:
            raise _call_failed(exc) from exc

    async def update_participant(
        self,
        endpoint: EndpointConfig,
        conference_sid: str,
        call_sid: str,
        options: Sequence[tuple[str, str]],
    ) -> ParticipantResource:
        """Hold, mute or coach a participant; raises CallFailed / CallOutcomeUnknown."""
        try:
            return await self._calls.update_participant(
                self.account(endpoint), conference_sid, call_sid, options
            )
        except TwilioError as exc:
            raise _call_failed(exc) from exc

    async def remove_participant(
        self, endpoint: EndpointConfig, conference_sid: str, call_sid: str
    ) -> None:
        try:
            await self._calls.remove_participant(self.account(endpoint), conference_sid, call_sid)
        except TwilioError as exc:
            raise _call_failed(exc) from exc

    async def aclose(self) -> None:
        await self._http.aclose()


def _call_failed(exc: TwilioError) -> CallFailed:
    if isinstance(exc, TwilioUnreachable):
        return CallFailed(str(exc), retryable=True)
    if isinstance(exc, TwilioNoAnswer):
        return CallOutcomeUnknown(str(exc))
    retryable = isinstance(exc, TwilioApiError) and exc.retryable
    return CallFailed(str(exc), retryable=retryable)
