"""Log redaction (issue 8, item 5): credentials in URLs and token-shaped strings never reach
a log line, while the rest of the line stays readable."""

from __future__ import annotations

import logging

import pytest

from threadline.logging import REDACTED, RedactingFilter, redact


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        ('"GET /x?token=abc.def HTTP/1.1" 200', "/x?token=", "abc.def"),
        ('"WebSocket /ws?a=1&visitor_token=Zm9v" 403', "a=1&visitor_token=", "Zm9v"),
        ("/healthz?code=123456&lang=pt", "lang=pt", "123456"),
        ("/x?state=eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJlLWxvbmc", "/x?state=", "eyJzdWIiOiIx"),
        ("/x?s=.eJwNyrEVgDAIBcBdqKUgkDxw.axTQXQ.WZ2iYqp1gn15togk-3IJ", "/x?s=", "WZ2iYqp1"),
        ("/x?opaque=" + "A1b2" * 12 + "&page=2", "&page=2", "A1b2"),
        ("/callback/eyJ0.abc/def", "/callback/", "eyJ0.abc"),
        ("/media/eyJzIjoi.Zm9vYmFy/a.png", "/a.png", "eyJzIjoi"),
        ("Authorization used tl_AbCdEfGhIjKlMnOpQrStUv", "tl_", "AbCdEfGhIjKlMnOp"),
        (
            "https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/send",
            "bot",
            "AAH",
        ),
    ],
)
def test_redact(line: str, kept: str, gone: str) -> None:
    out = redact(line)
    assert kept in out and gone not in out and REDACTED in out


def test_lines_without_credentials_are_left_alone() -> None:
    for line in ('"GET /api/v1/threads?limit=50 HTTP/1.1" 200', "/app/a-1234/offline", "ok"):
        assert redact(line) == line


def test_the_filter_keeps_uvicorns_argument_shape() -> None:
    """uvicorn's access formatter unpacks `args` as a 5-tuple: redact inside it."""
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/ws?token=abc.def", "1.1", 200),
        None,
    )
    assert RedactingFilter().filter(record)
    assert isinstance(record.args, tuple) and len(record.args) == 5
    assert record.getMessage() == f'127.0.0.1:5000 - "GET /ws?token={REDACTED} HTTP/1.1" 200'
