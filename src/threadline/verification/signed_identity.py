"""What a company's server signs when it vouches for a customer (the chat widget's host site,
the app's backend), and the check of that signature. Pure: no I/O, no clock.

The signature covers every field it vouches for, canonically encoded (docs/widget.md):

    threadline-identity-v1
    email:<address, lower-cased, its domain in Unicode>
    phone:<E.164>
    name:<the name exactly as sent>
    level:<assurance level>
    method:<assurance method>
    at:<assurance time exactly as sent>

one line each, in this order, joined by a line feed (no final one), an absent field empty,
UTF-8; `hash` is the hex HMAC-SHA256 of those bytes keyed with the endpoint's secret. A hash
either vouches for all of the fields sent with it or for none: it never vouches for a field
it does not cover (the old form, the HMAC of the email alone, let a visitor add somebody
else's phone beside their own signed email).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from threadline.customers.identities import normalise_email, normalise_phone

VERSION = "threadline-identity-v1"
FIELDS = ("email", "phone", "name", "level", "method", "at")


class IdentityRefused(ValueError):
    """A signed identity that cannot be accepted; the message says why."""


@dataclass(frozen=True, slots=True)
class SignedFields:
    """The fields a signature covers, already normalised (email, E.164 phone); None or ''
    for an absent one."""

    email: str | None = None
    phone: str | None = None
    name: str | None = None
    level: str | None = None
    method: str | None = None
    at: str | None = None


def signed_fields(
    *,
    email: str | None,
    phone: str | None,
    name: str | None,
    level: str | None = None,
    method: str | None = None,
    at: str | None = None,
) -> SignedFields:
    """The fields as they are signed: the email and phone normalised as Threadline stores
    them (raises Invalid for something that is not one), the rest exactly as sent."""
    return SignedFields(
        email=normalise_email(email) if email else None,
        phone=normalise_phone(phone) if phone else None,
        name=name or None,
        level=level or None,
        method=method or None,
        at=at or None,
    )


def canonical_message(fields: SignedFields) -> bytes:
    """The exact bytes the company's server signs for these fields."""
    lines = [VERSION]
    for field in FIELDS:
        value = getattr(fields, field) or ""
        if "\n" in value or "\r" in value:
            raise IdentityRefused(f"{field} must be on one line")
        lines.append(f"{field}:{value}")
    return "\n".join(lines).encode()


def sign(secret: str, fields: SignedFields) -> str:
    """The hex hash the company's server sends with these fields (tests, docs, demo)."""
    return hmac.new(secret.encode(), canonical_message(fields), hashlib.sha256).hexdigest()


def signature_matches(secret: str | None, fields: SignedFields, given: str | None) -> bool:
    """Whether `given` is the endpoint's signature of exactly these fields. Compares bytes:
    a hash with non-ASCII characters is simply wrong (hmac.compare_digest raises on
    non-ASCII str)."""
    if not secret or not given:
        return False
    expected = sign(secret, fields).encode()
    return hmac.compare_digest(expected, given.strip().lower().encode("utf-8", "replace"))
