"""Meta's webhook checks, pure and free of Threadline imports.

- Subscription handshake: Meta calls `GET ...?hub.mode=subscribe&hub.verify_token=T&
  hub.challenge=C` and expects `C` back when `T` is the token configured on both sides.
  Threadline keeps only the token's SHA-256, so it is never shown back.
- Notifications: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed with
  the app secret>`; the body must be checked byte for byte, before it is parsed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Hub-Signature-256"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign(app_secret: str, body: bytes) -> str:
    """The header value Meta sends for `body`."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the app's signature of `body` (constant-time compare)."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(app_secret, body).encode(), header.strip().encode())


def handshake_challenge(params: Mapping[str, str], verify_token_sha256: str) -> str | None:
    """The challenge to echo when the handshake is ours, else None (answer 403)."""
    token = params.get("hub.verify_token") or ""
    if params.get("hub.mode") != "subscribe" or not token or not verify_token_sha256:
        return None
    if not hmac.compare_digest(token_digest(token).encode(), verify_token_sha256.encode()):
        return None
    return params.get("hub.challenge") or None
