"""A customer's media sent on WhatsApp, Messenger, Telegram or SMS (MMS), fetched from the
provider once and kept with the thread's files (attachments.py, by SHA-256) before the
message's entry is committed, as call recordings are (docs/files.md).

Each adapter fetches its own way (`MediaSource.fetch_media`): the provider's credentials go
only to the provider's own host. Here: the webhook's time budget (the provider is waiting
for our answer), a retried webhook fetching nothing again (a message already stored keeps
what it has), and a failure keeping the provider's reference only (the message is stored
all the same)."""

from __future__ import annotations

import asyncio
import ipaddress
import mimetypes
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy import select

from threadline.channels.contract import EndpointConfig, InboundMessage
from threadline.channels.models import Endpoint
from threadline.channels.outbox import endpoint_config
from threadline.context import Context
from threadline.threads.models import ThreadEvent
from threadline.web.media import media_store

log = structlog.get_logger(__name__)

# What one file may weigh to be kept (a bigger one stays at the provider: its tile remains).
MEDIA_MAX_BYTES = 25 * 1024 * 1024
# All of one webhook's media must be fetched within this: the provider waits for our
# answer (Twilio gives up after 15 s, Meta and Telegram retry a slow answer).
MEDIA_BUDGET_S = 10.0
# No fetch starts with less time than this left (it would only time out).
MEDIA_MIN_S = 0.5
_CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


class MediaUnavailable(Exception):
    """The provider did not hand the file over (refused, gone, too big, too slow, or not
    where its credentials may go); the message keeps the provider's reference."""


@dataclass(frozen=True, slots=True)
class FetchedMedia:
    data: bytes
    content_type: str  # as the provider says it (checked here)
    filename: str | None = None


class MediaSource(Protocol):
    async def fetch_media(
        self, endpoint: EndpointConfig, attachment: Mapping[str, Any]
    ) -> FetchedMedia:
        """The attachment's bytes; raises MediaUnavailable."""
        ...


def media_deadline() -> float:
    """The event loop time by which a webhook's media must be in (MEDIA_BUDGET_S from now)."""
    return asyncio.get_running_loop().time() + MEDIA_BUDGET_S


async def keep_media(
    ctx: Context,
    endpoint: Endpoint,
    message: InboundMessage,
    source: MediaSource,
    deadline: float,
) -> InboundMessage:
    """The message with each attachment the provider hands over kept here: the attachment
    gains `sha256`, `content_type`, `size` and `filename` (its provider reference stays).
    A message already stored (a retried webhook) is returned as it came: do_ingest returns
    the stored entry, and nothing is fetched again."""
    if not message.attachments or not callable(getattr(source, "fetch_media", None)):
        return message  # nothing to fetch, or an adapter that fetches nothing
    if await _stored_already(ctx, endpoint, message):
        return message
    config = endpoint_config(endpoint)
    store = media_store(ctx.settings)
    loop = asyncio.get_running_loop()
    kept: list[Mapping[str, Any]] = []
    for attachment in message.attachments:
        left = deadline - loop.time()
        if left < MEDIA_MIN_S:
            _not_kept(endpoint, message, "no time left in the webhook's budget")
            kept.append(attachment)
            continue
        try:
            async with asyncio.timeout(left):
                fetched = await source.fetch_media(config, attachment)
        except TimeoutError:
            _not_kept(endpoint, message, "too slow")
            kept.append(attachment)
            continue
        except MediaUnavailable as exc:
            _not_kept(endpoint, message, str(exc))
            kept.append(attachment)
            continue
        sha256 = await store.put(fetched.data)
        kept.append(_described(attachment, fetched, sha256))
    return replace(message, attachments=tuple(kept))


def _described(attachment: Mapping[str, Any], fetched: FetchedMedia, sha256: str) -> dict[str, Any]:
    described = dict(attachment)
    content_type = content_type_of(fetched.content_type)
    name = fetched.filename or _default_name(attachment, content_type)
    described |= {
        "sha256": sha256,
        "content_type": content_type,
        "size": len(fetched.data),
        "filename": name.replace("/", "_")[:255],
    }
    return described


def _default_name(attachment: Mapping[str, Any], content_type: str) -> str:
    for field in ("filename", "file_name", "title"):
        if isinstance(value := attachment.get(field), str) and value.strip():
            return value.strip()
    kind = str(attachment.get("type") or attachment.get("kind") or "file")
    kind = re.sub(r"[^A-Za-z0-9_-]", "", kind)[:32] or "file"
    return kind + (mimetypes.guess_extension(content_type) or "")


