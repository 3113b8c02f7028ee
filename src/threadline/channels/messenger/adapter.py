"""The Messenger channel adapter: sends through the Send API (`POST {api_base}/{api_version}/
me/messages`, the Page access token as bearer) as `messaging_type: RESPONSE`, which Meta
allows within 24 hours of the customer's last message (`service_window`).

An endpoint's key is the Page's id; its secret holds the app secret and the Page access
token (see channels/meta/endpoint.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import structlog

from threadline.channels.contract import (
    Capabilities,
    EndpointConfig,
    InboundEvent,
    InboundRequest,
    MediaLimits,
    OutboundMessage,
    SendFailed,
    SendOutcomeUnknown,
    SendResult,
)
from threadline.channels.messenger import payload
from threadline.channels.meta.endpoint import check_settings, graph_target, provider_errors
from threadline.channels.meta.graph_client import DEFAULT_API_BASE, GraphClient, GraphError
from threadline.channels.meta.notification import read_notification, verify_signature
from threadline.channels.meta.window import ServiceWindow
from threadline.channels.provider_media import (
    FetchedMedia,
    MediaUnavailable,
    fetch_bounded,
    refuse_private,
    same_origin,
)

log = structlog.get_logger(__name__)

# the attachment types that are files (a `fallback` is a shared link's page, not fetched)
FILE_TYPES = frozenset({"image", "video", "audio", "file"})
PAGE_ID = re.compile(r"\d{5,32}")
# a webhook waits for the profile: Meta expects its answer within seconds
PROFILE_TIMEOUT_S = 3.0
PROFILE_CACHE_S = 3600.0
PROFILE_RETRY_S = 300.0
PROFILE_CACHE_SIZE = 10_000


class MessengerAdapter:
    name: ClassVar[str] = "messenger"
    capabilities: ClassVar[Capabilities] = Capabilities(text=True, media=True, read_receipts=True)
    verifies_signatures: ClassVar[bool] = True
    address_kind: ClassVar[str] = "messenger"  # the page-scoped id (PSID)
    idempotent_sends: ClassVar[bool] = False  # the Send API takes no idempotency key
    service_window: ClassVar[ServiceWindow] = ServiceWindow(
        "outside Messenger's 24-hour window: wait for the customer to write"
    )
    # an attachment message carries no text, so a file goes alone
    media_limits: ClassVar[MediaLimits] = MediaLimits(
        max_count=1,
        max_bytes=8 * 1024 * 1024,
        content_types=frozenset({"image/jpeg", "image/png", "image/gif", "application/pdf"}),
        captions=False,
    )

    def __init__(self, timeout_s: float = 15.0) -> None:
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5.0))
        self._graph = GraphClient(self._http)
        # (page id, PSID) -> (until when, the name or None): names change rarely
        self._names: dict[tuple[str, str], tuple[float, str | None]] = {}

    async def send(self, endpoint: EndpointConfig, message: OutboundMessage) -> SendResult:
        payload = {
            "recipient": {"id": message.to},
            "messaging_type": "RESPONSE",
            "message": message_object(message),
        }
        async with provider_errors():
            answer = await self._graph.post("me/messages", payload, **graph_target(endpoint))
        mid = answer.get("message_id")
        if not isinstance(mid, str) or not mid:
            raise SendOutcomeUnknown("the Send API answered without a message id")
        return SendResult(provider_msg_id=mid, status="sent")

    async def profile_name(self, endpoint: EndpointConfig, psid: str) -> str | None:
        """The customer's name from the Graph API's user profile (`GET /{psid}?fields=
        first_name,last_name`, with the Page token); None when the page has no token, Meta
        does not answer in time or will not tell. Remembered for a while per page and PSID,
        so a busy customer costs one call, not one per message."""
        cache_key = (endpoint.key, psid)
        now = time.monotonic()
        if (cached := self._names.get(cache_key)) is not None and cached[0] > now:
            return cached[1]
        try:
            target = graph_target(endpoint)
            profile = await self._graph.get(
                psid, {"fields": "first_name,last_name"}, timeout_s=PROFILE_TIMEOUT_S, **target
            )
        except (SendFailed, GraphError) as exc:
            log.info("messenger.profile_unavailable", endpoint_id=endpoint.id, reason=str(exc))
            # not asked again for a while: a slow or failing Graph API must not make every
            # message of a busy page wait for it
            self._remember(cache_key, now + PROFILE_RETRY_S, None)
            return None
        parts = (profile.get("first_name"), profile.get("last_name"))
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip()) or None
        self._remember(cache_key, now + PROFILE_CACHE_S, name)
        return name

    def _remember(self, key: tuple[str, str], until: float, name: str | None) -> None:
        if key not in self._names and len(self._names) >= PROFILE_CACHE_SIZE:
            self._names.pop(next(iter(self._names)))  # the oldest entry
        self._names[key] = (until, name)

    async def fetch_media(
        self, endpoint: EndpointConfig, attachment: Mapping[str, Any]
    ) -> FetchedMedia:
        """A customer's attachment from its `payload.url` (Meta's CDN; a signed URL, no
        token needed, so none is sent). Any URL but one on the configured Graph API host
        (a test's fake) must be https to a public address; redirects are not followed.
        Raises MediaUnavailable."""
        if attachment.get("type") not in FILE_TYPES:
            raise MediaUnavailable("not a file (a shared link, a template)")
        url = attachment.get("url")
        if not isinstance(url, str) or len(url) > 2000:
            raise MediaUnavailable("no attachment URL")
        api_base = str(endpoint.settings.get("api_base") or DEFAULT_API_BASE)
        # anywhere but the configured API, at the public address just checked
        pinned = None if same_origin(url, api_base) else await refuse_private(url)
        data, served_as = await fetch_bounded(self._http, url, pinned=pinned)
        title = attachment.get("title")
        return FetchedMedia(data, served_as or "", title if isinstance(title, str) else None)

    def verify(self, endpoint: EndpointConfig, request: InboundRequest) -> None:
        """Meta's X-Hub-Signature-256 over the raw body; raises SignatureInvalid."""
        verify_signature(endpoint, request)

    def parse(self, endpoint: EndpointConfig, request: InboundRequest) -> list[InboundEvent]:
        """The messages and delivery reports of a notification, each with the key of the
        page it is for (`recipient`); raises MalformedPayload."""
        return read_notification(
            self.name, endpoint.key, request.body, payload.recipients, payload.parse_notification
        )

    def configure(self, key: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The key is the Page's id; settings: verify_token (kept as its digest), api_base,
        api_version."""
        if not PAGE_ID.fullmatch(key):
            raise ValueError("key: the Facebook Page id (digits)")
        return check_settings(settings)

    async def aclose(self) -> None:
        await self._http.aclose()


def message_object(message: OutboundMessage) -> dict[str, Any]:
    """The Send API's message: a file Meta fetches from its link, or text (with the quick
    replies of a bot's question, which come back as the message's `quick_reply.payload`)."""
    if not message.attachments:
        if message.quick_replies:
            return {"text": message.body, "quick_replies": [dict(q) for q in message.quick_replies]}
        return {"text": message.body}
    file = message.attachments[0]
    kind = "image" if str(file["content_type"]).startswith("image/") else "file"
    payload = {"url": str(file["url"]), "is_reusable": False}
    return {"attachment": {"type": kind, "payload": payload}}
