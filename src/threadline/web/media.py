"""Signed, expiring public links to stored attachments, for providers that fetch a message's
media by URL (Twilio MMS, WhatsApp, Messenger, Telegram). A link names the bytes by their
SHA-256 and carries its own signature and time (itsdangerous): it needs no session, reaches
nothing else, and stops working after `MEDIA_LINK_MAX_AGE_S`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeTimedSerializer

from threadline.attachments import AttachmentStore
from threadline.config import Settings

MEDIA_SALT = "threadline.media"
# Providers fetch at send time, but an outbox retry may come hours after the reply.
MEDIA_LINK_MAX_AGE_S = 24 * 3600


# Shown in the browser when opened; every other type is downloaded (Content-Disposition:
# attachment). Raster images, audio and video cannot run script. Not SVG (an SVG document
# runs script), not HTML or XML, not PDF (readers run scripts and forms, and Chromium will
# not render one under the sandbox CSP these files get), not text (nothing needs it inline).
INLINE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/ogg",
        "audio/opus",
        "audio/wav",
        "audio/webm",
        "audio/amr",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "video/quicktime",
        "video/3gpp",
    }
)
# Whatever a file is, it runs nothing and loads nothing if a browser renders it anyway.
MEDIA_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"


def shown_inline(content_type: str) -> bool:
    """Whether a stored file of this type may be shown in the browser (else downloaded)."""
    return content_type.split(";", 1)[0].strip().lower() in INLINE_TYPES


def file_headers(content_type: str, filename: str, *, cache: str) -> dict[str, str]:
    """The headers a stored file goes out with: inline only for the types above (never
    HTML or SVG), not sniffed into anything else, and unable to run or load anything."""
    how = "inline" if shown_inline(content_type) else "attachment"
    return {
        "Content-Disposition": f"{how}; filename*=UTF-8''{quote(filename, safe='')}",
        "Cache-Control": cache,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": MEDIA_CSP,
    }


@dataclass(frozen=True, slots=True)
class MediaRef:
    sha256: str
    content_type: str
    filename: str


class MediaLinks:
    def __init__(self, secret_key: str, public_base_url: str) -> None:
        self._signer = URLSafeTimedSerializer(secret_key, salt=MEDIA_SALT)
        self._base = public_base_url.rstrip("/")

    def url(self, ref: MediaRef) -> str:
        """The public link; the file name at its end is for the provider's eyes only."""
        token = self._signer.dumps({"s": ref.sha256, "t": ref.content_type, "n": ref.filename})
        return f"{self._base}/media/{token}/{quote(ref.filename, safe='')}"

    def read(self, token: str, max_age_s: int = MEDIA_LINK_MAX_AGE_S) -> MediaRef | None:
        """What a link's token names, or None when it is forged, altered or expired."""
        try:
            data: Any = self._signer.loads(token, max_age=max_age_s)
        except BadSignature:  # SignatureExpired is one
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in "stn"):
            return None
        return MediaRef(sha256=data["s"], content_type=data["t"], filename=data["n"])


def media_links(settings: Settings) -> MediaLinks:
    return MediaLinks(settings.secret_key.get_secret_value(), settings.base_url)


def media_store(settings: Settings) -> AttachmentStore:
    """Where attachments' bytes are kept, by digest: received email's files, and files agents
    send (one store, so a customer's file can be sent on)."""
    return AttachmentStore(settings.email_attachments_dir)
