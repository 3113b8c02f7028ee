"""A real IMAP server for the tests: Debian's dovecot, started as a private instance on a
free port with a temporary maildir and one plaintext test user (no TLS, no system config).

Messages are put in the mailbox with the stdlib imaplib client (APPEND), as a mail
delivery would, and flags are read back the same way."""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.http_server import free_port

DOVECOT = Path("/usr/sbin/dovecot")
USER = "support@testbank.example"
PASSWORD = "imap-test-password"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@dataclass
class Dovecot:
    port: int
    root: Path
    user: str = USER
    password: str = PASSWORD
    host: str = "127.0.0.1"

    def client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        client.login(self.user, self.password)
        client.select("INBOX")
        return client

    def append(self, raw: bytes, *, seen: bool = False) -> int:
        """Deliver one message; returns its UID."""
        client = self.client()
        try:
            status, data = client.append("INBOX", "(\\Seen)" if seen else None, None, raw)
            assert status == "OK", data
            # "[APPENDUID <uidvalidity> <uid>] Append completed."
            return int(data[0].split()[2].rstrip(b"]"))
        finally:
            client.logout()

    def flags(self, uid: int) -> str:
        client = self.client()
        try:
            status, data = client.uid("fetch", str(uid), "(FLAGS)")
            assert status == "OK", data
            return data[0].decode() if data[0] else ""
        finally:
            client.logout()

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _accounts() -> tuple[str, str, str, int, int]:
    """Who dovecot's processes run as: its own users when we are root (dovecot refuses to
    run logins as root), else everything as the current user."""
    if os.geteuid() == 0:
        mail = pwd.getpwnam("dovecot")
        return "dovecot", "dovecot", "dovenull", mail.pw_uid, mail.pw_gid
    me = pwd.getpwuid(os.geteuid())
    group = me.pw_name
    return me.pw_name, group, me.pw_name, me.pw_uid, me.pw_gid


@contextmanager
def running_dovecot() -> Iterator[Dovecot]:
    root = Path(tempfile.mkdtemp(prefix="threadline-dovecot-"))
    root.chmod(0o755)  # the mail and login users must reach their directories
    internal, internal_group, login, uid, gid = _accounts()
    for name in ("run", "state", "mail"):
        (root / name).mkdir()
    if os.geteuid() == 0:
        os.chown(root / "mail", uid, gid)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            root=root,
            port=port,
            internal=internal,
            internal_group=internal_group,
            login=login,
            uid=uid,
            gid=gid,
        )
    )
    process = subprocess.Popen([str(DOVECOT), "-F", "-c", str(config)])
    server = Dovecot(port, root)
    try:
        _wait_ready(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(server: Dovecot, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {server.log()}")
        try:
            server.client().logout()
            return
        except (OSError, imaplib.IMAP4.error):
            time.sleep(0.1)
    raise RuntimeError(f"dovecot did not start: {server.log()}")
