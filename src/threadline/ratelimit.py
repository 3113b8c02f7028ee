"""Rate limits on what a stranger can do: moving windows kept by the `limits` library.

One node keeps the windows in memory; when the bus is Redis (several nodes), they live in
Redis, so a client meets the same limit whichever node answers. `create_app` builds one
`RateLimits` per process (`build_context`) and routes declare their limit once:

    @router.post("/session", dependencies=[Depends(rate_limited("widget_session"))])

Limits are named (config.DEFAULT_RATE_LIMITS, overridden by Settings.rate_limits) and
counted per client address: the socket peer, or, when the peer is a trusted proxy, the
nearest address of X-Forwarded-For that is not one. An IPv6 client counts by its /64, the
block one subscriber is given, so rotating addresses inside it does not help.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable

import structlog
from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerSecond, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from starlette.requests import HTTPConnection

from threadline.config import DEFAULT_RATE_LIMITS, Settings
from threadline.context import Context
from threadline.errors import RateLimited

log = structlog.get_logger(__name__)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN_ADDRESS = "unknown"
# Chat frames with a limit of their own, per visitor; typing beyond it is dropped silently
# (it is a hint), a message or an identify is answered with an error frame.
CHAT_FRAME_LIMITS = {
    "message": "chat_message",
    "identify": "chat_identify",
    "typing": "chat_typing",
}  # any other frame: chat_other


class RateLimits:
    """Named moving-window limits over one storage (memory, or Redis shared by nodes)."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits_enabled
        self._settings = settings
        self._trusted = _networks(settings.trusted_proxies)
        self._items = {
            name: _parse(name, settings.rate_limit(name)) for name in DEFAULT_RATE_LIMITS
        }
        unknown = set(settings.rate_limits) - set(DEFAULT_RATE_LIMITS)
        if unknown:
            raise ValueError(
                f"THREADLINE_RATE_LIMITS: unknown limit(s) {sorted(unknown)}; "
                f"known: {', '.join(DEFAULT_RATE_LIMITS)}"
            )
        self._pool: ConnectionPool | None = None
        self.storage: Storage
        if settings.bus_url.startswith(("redis://", "rediss://")):
            # our own pool, so that shutting down closes its connections
            self._pool = ConnectionPool.from_url(settings.bus_url)
            self.storage = RedisStorage(
                "async+" + settings.bus_url,
                implementation="redispy",
                wrap_exceptions=True,  # StorageError: see `hit`
                key_prefix=settings.rate_limit_key_prefix,
                # limits types **options as float | str | bool, though its docs take a pool
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
        else:
            self.storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()

    # ------------------------------------------------------------------ who is asking
    def client(self, conn: HTTPConnection) -> str:
        """The address to count a request against (see the module's docstring)."""
        peer = conn.client.host if conn.client else None
        chain = [peer] if peer else []
        if peer and self._trusted and _within(peer, self._trusted):
            forwarded = ",".join(conn.headers.getlist("x-forwarded-for"))
            chain = [peer, *reversed([h.strip() for h in forwarded.split(",") if h.strip()])]
        for hop in chain:
            if not _within(hop, self._trusted):
                return _counted_as(hop)
        return _counted_as(chain[-1]) if chain else UNKNOWN_ADDRESS

    # ------------------------------------------------------------------ limits
    async def hit(self, name: str, *identifiers: str) -> None:
        """Count one use of `name` by `identifiers`; raise RateLimited when over a limit.
        Should Redis be unreachable, the request is let through (and logged): a contact
        centre had better stay open without its limits than close for want of them."""
        if not self.enabled:
            return
        for item in self._items[name]:
            try:
                allowed = await self.limiter.hit(item, name, *identifiers)
                wait = 0.0 if allowed else await self.retry_after(item, name, *identifiers)
            except StorageError as exc:
                log.warning("rate_limits_unavailable", limit=name, error=str(exc))
                return
            if not allowed:
                raise RateLimited(f"too many requests ({item}); try again later", wait, limit=name)

    async def chat_frame(self, kind: str, *visitor: str) -> bool:
        """Count a chat frame of this visitor; False when it should be dropped silently.
        Raises RateLimited for frames the visitor must be told about."""
        name = CHAT_FRAME_LIMITS.get(kind, "chat_other")
        if name == "chat_typing":
            try:
                await self.hit(name, *visitor)
            except RateLimited:
                return False
            return True
        await self.hit(name, *visitor)
        return True

    async def retry_after(self, item: RateLimitItem, *identifiers: str) -> float:
        """Seconds until `item` counted for `identifiers` has room again."""
        stats = await self.limiter.get_window_stats(item, *identifiers)
        return max(stats.reset_time - time.time(), 1.0)

    async def count(self, item: RateLimitItem, *identifiers: str) -> int:
        """How many hits `item` holds for `identifiers` in its window now."""
        stats = await self.limiter.get_window_stats(item, *identifiers)
        return item.amount - stats.remaining


def window(amount: int, seconds: int) -> RateLimitItem:
    """A moving window of `amount` hits per `seconds`."""
    return RateLimitItemPerSecond(amount, max(1, int(seconds)))


def rate_limits(ctx: Context) -> RateLimits:
    return ctx.rate_limits


def rate_limited(name: str) -> Callable[[Request], Awaitable[None]]:
    """A route dependency: count the request against limit `name` for its client address;
    429 with Retry-After when over. (Not per widget or app key as well: a key in the path
    is the client's to choose, and each new one would open a fresh count.)"""
    if name not in DEFAULT_RATE_LIMITS:
        raise ValueError(f"no rate limit named {name!r}")

    async def _limit(request: Request) -> None:
        limits = rate_limits(request.app.state.ctx)
        await limits.hit(name, limits.client(request))

    return _limit


def _parse(name: str, text: str) -> list[RateLimitItem]:
    try:
        return list(parse_many(text))
    except ValueError as exc:
        raise ValueError(f"rate limit {name}: {text!r} is not like '30/minute;300/hour'") from exc


def _networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _within(text: str, networks: tuple[IPNetwork, ...]) -> bool:
    address = _address(text)
    return address is not None and any(address in network for network in networks)


def _counted_as(text: str) -> str:
    address = _address(text)
    if address is None:
        return text[:64] or UNKNOWN_ADDRESS
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
