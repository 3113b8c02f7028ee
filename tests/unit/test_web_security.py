"""The cross-origin verdict of SecurityMiddleware (issue 8, item 2), header by header."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from threadline.web.security import PagePolicy, cross_origin_refusal, origin_of

BASE = origin_of("https://chat.example.com/")
TRUSTED = frozenset({BASE})


def verdict(**headers: str) -> str | None:
    return cross_origin_refusal(
        Headers({k.replace("_", "-"): v for k, v in headers.items()}), TRUSTED
    )


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://chat.example.com/", "https://chat.example.com"),
        ("HTTPS://Chat.Example.com:443/x", "https://chat.example.com"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:80/", "http://127.0.0.1"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
        ("http://host:notaport/", ""),
    ],
)
def test_origin_of(url: str, origin: str) -> None:
    assert origin_of(url) == origin


def test_our_pages_pass() -> None:
    assert verdict(origin="https://chat.example.com") is None
    assert verdict(sec_fetch_site="same-origin", origin="https://chat.example.com") is None
    assert verdict(sec_fetch_site="none") is None  # the user's own action
    # our server reached by another name than the base URL's: the page names this host
    assert verdict(origin="http://localhost:8000", host="localhost:8000") is None
    # not a browser: nothing ambient to forge
    assert verdict() is None


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://chat.example.com:8443"},  # another port: the same site
        {"origin": "http://chat.example.com"},  # another scheme
        {"origin": "https://evil.example"},
        {"origin": "null"},  # a sandboxed frame, a data: URL
        {"sec_fetch_site": "same-site", "origin": "https://www.example.com"},
        {"sec_fetch_site": "cross-site"},
        {"origin": "http://localhost:9999", "host": "localhost:8000"},
        {"origin": "ftp://localhost:8000", "host": "localhost:8000"},
    ],
)
def test_foreign_pages_are_refused_with_a_reason(headers: dict[str, str]) -> None:
    reason = verdict(**headers)
    assert reason is not None and reason.startswith("cross-origin request refused")


def test_the_page_policy_allows_no_inline_script_and_no_framing_by_default() -> None:
    policy = PagePolicy(connect_origins=("wss://chat.example.com",)).csp()
    assert "script-src 'self';" in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "connect-src 'self' wss://chat.example.com" in policy
    framed = PagePolicy().csp(["https://www.bank.example"], blob_workers=True)
    assert "frame-ancestors https://www.bank.example" in framed
    assert "worker-src 'self' blob:" in framed
