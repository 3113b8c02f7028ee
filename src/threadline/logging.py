"""Structured logs (structlog); secrets never reach them (they are SecretStr or hashed).

Clients send credentials in headers and frames, never in URLs; but an old client, a
provider or a stranger may still put one in a URL, and uvicorn's access log prints URLs
whole. So every log line, ours (structlog) and the server's (uvicorn.access, uvicorn.error
and whatever reaches the root handlers), goes through `redact`: token-like query values,
capability paths (callback manage links, media links) and token-shaped strings are
replaced by `[redacted]`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
# A query parameter whose name says it carries a credential, whatever its value looks like.
_SECRET_PARAM = re.compile(
    r"(?i)([?&;][\w.\-]*(?:token|secret|passw(?:or)?d|pwd|signature|sig|auth|session|jwt"
    r"|otp|code|hash|key|credential)[\w.\-]*=)[^&;\s\"'#]+"
)
# Any other query value shaped like a signed token (itsdangerous, compressed ones starting
# with a dot; JWT: three dotted parts) or a long opaque secret.
_SIGNED_VALUE = re.compile(
    r"([?&;][\w.\-]+=)(?:\.?[\w\-]{6,}\.[\w\-]{4,}\.[\w\-]{16,}|[\w.\-~+=]{40,})"
)
# Paths that are themselves credentials: callback manage links, signed media links.
_CAPABILITY_PATH = re.compile(r"(/callback/|/public/callbacks/|/media/)[^/\s?#\"']+")
# Our API tokens and Telegram bot tokens (in Bot API URLs), wherever they appear.
_BARE_TOKENS = (
    (re.compile(r"\btl_[\w\-]{16,}"), "tl_" + REDACTED),
    (re.compile(r"\bbot\d{5,}:[\w\-]{20,}"), "bot" + REDACTED),
)


def redact(text: str) -> str:
    """`text` with every credential-looking part of a URL or token replaced."""
    if not any(c in text for c in "?/_:"):
        return text
    text = _SECRET_PARAM.sub(r"\1" + REDACTED, text)
    text = _SIGNED_VALUE.sub(r"\1" + REDACTED, text)
    text = _CAPABILITY_PATH.sub(r"\1" + REDACTED, text)
    for pattern, replacement in _BARE_TOKENS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactingFilter(logging.Filter):
    """Redacts a record's message and arguments in place, keeping their shape (uvicorn's
    access formatter unpacks `args` as a tuple)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: _redact_value(v) for k, v in record.args.items()}
        return True


def redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the same redaction for our own log events' string values."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn")


def install_redaction() -> None:
    """Attach the filter where URLs are logged: uvicorn's own loggers (they do not
    propagate to the root) and the root handlers (everything else). Idempotent."""
    targets: list[logging.Filterer] = [logging.getLogger(n) for n in SERVER_LOGGERS]
    targets.extend(logging.getLogger().handlers)
    for target in targets:
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())


def configure_logging(level: str = "INFO", as_json: bool = False) -> None:
    logging.basicConfig(format="%(message)s", level=level.upper())
    install_redaction()
    renderer = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
