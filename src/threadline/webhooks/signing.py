"""Standard Webhooks signatures (https://www.standardwebhooks.com), our own small signer.

A delivery carries three headers: `webhook-id` (the message id, the same on every retry so
the receiver can deduplicate), `webhook-timestamp` (Unix seconds of this attempt) and
`webhook-signature` (`v1,<base64 HMAC-SHA256>` of `"{id}.{timestamp}.{body}"`, keyed by the
bytes the secret `whsec_<base64>` encodes; several space-separated while a secret rotates).

Pure: no clock, no network; the timestamp and the randomness source are passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping

PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64 bytes
TOLERANCE_S = 300  # receivers refuse timestamps further than this from their clock


class BadSignature(ValueError):
    """The headers are missing, malformed, too old or too new, or no signature matches."""


def new_secret(token: bytes | None = None) -> str:
    """A fresh `whsec_<base64>` secret (from `token` when given: tests)."""
    raw = token if token is not None else secrets.token_bytes(SECRET_BYTES)
    return PREFIX + base64.b64encode(raw).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_` secret encodes; ValueError when it is not one."""
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is whsec_ and base64") from None
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value of one message: `v1,<base64>`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a signed delivery."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def verify(secret: str, received: Mapping[str, str], body: bytes, now: int) -> None:
    """Check a delivery as a receiver does; raises BadSignature, returns None when good."""
    lower = {k.lower(): v for k, v in received.items()}
    msg_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    given = lower.get("webhook-signature")
    if not (msg_id and stamp and given):
        raise BadSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise BadSignature("webhook-timestamp is not Unix seconds") from None
    if abs(now - timestamp) > TOLERANCE_S:
        raise BadSignature("webhook-timestamp is too far from now")
    expected = sign(secret, msg_id, timestamp, body).encode()
    if not any(hmac.compare_digest(expected, s.encode()) for s in given.split(" ") if s):
        raise BadSignature("no signature matches")
