"""Normalising identities so that the same phone or email always finds the same customer."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from threadline.errors import Invalid

IDENTITY_KINDS = ("phone", "email", "visitor", "whatsapp", "telegram", "messenger", "app")


def normalise_phone(raw: str, default_region: str | None = None) -> str:
    """E.164, e.g. '+351912345678'; raises Invalid for something that is not a number."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise Invalid(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_possible_number(number):
        raise Invalid(f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    try:
        # a quoted local part ("john doe"@example.com) is a valid address (RFC 5321 4.1.2)
        valid = validate_email(raw.strip(), check_deliverability=False, allow_quoted_local=True)
        return valid.normalized.lower()
    except EmailNotValidError as exc:
        raise Invalid(f"not an email address: {raw!r}") from exc


def normalise(kind: str, value: str) -> str:
    if kind not in IDENTITY_KINDS:
        raise Invalid(f"unknown identity kind {kind!r}")
    if kind in ("phone", "whatsapp"):
        return normalise_phone(value)
    if kind == "email":
        return normalise_email(value)
    value = value.strip()
    if not value or len(value) > 320:
        raise Invalid(f"empty or too long {kind} identity")
    return value
