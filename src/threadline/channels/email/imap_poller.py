"""IMAP polling of existing mailboxes (aioimaplib), for organisations whose mail stays with
their provider.

An email endpoint is polled when its settings hold an `imap` block:
    {"imap": {"host": "imap.example.com", "port": 993, "username": "support@example.com",
              "ssl": true, "folder": "INBOX"}}
with the password in the endpoint's secret. Each round, per mailbox: connect, log in,
select, fetch the messages after the last UID seen (the first time, and after the server
changes UIDVALIDITY, only the unseen ones: an old mailbox is not imported whole), store each,
mark it \\Seen, remember its UID in the endpoint's settings (`imap_state`), log out.
Every command has a timeout; a failing mailbox is retried with exponential backoff.
Delivery is at least once (a crash between storing and remembering the UID fetches the
message again) and the Message-ID makes the second store a no-op.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from aioimaplib import (  # type: ignore[import-untyped]  # the package ships no types
    IMAP4,
    IMAP4_SSL,
    AioImapException,
)
from sqlalchemy import select

from threadline.channels.models import Endpoint
from threadline.db import across_orgs, org_scope
from threadline.errors import ThreadlineError

if TYPE_CHECKING:
    from threadline.channels.email.service import EmailReceiver

log = structlog.get_logger(__name__)
MAX_BACKOFF_S = 15 * 60.0
BATCH = 200  # messages per mailbox per round, so one busy mailbox cannot starve the rest
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCH_UID = re.compile(rb"\bUID (\d+)\b")


class ImapError(Exception):
    """The server answered NO/BAD, or something unparseable."""


@dataclass(frozen=True, slots=True)
class ImapAccount:
    host: str
    port: int
    username: str
    password: str
    folder: str = "INBOX"
    ssl: bool = True

    @classmethod
    def of(cls, endpoint: Endpoint) -> ImapAccount | None:
        config = (endpoint.settings or {}).get("imap")
        if not isinstance(config, dict) or not config.get("host"):
            return None
        use_ssl = bool(config.get("ssl", True))
        return cls(
            host=str(config["host"]),
            port=int(config.get("port") or (993 if use_ssl else 143)),
            username=str(config.get("username") or endpoint.key),
            password=endpoint.secret or "",
            folder=str(config.get("folder") or "INBOX"),
            ssl=use_ssl,
        )


class ImapPoller:
    def __init__(self, receiver: EmailReceiver, interval_s: float, timeout_s: float) -> None:
        self.receiver = receiver
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}

    async def run(self) -> None:
        """Poll every configured mailbox each interval, until cancelled."""
        while True:
            await self.poll_all()
            await asyncio.sleep(self.interval_s)

    async def poll_all(self) -> None:
        with across_orgs():  # every organisation's mailboxes
            async with self.receiver.ctx.db.sessions() as session:
                endpoints = list(
                    await session.scalars(
                        select(Endpoint).where(Endpoint.channel == "email", Endpoint.active)
                    )
                )
        now = asyncio.get_running_loop().time()
        due = [e for e in endpoints if ImapAccount.of(e) and self._retry_at.get(e.id, 0) <= now]
        await asyncio.gather(*(self._poll_guarded(e) for e in due))

    async def _poll_guarded(self, endpoint: Endpoint) -> None:
        try:
            with org_scope(endpoint.org_id):
                await self.poll(endpoint)
        except Exception as exc:  # one bad mailbox must not stop the others
            failures = self._failures.get(endpoint.id, 0) + 1
            self._failures[endpoint.id] = failures
            delay = min(self.interval_s * 2**failures, MAX_BACKOFF_S)
            self._retry_at[endpoint.id] = asyncio.get_running_loop().time() + delay
            self.receiver.stats["imap_errors"] += 1
            log.warning("email.imap_failed", endpoint=endpoint.id, error=repr(exc), retry_s=delay)
        else:
            self._failures.pop(endpoint.id, None)
            self._retry_at.pop(endpoint.id, None)

    async def poll(self, endpoint: Endpoint) -> int:
        """One round for one mailbox; returns how many messages were fetched."""
        account = ImapAccount.of(endpoint)
        if account is None:
            return 0
        client = self._client(account)
        try:
            await client.wait_hello_from_server()
            _ok(await client.login(account.username, account.password), "LOGIN")
            selected = _ok(await client.select(account.folder), "SELECT")
            uidvalidity = _uidvalidity(selected.lines)
            state = (endpoint.settings or {}).get("imap_state") or {}
            if state.get("uidvalidity") != uidvalidity:
                state = {"uidvalidity": uidvalidity, "last_uid": 0}
            uids = await self._new_uids(client, int(state["last_uid"]))
            for uid in uids[:BATCH]:
                await self._take(client, endpoint, uid)
                state = {**state, "last_uid": uid}
                await self._save_state(endpoint, state)
            if not uids and state != endpoint.settings.get("imap_state"):
                await self._save_state(endpoint, state)
            return min(len(uids), BATCH)
        finally:
            await self._logout(client)

    def _client(self, account: ImapAccount) -> IMAP4:
        if account.ssl:
            return IMAP4_SSL(
                account.host,
                account.port,
                timeout=self.timeout_s,
                ssl_context=ssl.create_default_context(),
            )
        return IMAP4(account.host, account.port, timeout=self.timeout_s)

    async def _new_uids(self, client: IMAP4, last_uid: int) -> list[int]:
        criteria = f"UID {last_uid + 1}:*" if last_uid else "UNSEEN"
        found = _ok(await client.uid_search(criteria, charset=None), "UID SEARCH")
        uids = sorted(
            int(u) for line in found.lines[:-1] for u in bytes(line).split() if u.isdigit()
        )
        # "n:*" always matches the highest UID, even when it is below n
        return [u for u in uids if u > last_uid]

    async def _take(self, client: IMAP4, endpoint: Endpoint, uid: int) -> None:
        fetched = _ok(await client.uid("fetch", str(uid), "(UID BODY.PEEK[])"), "UID FETCH")
        raw = _literal(fetched.lines)
        if raw is None:
            return  # expunged meanwhile
        try:
            await self.receiver.receive(endpoint, raw)
        except ThreadlineError as exc:  # can never be stored: do not fetch it forever
            self.receiver.stats["refused"] += 1
            log.info("email.refused", endpoint=endpoint.id, uid=uid, reason=exc.message)
        _ok(await client.uid("store", str(uid), "+FLAGS.SILENT (\\Seen)"), "UID STORE")

    async def _save_state(self, endpoint: Endpoint, state: dict[str, Any]) -> None:
        async with self.receiver.ctx.uow() as uow:
            row: Endpoint | None = await uow.lock(Endpoint, endpoint.id)
            if row is not None:
                row.settings = {**(row.settings or {}), "imap_state": state}
                endpoint.settings = row.settings

    async def _logout(self, client: IMAP4) -> None:
        try:
            if client.protocol is not None and client.protocol.state != "LOGOUT":
                await asyncio.wait_for(client.logout(), self.timeout_s)
        except (AioImapException, OSError, TimeoutError):
            pass
        except Exception:  # logging out of a broken connection may fail anyhow
            log.debug("email.imap_logout_failed", exc_info=True)
        finally:
            transport = getattr(client.protocol, "transport", None)
            if transport is not None:
                transport.close()


def _ok(response: Any, command: str) -> Any:
    if response.result != "OK":
        text = b" ".join(bytes(line) for line in response.lines[-1:]).decode(errors="replace")
        raise ImapError(f"{command}: {response.result} {text}")
    return response


def _uidvalidity(lines: list[Any]) -> int:
    for line in lines:
        if found := _UIDVALIDITY.search(bytes(line)):
            return int(found.group(1))
    raise ImapError("SELECT: no UIDVALIDITY")


def _literal(lines: list[Any]) -> bytes | None:
    """The message bytes in a FETCH answer (aioimaplib gives literals as bytearrays)."""
    for line in lines:
        if isinstance(line, bytearray):
            return bytes(line)
    return None
