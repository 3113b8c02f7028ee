"""Settings: the only code that reads the environment (pydantic-settings)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Threadline configuration; every field can be set as THREADLINE_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="THREADLINE_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./threadline.db"
    bus_url: str = "memory://"
    # Signs sessions, visitor tokens and API tokens. A random key per process is safe but
    # logs everyone out on restart; `threadline demo`/`make demo` write a stable one to .env.
    secret_key: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    # Routing
    offer_timeout_s: float = 20.0
    reoffer_after_s: float = 60.0  # an agent who rejected/missed a contact may get it again
    sticky_window_s: float = 7 * 24 * 3600.0  # the last agent is preferred for a week
    # handle time assumed for a queue's wait estimates until it has answered contacts
    default_handle_s: float = 300.0
    timer_poll_s: float = 0.25
    # Outbox: sends through providers, retried with exponential backoff and jitter
    # Email in: the built-in SMTP server listens when a port is set; IMAP mailboxes are
    # polled when a poll interval is set (mailboxes are channel endpoints).
    email_smtp_host: str = "127.0.0.1"
    email_smtp_port: int | None = None
    email_smtp_hostname: str | None = None
    email_max_message_bytes: int = 25 * 1024 * 1024
    email_attachments_dir: Path = Path("data/email")
    email_imap_poll_s: float | None = None
    email_imap_timeout_s: float = 30.0
    # Email out: how long each SMTP command to a mailbox's relay may take (the whole send
    # is bounded by outbox_send_timeout_s)
    email_relay_timeout_s: float = 10.0
    outbox_max_attempts: int = 8
    outbox_backoff_s: float = 2.0  # the wait after the first failure; doubles each time
    outbox_backoff_max_s: float = 600.0
    outbox_send_timeout_s: float = 20.0  # a provider call taking longer has an unknown outcome
    outbox_lease_s: float = 60.0  # > send timeout: a `sending` row older than this was orphaned
    # Sessions
    session_max_age_s: int = 12 * 3600
    visitor_token_max_age_s: int = 365 * 24 * 3600
    cookie_secure: bool = False
    log_level: str = "INFO"
    log_json: bool = False

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        return Path(self.database_url.split("///", 1)[1])
