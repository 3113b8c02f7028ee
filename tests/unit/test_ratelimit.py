"""Which address a request is counted against, and the limits' settings."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from threadline.auth.throttle import LoginThrottle
from threadline.config import Settings
from threadline.errors import RateLimited
from threadline.ratelimit import RateLimits


def _limits(**overrides: object) -> RateLimits:
    return RateLimits(Settings(_env_file=None, **overrides))  # type: ignore[call-arg, arg-type]


def _request(peer: str, forwarded: list[str] | None = None) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded or []]
    return Request({"type": "http", "client": (peer, 50000), "headers": headers})


def test_the_peer_is_the_client_when_no_proxy_is_trusted() -> None:
    limits = _limits(trusted_proxies=[])
    assert limits.client(_request("127.0.0.1", ["203.0.113.9"])) == "127.0.0.1"
    # by default only a proxy on the same host is believed
    assert _limits().client(_request("127.0.0.1", ["203.0.113.9"])) == "203.0.113.9"
    assert _limits().client(_request("198.51.100.7", ["203.0.113.9"])) == "198.51.100.7"


def test_a_trusted_proxy_hands_over_the_nearest_untrusted_hop() -> None:
    limits = _limits(trusted_proxies=["10.0.0.0/8", "127.0.0.1/32"])
    # client -> its own forged header -> our edge proxy -> our local proxy -> Threadline
    request = _request("127.0.0.1", ["6.6.6.6, 198.51.100.7", "10.1.2.3"])
    assert limits.client(request) == "198.51.100.7"
    # every hop trusted: the first one
    assert limits.client(_request("127.0.0.1", ["10.9.9.9"])) == "10.9.9.9"
    # a peer that is not a trusted proxy cannot choose its address
    assert limits.client(_request("198.51.100.8", ["203.0.113.9"])) == "198.51.100.8"


def test_ipv6_clients_count_by_their_64_block() -> None:
    limits = _limits()
    first = limits.client(_request("2001:db8:1:2::1"))
    assert first == limits.client(_request("2001:db8:1:2:ffff::9")) == "2001:db8:1:2::/64"
    assert limits.client(_request("::ffff:198.51.100.7")) == "198.51.100.7"


def test_unknown_or_malformed_limits_are_refused_at_start() -> None:
    with pytest.raises(ValueError, match="unknown limit"):
        _limits(rate_limits={"widget_sesion": "5/minute"})
    with pytest.raises(ValueError, match="widget_session"):
        _limits(rate_limits={"widget_session": "five a minute"})


async def test_a_limit_answers_with_the_wait() -> None:
    limits = _limits(rate_limits={"widget_session": "2/minute"})
    await limits.hit("widget_session", "198.51.100.7")
    await limits.hit("widget_session", "198.51.100.7")
    with pytest.raises(RateLimited) as refused:
        await limits.hit("widget_session", "198.51.100.7")
    assert 55 <= refused.value.retry_after_s <= 60
    await limits.hit("widget_session", "198.51.100.8")  # another address has its own count
    disabled = _limits(rate_limits={"widget_session": "1/minute"}, rate_limits_enabled=False)
    for _ in range(3):
        await disabled.hit("widget_session", "198.51.100.7")


async def test_an_unreachable_redis_lets_requests_through() -> None:
    """Limits fail open: a contact centre stays reachable when Redis is down (logged)."""
    limits = _limits(bus_url="redis://127.0.0.1:9/0", rate_limits={"widget_session": "1/minute"})
    try:
        for _ in range(3):
            await limits.hit("widget_session", "198.51.100.7")
    finally:
        await limits.aclose()


async def test_an_unreachable_redis_does_not_stop_logins() -> None:
    settings = Settings(_env_file=None, bus_url="redis://127.0.0.1:9/0")  # type: ignore[call-arg]
    limits = RateLimits(settings)
    try:
        for _ in range(settings.login_failures_per_account + 2):
            async with LoginThrottle(limits, settings).attempt("rui@example.com", "x") as attempt:
                attempt.succeeded = False
    finally:
        await limits.aclose()


async def test_the_login_lockout_doubles_up_to_its_cap() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        login_failures_per_account=2,
        login_lockout_s=60,
        login_lockout_max_s=150,
    )
    throttle = LoginThrottle(RateLimits(settings), settings)
    assert [throttle._lock_item(level).get_expiry() for level in (1, 2, 3, 4, 40)] == [
        60,
        120,
        150,
        150,
        150,
    ]
    for _ in range(2):
        async with throttle.attempt("rui@example.com", "198.51.100.7") as attempt:
            attempt.succeeded = False
    with pytest.raises(RateLimited) as locked:
        async with throttle.attempt("RUI@example.com ", "198.51.100.8"):
            pass
    assert 58 <= locked.value.retry_after_s <= 60
