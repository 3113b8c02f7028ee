"""What a company's server computes to vouch for a customer (docs/widget.md, docs/app.md),
written out independently of Threadline's code, so that a change of the signed format
breaks the tests that use it."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any


def site_hash(
    secret: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    assurance: Mapping[str, Any] | None = None,
) -> str:
    """The hex HMAC-SHA256 of the canonical identity (email and phone already normalised:
    lower-case, E.164)."""
    assurance = assurance or {}
    lines = [
        "threadline-identity-v1",
        f"email:{email or ''}",
        f"phone:{phone or ''}",
        f"name:{name or ''}",
        f"level:{assurance.get('level') or ''}",
        f"method:{assurance.get('method') or ''}",
        f"at:{assurance.get('at') or ''}",
    ]
    message = "\n".join(lines).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_identify(secret: str, **fields: str) -> dict[str, Any]:
    """A widget `identify` frame whose hash vouches for exactly these fields."""
    return {"type": "identify", **fields, "hash": site_hash(secret, **fields)}