def content_type_of(value: str | None) -> str:
    kind = str(value or "").split(";", 1)[0].strip().lower()
    return kind if _CONTENT_TYPE.match(kind) and len(kind) <= 127 else "application/octet-stream"


def _not_kept(endpoint: Endpoint, message: InboundMessage, reason: str) -> None:
    log.warning(
        "channels.media_not_kept",
        channel=endpoint.channel,
        endpoint_id=endpoint.id,
        provider_msg_id=message.provider_msg_id,
        reason=reason[:300],
    )


async def _stored_already(ctx: Context, endpoint: Endpoint, message: InboundMessage) -> bool:
    """Whether an earlier delivery stored this message (read without a lock: do_ingest's
    unique index still decides; a concurrent twin at worst fetches the same bytes, which
    the content-addressed store keeps once)."""
    if not message.provider_msg_id:
        return False
    async with ctx.db.sessions() as session:
        found = await session.scalar(
            select(ThreadEvent.id).where(
                ThreadEvent.org_id == endpoint.org_id,
                ThreadEvent.channel == message.channel,
                ThreadEvent.provider_msg_id == message.provider_msg_id,
            )
        )
    return found is not None


# ---- fetching, for the adapters ------------------------------------------------------------


def same_origin(url: str, base: str) -> bool:
    """Whether `url` is on the host (scheme, host and port) of `base`."""
    a, b = urlsplit(url), urlsplit(base)
    return bool(a.netloc) and (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


@dataclass(frozen=True, slots=True)
class PinnedUrl:
    """A public https URL to fetch at the address it was checked at (`url` names the
    address; `host` goes in the Host header and the TLS handshake, whose certificate is
    still checked against it): a name that resolves elsewhere a moment later (DNS
    rebinding) reaches nothing new."""

    url: str
    host: str  # the Host header: the name, with the port when the URL gave one
    hostname: str  # the name the TLS certificate must be for


async def refuse_private(url: str) -> PinnedUrl:
    """The URL pinned to its address; MediaUnavailable unless it is https and its host
    resolves only to public addresses (no loopback, private, link-local or reserved ones: a
    URL in a webhook must not make Threadline reach into its own network)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise MediaUnavailable("only an https URL is fetched")
    try:
        port = parts.port or 443
        found = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except (OSError, ValueError) as exc:
        raise MediaUnavailable(f"the media host does not resolve: {exc}") from None
    addresses = [ipaddress.ip_address(str(a[0]).split("%", 1)[0]) for *_, a in found]
    if not addresses:
        raise MediaUnavailable("the media host does not resolve")
    if any(not ip.is_global or ip.is_multicast for ip in addresses):
        raise MediaUnavailable("the media host is a private address")
    ip = addresses[0]
    at = f"[{ip}]" if ip.version == 6 else str(ip)
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    pinned = parts._replace(netloc=f"{at}:{port}").geturl()
    return PinnedUrl(pinned, host, parts.hostname)


async def fetch_bounded(
    http: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    follow_redirects: bool = False,
    max_bytes: int = MEDIA_MAX_BYTES,
    timeout_s: float = MEDIA_BUDGET_S,
    pinned: PinnedUrl | None = None,
) -> tuple[bytes, str | None]:
    """GET `url` (at its `pinned` address, when given), read at most `max_bytes`; returns
    the bytes and the Content-Type header. Raises MediaUnavailable (errors never carry the
    URL: some hold a credential)."""
    sent = dict(headers or {})
    extensions: dict[str, Any] = {}
    if pinned is not None:
        url = pinned.url
        sent["Host"] = pinned.host
        extensions["sni_hostname"] = pinned.hostname
    try:
        async with http.stream(
            "GET",
            url,
            headers=sent,
            extensions=extensions or None,
            auth=auth,
            follow_redirects=follow_redirects,
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
        ) as response:
            if response.status_code != 200:
                raise MediaUnavailable(f"HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise MediaUnavailable("the file is too big to keep")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise MediaUnavailable("the file is too big to keep")
            content_type = response.headers.get("content-type")
    except httpx.HTTPError as exc:
        raise MediaUnavailable(type(exc).__name__) from None
    if not data:
        raise MediaUnavailable("the file is empty")
    return bytes(data), content_type
