"""The voice channel adapter: an endpoint is a phone number (key in E.164, secret = the
provider's auth token); its settings name the account and carry the IVR menu."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

import phonenumbers

from threadline.channels.contract import Capabilities, EndpointConfig
from threadline.channels.voice.ivr import Menu, parse_menu

ACCOUNT_SID = re.compile(r"[A-Za-z0-9]{2,64}")
DEFAULT_API_BASE = "https://api.twilio.com"


class VoiceAdapter:
    name: ClassVar[str] = "voice"
    capabilities: ClassVar[Capabilities] = Capabilities(text=False, voice=True)
    verifies_signatures: ClassVar[bool] = True
    address_kind: ClassVar[str] = "phone"

    def __init__(self, public_base_url: str) -> None:
        self._base = public_base_url.rstrip("/")

    def webhook_url(self, key: str, suffix: str = "", **query: str | int) -> str:
        """The public URL of one of a number's webhooks, as Twilio will call (and sign) it."""
        url = f"{self._base}/webhooks/voice/twilio/{quote(key, safe='')}{suffix}"
        return url + (f"?{urlencode(query)}" if query else "")

    def menu(self, endpoint: EndpointConfig) -> Menu:
        return parse_menu(endpoint.settings.get("ivr"))

    def configure(self, key: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The key is the number in E.164; settings: account_sid, api_base, ivr."""
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
        if not isinstance(sid, str) or not ACCOUNT_SID.fullmatch(sid):
            raise ValueError("settings.account_sid: the Twilio account SID is required")
        api_base = settings.get("api_base") or DEFAULT_API_BASE
        parts = urlsplit(api_base) if isinstance(api_base, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("settings.api_base: an http(s) URL")
        parse_menu(settings.get("ivr"))  # raises ValueError naming the field
        return {
            **settings,
            "provider": "twilio",
            "account_sid": sid,
            "api_base": api_base.rstrip("/"),
        }
