"""The app channel: a company's mobile app (or the customer web page) speaking to Threadline.

An app endpoint has a key (public, in the app) and a secret (on the company's backend only).
The backend vouches for its logged-in customer as the chat widget's host site does
(docs/widget.md, docs/app.md): `hash` is the hex HMAC-SHA256, keyed with the secret, of the
canonical encoding of every field it sends, the assurance the app reached included
(verification/signed_identity.py). Threadline answers with a signed session token
(itsdangerous) that authorises the app for that customer only.

Settings (all optional), checked by `configure`:
  voice_number     the number "call now" hands out (default: the organisation's first
                   voice endpoint)
  contact_channel  the channel app contacts are routed as: app (default), voice or chat
  queues           names of queues the app may ask for besides the endpoint's own
  color            the customer page's brand colour, #rrggbb
  reasons          [{"code", "label", "queue", "tier", "questions": [{"id", "label",
                   "options": [{"value", "label"}]}]}]; labels are text or {language: text}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import phonenumbers
from itsdangerous import BadSignature, URLSafeTimedSerializer

from threadline.channels.contract import Capabilities

SESSION_SALT = "threadline.app.session"
CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
CONTACT_CHANNELS = ("app", "voice", "chat")
MAX_REASONS = 50
MAX_QUESTIONS = 5
MAX_OPTIONS = 20
MAX_LABEL = 200


@dataclass(frozen=True, slots=True)
class AppToken:
    """What a session token says: this endpoint's app acts for this customer, who reached
    this assurance (its JSON form, None when anonymous)."""

    endpoint_id: str
    customer_id: str
    assurance: dict[str, Any] | None = None


class AppAdapter:
    name: ClassVar[str] = "app"
    capabilities: ClassVar[Capabilities] = Capabilities(text=False)
    verifies_signatures: ClassVar[bool] = True

    def __init__(self, secret_key: str, max_age_s: int) -> None:
        self._signer = URLSafeTimedSerializer(secret_key, salt=SESSION_SALT)
        self._max_age_s = max_age_s

    def session_token(self, token: AppToken) -> str:
        return self._signer.dumps(
            {"e": token.endpoint_id, "c": token.customer_id, "a": token.assurance}
        )

    def read_session_token(self, raw: str) -> AppToken | None:
        try:
            data = self._signer.loads(raw, max_age=self._max_age_s)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        assurance = data.get("a") if isinstance(data.get("a"), dict) else None
        return AppToken(str(data.get("e")), data["c"], assurance)

    # ------------------------------------------------------------ endpoint settings
    def configure(self, key: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Check and normalise an app endpoint's settings; raises ValueError saying what."""
        out: dict[str, Any] = {k: v for k, v in settings.items() if k == "language"}
        if (number := settings.get("voice_number")) is not None:
            out["voice_number"] = _e164(number, "voice_number")
        channel = settings.get("contact_channel", "app")
        if channel not in CONTACT_CHANNELS:
            raise ValueError(f"contact_channel must be one of {', '.join(CONTACT_CHANNELS)}")
        out["contact_channel"] = channel
        if (color := settings.get("color")) is not None:
            if not isinstance(color, str) or not COLOR.match(color):
                raise ValueError("color must look like #0b5cad")
            out["color"] = color
        out["queues"] = _names(settings.get("queues", []), "queues")
        out["reasons"] = _reasons(settings.get("reasons", []))
        unknown = set(settings) - {"language", "voice_number", "contact_channel", "color"}
        unknown -= {"queues", "reasons"}
        if unknown:
            raise ValueError(f"unknown app settings: {', '.join(sorted(unknown))}")
        return out

    def queue_names(self, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The queues the settings name, with where (checked to exist on save)."""
        named = [(f"queues[{i}]", name) for i, name in enumerate(settings.get("queues", []))]
        for i, reason in enumerate(settings.get("reasons", [])):
            if reason.get("queue"):
                named.append((f"reasons[{i}].queue", reason["queue"]))
        return named


def _e164(value: Any, where: str) -> str:
    try:
        number = phonenumbers.parse(str(value), None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{where}: not a phone number in +country format") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"{where}: not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _names(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and 0 < len(v) <= 100 for v in value
    ):
        raise ValueError(f"{where} must be a list of queue names")
    return list(value)


def _label(value: Any, where: str) -> str | dict[str, str]:
    if isinstance(value, str) and 0 < len(value) <= MAX_LABEL:
        return value
    if (
        isinstance(value, dict)
        and value
        and all(
            isinstance(k, str) and len(k) <= 8 and isinstance(v, str) and 0 < len(v) <= MAX_LABEL
            for k, v in value.items()
        )
    ):
        return dict(value)
    raise ValueError(f"{where}: a text, or {{language: text}}, of 1 to {MAX_LABEL} characters")


def _reasons(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > MAX_REASONS:
        raise ValueError(f"reasons must be a list of at most {MAX_REASONS}")
    reasons, codes = [], set()
    for i, raw in enumerate(value):
        where = f"reasons[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("code"), str):
            raise ValueError(f"{where} needs a code")
        if not CODE.match(raw["code"]) or raw["code"] in codes:
            raise ValueError(f"{where}.code: 1-64 letters, digits, '_', '.', '-', unique")
        codes.add(raw["code"])
        reason: dict[str, Any] = {
            "code": raw["code"],
            "label": _label(raw.get("label", raw["code"]), f"{where}.label"),
        }
        if raw.get("queue") is not None:
            reason["queue"] = _names([raw["queue"]], f"{where}.queue")[0]
        tier = raw.get("tier", 0)
        if not isinstance(tier, int) or isinstance(tier, bool) or not 0 <= tier <= 5:
            raise ValueError(f"{where}.tier must be a whole number from 0 to 5")
        reason["tier"] = tier
        reason["questions"] = _questions(raw.get("questions", []), where)
        reasons.append(reason)
    return reasons


def _questions(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > MAX_QUESTIONS:
        raise ValueError(f"{where}.questions: a list of at most {MAX_QUESTIONS}")
    questions = []
    for j, raw in enumerate(value):
        at = f"{where}.questions[{j}]"
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("id"), str)
            or not CODE.match(raw["id"])
        ):
            raise ValueError(f"{at}.id: 1-64 letters, digits, '_', '.', '-'")
        question: dict[str, Any] = {
            "id": raw["id"],
            "label": _label(raw.get("label"), f"{at}.label"),
        }
        options = raw.get("options")
        if options is not None:
            if not isinstance(options, list) or not 0 < len(options) <= MAX_OPTIONS:
                raise ValueError(f"{at}.options: a list of 1 to {MAX_OPTIONS}")
            question["options"] = [_option(o, f"{at}.options[{k}]") for k, o in enumerate(options)]
        questions.append(question)
    return questions


def _option(raw: Any, where: str) -> dict[str, Any]:
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("value"), str)
        or not CODE.match(raw["value"])
    ):
        raise ValueError(f"{where}.value: 1-64 letters, digits, '_', '.', '-'")
    return {
        "value": raw["value"],
        "label": _label(raw.get("label", raw["value"]), f"{where}.label"),
    }
