"""The WhatsApp channel adapter: sends through the Cloud API's messages endpoint
(`POST {api_base}/{api_version}/{phone_number_id}/messages`, bearer access token).

An endpoint's key is its business phone number's id at Meta (`phone_number_id`); its
secret holds the app secret and access token (see channels/meta/endpoint.py). Free-form
messages go only within the 24-hour customer-service window (`service_window`, enforced
when a reply is queued); an approved template may go at any time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

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
from threadline.channels.meta.endpoint import (
    check_settings,
    graph_target,
    meta_media_url,
    provider_errors,
)
from threadline.channels.meta.graph_client import GraphClient, GraphError
from threadline.channels.meta.notification import read_notification, verify_signature
from threadline.channels.meta.window import ServiceWindow
from threadline.channels.provider_media import (
    MEDIA_BUDGET_S,
    MEDIA_MAX_BYTES,
    FetchedMedia,
    MediaUnavailable,
    fetch_bounded,
)
from threadline.channels.whatsapp import payload

PHONE_NUMBER_ID = re.compile(r"\d{5,32}")
MEDIA_ID = re.compile(r"\d{1,32}")


class WhatsAppAdapter:
    name: ClassVar[str] = "whatsapp"
    capabilities: ClassVar[Capabilities] = Capabilities(text=True, media=True, read_receipts=True)
    verifies_signatures: ClassVar[bool] = True
    address_kind: ClassVar[str] = "phone"
    # the Cloud API takes no idempotency key: an interrupted send is never repeated blindly
    idempotent_sends: ClassVar[bool] = False
    service_window: ClassVar[ServiceWindow] = ServiceWindow(
        "outside WhatsApp's 24-hour window: send a template"
    )
    sends_templates: ClassVar[bool] = True
    # one file per message, fetched by Meta from its link; the text goes as its caption
    media_limits: ClassVar[MediaLimits] = MediaLimits(
        max_count=1,
        max_bytes=5 * 1024 * 1024,
        content_types=frozenset({"image/jpeg", "image/png", "application/pdf", "text/plain"}),
        max_caption_chars=1024,
    )

    def __init__(self, timeout_s: float = 15.0) -> None:
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5.0))
        self._graph = GraphClient(self._http)

    async def send(self, endpoint: EndpointConfig, message: OutboundMessage) -> SendResult:
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to.removeprefix("+"),  # the wa_id: the number's digits
            **message_content(message),
        }
        async with provider_errors():
            answer = await self._graph.post(
                f"{endpoint.key}/messages", payload, **graph_target(endpoint)
            )
        sent = answer.get("messages")
        wamid = sent[0].get("id") if isinstance(sent, list) and sent else None
        if not isinstance(wamid, str) or not wamid:
            raise SendOutcomeUnknown("the Cloud API answered without a message id")
        return SendResult(provider_msg_id=wamid, status="sent")

    async def fetch_media(
        self, endpoint: EndpointConfig, attachment: Mapping[str, Any]
    ) -> FetchedMedia:
        """A customer's media, as the Cloud API hands it over: `GET /{media-id}` (with the
        number's id, so Meta checks the media is this number's) gives a short-lived `url`,
        `mime_type` and `file_size`; that URL is fetched with the same bearer token, only
        from Meta's own media hosts. Raises MediaUnavailable."""
        media_id = str(attachment.get("media_id") or "")
        if not MEDIA_ID.fullmatch(media_id):
            raise MediaUnavailable("no media id")
        try:
            target = graph_target(endpoint)
        except SendFailed:
            raise MediaUnavailable("the endpoint has no Meta access token") from None
        try:
            info = await self._graph.get(
                media_id, {"phone_number_id": endpoint.key}, timeout_s=MEDIA_BUDGET_S, **target
            )
        except GraphError as exc:
            raise MediaUnavailable(str(exc)) from None
        url = info.get("url")
        if not isinstance(url, str) or not meta_media_url(url, target["api_base"]):
            raise MediaUnavailable("the media URL is not on Meta's media hosts")
        size = str(info.get("file_size") or "")
        if size.isdigit() and int(size) > MEDIA_MAX_BYTES:
            raise MediaUnavailable("the file is too big to keep")
        data, served_as = await fetch_bounded(
            self._http, url, headers={"Authorization": f"Bearer {target['access_token']}"}
        )
        declared = info.get("mime_type") or attachment.get("mime_type") or served_as
        filename = attachment.get("filename")
        return FetchedMedia(
            data, str(declared or ""), filename if isinstance(filename, str) else None
        )

    def verify(self, endpoint: EndpointConfig, request: InboundRequest) -> None:
        """Meta's X-Hub-Signature-256 over the raw body; raises SignatureInvalid."""
        verify_signature(endpoint, request)

    def parse(self, endpoint: EndpointConfig, request: InboundRequest) -> list[InboundEvent]:
        """The messages and delivery reports of a notification, each with the key of the
        number it is for (`recipient`); raises MalformedPayload."""
        return read_notification(
            self.name, endpoint.key, request.body, payload.recipients, payload.parse_notification
        )

    def configure(self, key: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The key is the phone number's id at Meta; settings: verify_token (kept as its
        digest), api_base, api_version."""
        if not PHONE_NUMBER_ID.fullmatch(key):
            raise ValueError("key: the WhatsApp phone number id (digits) from Meta")
        return check_settings(settings)

    async def aclose(self) -> None:
        await self._http.aclose()


def message_content(message: OutboundMessage) -> dict[str, Any]:
    """The Cloud API's `type` and its object: a template when the message carries one, a
    file (by link, the text as its caption) when it has one, else text."""
    if message.template is not None:
        return {"type": "template", "template": template_object(message.template)}
    if message.interactive is not None:  # a bot's question with reply buttons or a list
        return {"type": "interactive", "interactive": dict(message.interactive)}
    if message.attachments:
        return media_object(message.attachments[0], message.body)
    return {"type": "text", "text": {"body": message.body, "preview_url": False}}


def media_object(file: Mapping[str, Any], caption: str) -> dict[str, Any]:
    """An image, or else a document (with its file name), that Meta fetches from `url`."""
    kind = "image" if str(file["content_type"]).startswith("image/") else "document"
    media: dict[str, Any] = {"link": str(file["url"])}
    if caption:
        media["caption"] = caption
    if kind == "document":
        media["filename"] = str(file.get("filename") or "attachment")
    return {"type": kind, kind: media}


def template_object(template: Mapping[str, Any]) -> dict[str, Any]:
    params = [{"type": "text", "text": str(p)} for p in template.get("params") or ()]
    out: dict[str, Any] = {
        "name": str(template["name"]),
        "language": {"code": str(template.get("language") or "en_US")},
    }
    if params:
        out["components"] = [{"type": "body", "parameters": params}]
    return out
