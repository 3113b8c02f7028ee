"""The channel registry: a channel name -> its adapter, built once by `build_context` so that
services find the adapter of an endpoint without naming a provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from threadline.channels.contract import ChannelAdapter, OutboundAdapter

if TYPE_CHECKING:
    from threadline.context import Context

# The vocabulary of shared/DESIGN.md: endpoints may be configured for any of these, even
# before their adapter exists.
CHANNELS = ("chat", "sms", "email", "voice", "whatsapp", "telegram", "messenger", "app", "video")


class UnknownChannel(LookupError):
    pass


class ChannelRegistry:
    def __init__(self) -> None:
        self._adapters: dict[str, ChannelAdapter] = {}

    def register(self, adapter: ChannelAdapter) -> None:
        if adapter.name in self._adapters:
            raise ValueError(f"channel {adapter.name!r} registered twice")
        self._adapters[adapter.name] = adapter

    def get(self, channel: str) -> ChannelAdapter:
        try:
            return self._adapters[channel]
        except KeyError:
            raise UnknownChannel(channel) from None

    def sender(self, channel: str) -> OutboundAdapter:
        """The adapter that sends on `channel` through a provider; UnknownChannel if none."""
        adapter: Any = self._adapters.get(channel)
        if adapter is None or not callable(getattr(adapter, "send", None)):
            raise UnknownChannel(channel)
        return cast(OutboundAdapter, adapter)

    def names(self) -> list[str]:
        return sorted(self._adapters)

    async def aclose(self) -> None:
        """Close the adapters' provider connections (on shutdown)."""
        for adapter in self._adapters.values():
            close: Any = getattr(adapter, "aclose", None)
            if close is not None:
                await close()


def channels_of(ctx: Context) -> ChannelRegistry:
    registry: ChannelRegistry = ctx.extras["channels"]
    return registry
