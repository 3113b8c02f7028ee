"""Structured logs (structlog); secrets never reach them (they are SecretStr or hashed)."""

from __future__ import annotations

import logging

import structlog


def configure_logging(level: str = "INFO", as_json: bool = False) -> None:
    logging.basicConfig(format="%(message)s", level=level.upper())
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
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
