"""A fake SMTP relay: a real aiosmtpd server (in its own thread, aiosmtpd's Controller) that
requires AUTH (PLAIN/LOGIN) and collects what it accepts. It stands for a mailbox
provider's submission server and, behind it, the customer's mailbox.

`stop()` / `start()` simulate an outage (connection refused, same port); `reject_rcpt_with`
and `reject_data_with` set an SMTP reply ("550 5.1.1 ...", "451 4.3.0 ..."); `data_delay_s`
holds the final answer to DATA (the message is taken, the answer is late)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from threadline.simulated.http_server import free_port

USERNAME = "support@testbank.example"
PASSWORD = "relay-password"  # noqa: S105 - the simulated relay's, public


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    at: float = field(default_factory=time.time)  # when it was accepted (the demo's pages)

    @property
    def message(self) -> EmailMessage:
        parsed: EmailMessage = BytesParser(EmailMessage, policy=policy.default).parsebytes(self.raw)
        return parsed


class FakeRelay:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[Received] = []
        self.attempts = 0  # every MAIL FROM, accepted or not
        self.reject_rcpt_with: str | None = None
        self.reject_data_with: str | None = None
        self.data_delay_s = 0.0
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,  # loopback only; AUTH is required in handle_MAIL
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def mailbox(
        self, key: str, name: str, queue_id: str | None = None, **settings: Any
    ) -> dict[str, Any]:
        """A mailbox sending through this relay, as an admin posts it to /api/v1/endpoints."""
        smtp = {"host": "127.0.0.1", "port": self.port, "username": USERNAME, "starttls": False}
        return {
            "channel": "email",
            "key": key,
            "name": name,
            "queue_id": queue_id,
            "secret": PASSWORD,
            "settings": {**settings, "smtp": smtp},
        }

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USERNAME.encode(),
            PASSWORD.encode(),
        )
        # handled=False: aiosmtpd answers a failure with 535 itself (True would leave the
        # client waiting for an answer we never push)
        return AuthResult(success=ok, handled=False)

    async def handle_MAIL(  # aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        self.attempts += 1
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(  # aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.reject_rcpt_with:
            return self.reject_rcpt_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.reject_data_with:
            return self.reject_data_with
        self.messages.append(
            Received(
                envelope.mail_from or "",
                list(envelope.rcpt_tos),
                _raw(envelope.content),
            )
        )
        if self.data_delay_s:
            await asyncio.sleep(self.data_delay_s)  # taken; the answer comes late
        return "250 2.0.0 Queued"


def _raw(content: bytes | str | None) -> bytes:
    """DATA as bytes (aiosmtpd decodes it to str only when asked to)."""
    return content.encode() if isinstance(content, str) else content or b""


@contextmanager
def running_fake_relay(*, started: bool = True) -> Iterator[FakeRelay]:
    relay = FakeRelay()
    if started:
        relay.start()
    try:
        yield relay
    finally:
        relay.stop()
