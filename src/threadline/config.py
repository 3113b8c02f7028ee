"""Settings: the only code that reads the environment (pydantic-settings)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# What a stranger may do, per client address (chat_* per visitor), in `limits` notation.
# Sized so that a busy office or a mobile carrier's NAT, where hundreds of people share one
# address, is never stopped, while one machine cannot fill the database or the queues.
DEFAULT_RATE_LIMITS: dict[str, str] = {
    # every page view of the site opens (mostly restores) a widget or app session
    "widget_session": "300/minute;6000/hour",
    "app_session": "300/minute;6000/hour",
    # a customer's writes with a session token anyone can get: contacts, callbacks, call-now
    "customer_write": "60/minute;1000/hour",
    # what any page of the site reads without a session: incident banners
    "public_read": "300/minute;6000/hour",
    # the signed manage link of a callback: reschedule, cancel
    "callback_manage": "30/minute;300/hour",
    # one visitor on the chat socket: a fast typist sends a message every two seconds
    "chat_message": "30/minute;600/hour",
    "chat_identify": "10/minute;60/hour",
    "chat_typing": "120/minute",
    "chat_other": "120/minute",  # receipts and resumes
    # the help center's and the widget's article search (suggestions while typing)
    "kb_search": "120/minute;3000/hour",
    # "did this help?" answers
    "kb_feedback": "20/minute;200/hour",
}


class Settings(BaseSettings):
    """Threadline configuration; every field can be set as THREADLINE_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="THREADLINE_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./threadline.db"
    bus_url: str = "memory://"
    # Signs sessions, visitor tokens and API tokens. A random key per process is safe but
    # logs everyone out on restart; `threadline demo`/`make demo` write a stable one to .env.
    secret_key: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    # Secrets at rest (encryption.py): Fernet keys, comma-separated, the first encrypts and
    # all decrypt (rotation: put a new key first, run `threadline rotate-keys`, drop the old).
    # None set: the key file, written (0600) with a new key on first use if missing.
    encryption_keys: SecretStr = SecretStr("")
    encryption_key_file: Path = Path("data/encryption.key")
    base_url: str = "http://127.0.0.1:8000"
    # Sites allowed to frame the customer app page /app/{key} (origins; none by default)
    app_frame_ancestors: list[str] = Field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8000
    # Routing
    offer_timeout_s: float = 20.0
    reoffer_after_s: float = 60.0  # an agent who rejected/missed a contact may get it again
    sticky_window_s: float = 7 * 24 * 3600.0  # the last agent is preferred for a week
    # handle time assumed for a queue's wait estimates until it has answered contacts
    default_handle_s: float = 300.0
    timer_poll_s: float = 0.25
    # A `threadline worker` process fires the callbacks' timers beside this server (so they
    # stay on time while it restarts): the server then reads what the worker commits from
    # the event log every follow_poll_s (events/follow.py). Both need the same database.
    timer_worker: bool = False
    follow_poll_s: float = 0.1
    # An agent whose every desktop has closed goes offline after this (agents/desktops.py)
    presence_grace_s: float = 90.0
    # Durable event consumers (events/log.py): how often each looks for events other nodes
    # logged (this node's commits wake them at once), and how long handled events are kept
    event_poll_s: float = 1.0
    event_log_retention_h: float = 7 * 24.0
    # Outbox: sends through providers, retried with exponential backoff and jitter
    # Email in: the built-in SMTP server listens when a port is set; IMAP mailboxes are
    # polled when a poll interval is set (mailboxes are channel endpoints).
    email_smtp_host: str = "127.0.0.1"
    email_smtp_port: int | None = None
    email_smtp_hostname: str | None = None
    email_max_message_bytes: int = 25 * 1024 * 1024
    email_attachments_dir: Path = Path("data/email")
    # the bot's intent models (threadline.intents): <dir>/<org id>/, else <dir>/default/
    intent_models_dir: Path | None = None
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
    # Outbound webhooks (webhooks/): signed POSTs of domain events to the company's systems.
    # https only, to public addresses; allow_http also allows http://localhost|127.0.0.1 and
    # private/internal addresses (tests, a receiver on the same host or network).
    webhooks_allow_http: bool = False
    # A flow's `call` step (selfservice/bot/backend.py) reaches the company's backend over https
    # at public addresses only; this also allows http and private or internal addresses (a
    # backend on the same host or network, tests), as webhooks_allow_http does for webhooks.
    bot_backend_allow_private: bool = False
    # the waits after each failed attempt (jittered); their number + 1 is the attempts made
    webhooks_retry_delays_s: list[float] = Field(
        default_factory=lambda: [10.0, 60.0, 300.0, 1800.0, 7200.0, 21600.0, 43200.0]
    )
    webhooks_retry_after_max_s: float = 24 * 3600.0  # a receiver's Retry-After, at most this
    webhooks_connect_timeout_s: float = 5.0
    webhooks_timeout_s: float = 10.0  # the whole request, connection included
    webhooks_lease_s: float = 30.0  # > timeout: a `sending` delivery older than this is retried
    webhooks_max_concurrent_sends: int = 16
    # a subscription whose deliveries failed for good this many times in a row is disabled
    webhooks_disable_after_failures: int = 10
    webhooks_keep_deliveries_days: float = 30.0
    # Sessions
    session_max_age_s: int = 12 * 3600
    visitor_token_max_age_s: int = 365 * 24 * 3600
    # Session cookies are Secure whenever base_url is https (`secure_cookies`); True also
    # makes them Secure with an http base_url (TLS ended by a proxy in front).
    cookie_secure: bool = False
    # Abuse limits, moving windows per client address (shared by every node through Redis
    # when bus_url is redis://). The client address is the socket peer, or the nearest
    # untrusted address of X-Forwarded-For when the peer is one of these proxies (CIDRs).
    # Loopback by default: a proxy on the same host (only local processes connect from it).
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    rate_limits_enabled: bool = True  # off only for load benchmarks run from one address
    rate_limits: dict[str, str] = Field(
        default_factory=dict, description="overrides of DEFAULT_RATE_LIMITS by name"
    )
    rate_limit_key_prefix: str = "threadline:limits"  # Redis keys; one per installation
    # Login: this many failures within the window lock the account (whoever tries) or the
    # address (whatever account) for login_lockout_s, doubling with each further lockout
    # within a day up to login_lockout_max_s. A success never unlocks early.
    login_failures_per_account: int = 5
    login_failures_per_address: int = 50  # a call centre's office shares one address
    login_failure_window_s: int = 15 * 60
    login_lockout_s: int = 60
    login_lockout_max_s: int = 3600
    # The demo's simulated providers (threadline/simulated): phone, mail and voice pages and
    # fake Twilio and Meta APIs under /simulated, the fake Telegram Bot API on its own port
    # (its root URL takes no path), and a local SMTP relay capturing the bank's mail. Off
    # unless `threadline demo` turns it on in .env; never in production.
    demo_simulated: bool = False
    demo_relay_port: int = 2526
    demo_telegram_port: int = 2527
    log_level: str = "INFO"
    log_json: bool = False

    @property
    def secure_cookies(self) -> bool:
        """Whether session cookies carry `Secure`: always when the public URL is https."""
        return self.cookie_secure or self.base_url.lower().startswith("https://")

    def rate_limit(self, name: str) -> str:
        """The limits of one abuse-prone action, in `limits` notation ("30/minute;...")."""
        return self.rate_limits.get(name, DEFAULT_RATE_LIMITS[name])

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        return Path(self.database_url.split("///", 1)[1])
