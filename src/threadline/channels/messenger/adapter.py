"""The Messenger channel adapter: sends through the Send API (`POST {api_base}/{api_version}/
me/messages`, the Page access token as bearer) as `messaging_type: RESPONSE`, which Meta
allows within 24 hours of the customer's last message (`service_window`).

An endpoint's key is the Page's id; its secret holds the app secret and the Page access
token (see channels/meta/endpoint.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from threadline.channels.contract import (
    Capabilities,
    EndpointConfig,
    MediaLimits,
    OutboundMessage,
    SendOutcomeUnknown,
    SendResult,
)
from threadline.channels.meta.endpoint import check_settings, graph_target, provider_errors
from threadline.channels.meta.graph_client import GraphClient
from threadline.channels.meta.window import ServiceWindow

PAGE_ID = re.compile(r"\d{5,32}")


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

    def configure(self, key: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The key is the Page's id; settings: verify_token (kept as its digest), api_base,
        api_version."""
        if not PAGE_ID.fullmatch(key):
            raise ValueError("key: the Facebook Page id (digits)")
        return check_settings(settings)

    async def aclose(self) -> None:
        await self._http.aclose()


def message_object(message: OutboundMessage) -> dict[str, Any]:
    """The Send API's message: a file Meta fetches from its link, or text."""
    if not message.attachments:
        return {"text": message.body}
    file = message.attachments[0]
    kind = "image" if str(file["content_type"]).startswith("image/") else "file"
    payload = {"url": str(file["url"]), "is_reusable": False}
    return {"attachment": {"type": kind, "payload": payload}}
