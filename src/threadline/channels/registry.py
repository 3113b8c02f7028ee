"""The channel registry: a channel name -> its adapter, built once by `build_context` so that
services find the adapter of an endpoint without naming a provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from threadline.channel_kinds import CHANNELS, KINDS
from threadline.channels.contract import (
    ChannelAdapter,
    InboundAdapter,
    OutboundAdapter,
    OutboundCalls,
)

if TYPE_CHECKING:
    from threadline.context import Context


class UnknownChannel(LookupError):
    pass


class ChannelRegistry:
    def __init__(self) -> None:
        self._adapters: dict[str, ChannelAdapter] = {}
        self._calls: OutboundCalls | None = None

    def provide_calls(self, calls: OutboundCalls) -> None:
        """The channel that places outbound calls (voice), named by the composition root."""
        self._calls = calls

    @property
    def calls(self) -> OutboundCalls:
        if self._calls is None:
            raise UnknownChannel("voice")
        return self._calls

    def register(self, adapter: ChannelAdapter) -> None:
        if adapter.name not in KINDS:
            raise ValueError(f"{adapter.name!r} is not a channel: one of {', '.join(CHANNELS)}")
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

    def receiver(self, channel: str) -> InboundAdapter:
        """The adapter that verifies and parses `channel`'s provider webhooks; UnknownChannel
        if none."""
        adapter: Any = self._adapters.get(channel)
        if adapter is None or not callable(getattr(adapter, "parse", None)):
            raise UnknownChannel(channel)
        return cast(InboundAdapter, adapter)

    def names(self) -> list[str]:
        return sorted(self._adapters)

    async def aclose(self) -> None:
        """Close the adapters' provider connections (on shutdown)."""
        for adapter in self._adapters.values():
            close: Any = getattr(adapter, "aclose", None)
            if close is not None:
                await close()


def channels_of(ctx: Context) -> ChannelRegistry:
    return ctx.channels
