"""A Meta endpoint's configuration, shared by WhatsApp and Messenger.

The endpoint's write-only `secret` holds both Meta credentials as a JSON object,
`{"app_secret": "...", "access_token": "..."}`: the app secret checks webhook signatures,
the access token authorises sends. Settings (shown back to admins) hold no secret: the
webhook verify token is kept as its SHA-256 (`verify_token_sha256`)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from threadline.channels.contract import (
    EndpointConfig,
    SendFailed,
    SendOutcomeUnknown,
    retry_after_seconds,
)
from threadline.channels.meta.graph_client import (
    DEFAULT_API_BASE,
    DEFAULT_API_VERSION,
    GraphApiError,
    GraphNoAnswer,
    GraphUnreachable,
)
from threadline.channels.meta.webhooks import token_digest

API_VERSION = re.compile(r"v\d{1,3}\.\d{1,2}")


@dataclass(frozen=True, slots=True)
class MetaCredentials:
    app_secret: str = field(repr=False)
    access_token: str = field(repr=False)

    @classmethod
    def parse(cls, secret: str | None) -> MetaCredentials | None:
        """The credentials in an endpoint's secret, or None when it holds none."""
        try:
            data = json.loads(secret or "")
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        app_secret, token = data.get("app_secret"), data.get("access_token")
        if not isinstance(app_secret, str) or not isinstance(token, str):
            return None
        return cls(app_secret, token) if app_secret and token else None


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Normalised settings: api_base, api_version, and the verify token replaced by its
    digest (a digest given back as-is is kept); raises ValueError."""
    api_base = settings.get("api_base") or DEFAULT_API_BASE
    parts = urlsplit(api_base) if isinstance(api_base, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("settings.api_base: an http(s) URL")
    version = settings.get("api_version") or DEFAULT_API_VERSION
    if not isinstance(version, str) or not API_VERSION.fullmatch(version):
        raise ValueError("settings.api_version: a Graph API version such as v21.0")
    out = {k: v for k, v in settings.items() if k != "verify_token"}
    token = settings.get("verify_token")
    if token is not None:
        if not isinstance(token, str) or not 8 <= len(token) <= 200:
            raise ValueError("settings.verify_token: 8 to 200 characters")
        out["verify_token_sha256"] = token_digest(token)
    if not isinstance(out.get("verify_token_sha256"), str):
        raise ValueError("settings.verify_token: the token Meta's webhook handshake sends")
    return {**out, "api_base": api_base.rstrip("/"), "api_version": version}


def graph_target(endpoint: EndpointConfig) -> dict[str, str]:
    """The keyword arguments GraphClient.post needs besides the path and payload."""
    credentials = MetaCredentials.parse(endpoint.secret)
    if credentials is None:
        raise SendFailed("the endpoint has no Meta access token", retryable=False)
    return {
        "access_token": credentials.access_token,
        "api_base": str(endpoint.settings.get("api_base") or DEFAULT_API_BASE),
        "api_version": str(endpoint.settings.get("api_version") or DEFAULT_API_VERSION),
    }


@asynccontextmanager
async def provider_errors() -> AsyncIterator[None]:
    """Graph API errors, translated at the adapter boundary."""
    try:
        yield
    except GraphUnreachable as exc:
        raise SendFailed(str(exc), retryable=True) from exc
    except GraphNoAnswer as exc:
        raise SendOutcomeUnknown(str(exc)) from exc
    except GraphApiError as exc:
        wait = retry_after_seconds(exc.retry_after, datetime.now(UTC))
        raise SendFailed(str(exc), retryable=exc.retryable, retry_after_s=wait) from exc


# Where Meta serves media: the Cloud API's media URLs (lookaside.fbsbx.com) and Messenger's
# CDN (*.fbcdn.net); an access token goes to nothing else but the configured Graph API.
META_MEDIA_HOSTS = (".fbsbx.com", ".fbcdn.net", ".facebook.com", ".whatsapp.net")


def meta_media_url(url: str, api_base: str) -> bool:
    """Whether `url` is on one of Meta's own media hosts (https), or on the endpoint's
    configured Graph API host (a test's fake)."""
    parts = urlsplit(url)
    if not parts.netloc or len(url) > 2000:
        return False
    base = urlsplit(api_base)
    if (parts.scheme, parts.hostname, parts.port) == (base.scheme, base.hostname, base.port):
        return True
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and parts.port in (None, 443) and host.endswith(META_MEDIA_HOSTS)
