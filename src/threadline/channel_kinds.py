"""The channels, defined once: the vocabulary of shared/DESIGN.md and what Threadline knows
of each before any adapter is built. Plain data that imports nothing of Threadline, so that
any package may use it (agents' capacity per channel, the admin pages, API schemas) without
importing the channels package; the channel registry (channels/registry.py) accepts adapters
for these names only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

# Endpoints may be configured for any of these, even before their adapter exists. API
# schemas validate channel names with this Literal (an enum in the API document); CHANNELS
# is its values, in the vocabulary's order.
ChannelName = Literal[
    "chat", "sms", "email", "voice", "whatsapp", "telegram", "messenger", "app", "video"
]
CHANNELS: tuple[ChannelName, ...] = get_args(ChannelName)


@dataclass(frozen=True, slots=True)
class ChannelKind:
    """What Threadline knows of a channel before any adapter is built. `admin_endpoints`: an
    admin adds its endpoints on the channels page (a number, a mailbox, a widget, a bot);
    `webhook`: the path under the public base URL where its provider calls us ({key}: the
    endpoint's key, URL-encoded; {provider}: settings.provider), None when it has none."""

    name: ChannelName
    admin_endpoints: bool = False
    webhook: str | None = None


KINDS: dict[ChannelName, ChannelKind] = {
    kind.name: kind
    for kind in (
        ChannelKind("chat", admin_endpoints=True),
        ChannelKind("sms", admin_endpoints=True, webhook="/webhooks/sms/{provider}/{key}"),
        ChannelKind("email", admin_endpoints=True),  # mail comes by SMTP or IMAP
        ChannelKind("voice", admin_endpoints=True, webhook="/webhooks/voice/twilio/{key}"),
        ChannelKind("whatsapp", admin_endpoints=True, webhook="/webhooks/whatsapp/{key}"),
        ChannelKind("telegram", admin_endpoints=True, webhook="/webhooks/telegram/{key}"),
        ChannelKind("messenger", admin_endpoints=True, webhook="/webhooks/messenger/{key}"),
        ChannelKind("app"),
        ChannelKind("video"),
    )
}
if tuple(KINDS) != CHANNELS:
    raise RuntimeError("KINDS must describe every channel, in the vocabulary's order")
ADMIN_CHANNELS: tuple[ChannelName, ...] = tuple(k.name for k in KINDS.values() if k.admin_endpoints)
WEBHOOK_PATHS: dict[str, str] = {k.name: k.webhook for k in KINDS.values() if k.webhook}
