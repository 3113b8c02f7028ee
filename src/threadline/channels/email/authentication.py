"""Is an inbound email's From really its sender's? Anyone can write any From: a forged one
would read into another customer's thread with whatever trust that customer has. A mailbox
(email endpoint) checks it one of three ways, `settings.sender_auth.mode`:

- "dkim" (default): a DKIM signature (RFC 6376, verified with dkimpy) that passes and whose
  signing domain (d=) is the From's domain or a parent of it (DMARC's relaxed alignment,
  without the public-suffix list: a d= with no dot is never accepted).
- "relay": the mail comes through a relay we trust, which checks DKIM/DMARC itself and
  writes the result on top (RFC 8601 Authentication-Results). Only the topmost such header is
  read, and only if it carries that relay's authserv-id (`settings.sender_auth.authserv_id`):
  headers further down were written by hops we do not trust, or forged by the sender. The
  relay must remove any incoming header with its own authserv-id (RFC 8601 section 5).
- "off": the From is taken as it is (a mailbox fed only by a trusted system).

A message that does not pass is still stored (mail is never lost) but marked: the agent sees
"sender not verified", and it carries no assurance (channels/email/service.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesHeaderParser
from typing import Any, Literal

import dkim  # type: ignore[import-untyped]  # dkimpy ships no type information

Mode = Literal["off", "dkim", "relay"]
MODES: tuple[Mode, ...] = ("off", "dkim", "relay")
DEFAULT_MODE: Mode = "dkim"
MAX_SIGNATURES = 5  # a message with more is not checked further (each may cost a DNS query)
DnsFunc = Callable[..., bytes | None]


@dataclass(frozen=True, slots=True)
class SenderAuth:
    """How one mailbox checks senders (an endpoint's `settings.sender_auth`)."""

    mode: Mode = DEFAULT_MODE
    authserv_id: str | None = None  # the trusted relay's name in its Authentication-Results

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> SenderAuth:
        """From an endpoint's settings; ValueError (with the reason) when wrong."""
        given = settings.get("sender_auth")
        if given is None:
            return cls()
        if not isinstance(given, Mapping):
            raise ValueError("settings.sender_auth: {mode: off|dkim|relay, authserv_id}")
        mode = given.get("mode", DEFAULT_MODE)
        if mode not in MODES:
            raise ValueError("settings.sender_auth.mode: one of off, dkim, relay")
        authserv_id = given.get("authserv_id")
        if authserv_id is not None and (
            not isinstance(authserv_id, str) or not _AUTHSERV_ID.fullmatch(authserv_id)
        ):
            raise ValueError("settings.sender_auth.authserv_id: the relay's host name")
        if mode == "relay" and not authserv_id:
            raise ValueError("settings.sender_auth.authserv_id: needed with mode 'relay'")
        return cls(mode, authserv_id.lower() if authserv_id else None)

    def as_settings(self) -> dict[str, Any]:
        found: dict[str, Any] = {"mode": self.mode}
        if self.authserv_id:
            found["authserv_id"] = self.authserv_id
        return found


@dataclass(frozen=True, slots=True)
class SenderCheck:
    """The outcome for one message: `verified` only when the From's domain was proven."""

    verified: bool
    method: Mode
    domain: str | None = None  # the domain that vouched for the From (d=, header.from)
    reason: str = ""

    def as_data(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "method": self.method,
            "domain": self.domain,
            "reason": self.reason[:200],
        }


def check_sender(
    raw: bytes, from_address: str, auth: SenderAuth, dnsfunc: DnsFunc | None = None
) -> SenderCheck:
    """Check the From of one raw message as the mailbox is configured. Blocking (DNS):
    run it in a thread."""
    if auth.mode == "off":
        return SenderCheck(True, "off", None, "sender checks are off for this mailbox")
    domain = from_address.rpartition("@")[2].lower().rstrip(".")
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    if len(headers.get_all("From") or []) != 1:
        return SenderCheck(False, auth.mode, None, "not exactly one From header")
    if auth.mode == "relay":
        return _by_relay(headers.get_all("Authentication-Results") or [], domain, auth)
    return _by_dkim(raw, domain, dnsfunc)


def aligned(signing_domain: str, from_domain: str) -> bool:
    """Whether a domain that signed (or passed DMARC) vouches for this From domain: the same,
    or a parent of it (mail.bank.example signed by bank.example), never a bare TLD."""
    signer = signing_domain.lower().rstrip(".")
    if "." not in signer or not from_domain:
        return False
    return from_domain == signer or from_domain.endswith("." + signer)


def _by_dkim(raw: bytes, domain: str, dnsfunc: DnsFunc | None) -> SenderCheck:
    verifier = dkim.DKIM(raw, minkey=1024, timeout=5)
    count = sum(1 for name, _ in verifier.headers if name.lower() == b"dkim-signature")
    if count == 0:
        return SenderCheck(False, "dkim", None, "no DKIM signature")
    reasons = []
    for index in range(min(count, MAX_SIGNATURES)):
        try:
            passed = verifier.verify(index, dnsfunc=dnsfunc or dkim.dnsplug.get_txt)
        except dkim.DKIMException as exc:  # a malformed signature or key, a DNS failure
            reasons.append(f"signature {index + 1}: {exc}"[:120])
            continue
        signer = (verifier.domain or b"").decode("ascii", "replace").lower()
        if passed and aligned(signer, domain):
            return SenderCheck(True, "dkim", signer, f"DKIM signature of {signer} passed")
        why = "does not match the From domain" if passed else "did not verify"
        reasons.append(f"signature {index + 1} (d={signer}) {why}")
    return SenderCheck(False, "dkim", None, "; ".join(reasons))


def _by_relay(results: list[str], domain: str, auth: SenderAuth) -> SenderCheck:
    if not results:
        return SenderCheck(False, "relay", None, "no Authentication-Results header")
    try:
        topmost = parse_authentication_results(results[0])
    except ValueError as exc:
        return SenderCheck(False, "relay", None, f"unreadable Authentication-Results: {exc}")
    if topmost.authserv_id != auth.authserv_id:
        return SenderCheck(
            False, "relay", None, "the topmost Authentication-Results is not the trusted relay's"
        )
    for result in topmost.results:
        vouching = result.vouching_domain()
        if result.result == "pass" and vouching and aligned(vouching, domain):
            return SenderCheck(
                True,
                "relay",
                vouching,
                f"{result.method}=pass for {vouching} ({topmost.authserv_id})",
            )
    return SenderCheck(False, "relay", None, "no aligned dkim=pass or dmarc=pass from the relay")


# ---- RFC 8601 Authentication-Results ------------------------------------------------------

_AUTHSERV_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_PAIR = re.compile(
    r'(?P<key>[A-Za-z0-9_.\-/]+)\s*=\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s";=]+)', re.DOTALL
)


@dataclass(frozen=True, slots=True)
class MethodResult:
    """One `method=result` of an Authentication-Results header, with its properties
    (`header.d`, `header.from`, `smtp.mailfrom`, ... lower-cased names)."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)

    def vouching_domain(self) -> str | None:
        """The domain a passing result proves the message came from: DKIM's signing domain
        (header.d, else the domain of header.i), DMARC's From domain (header.from)."""
        props = self.properties
        if self.method == "dkim":
            return props.get("header.d") or (props.get("header.i", "").rpartition("@")[2] or None)
        if self.method == "dmarc":
            return props.get("header.from")
        return None


@dataclass(frozen=True, slots=True)
class AuthenticationResults:
    authserv_id: str
    results: tuple[MethodResult, ...]


def parse_authentication_results(value: str) -> AuthenticationResults:
    """Parse one Authentication-Results field body (RFC 8601 section 2.2): comments (nested,
    escaped) removed, quoted strings kept whole, `authserv-id [version]; method[/version]=
    result [reason=...] [ptype.property=value ...]; ...`. ValueError when not that shape."""
    text = _without_comments(" ".join(value.split()))
    segments = _split_outside_quotes(text, ";")
    head = segments[0].split()
    if not head or not _AUTHSERV_ID.fullmatch(head[0]):
        raise ValueError("no authserv-id")
    results = []
    for segment in segments[1:]:
        segment = re.sub(r"\s*\.\s*", ".", segment.strip()) if '"' not in segment else segment
        if not segment or segment.lower() == "none":
            continue
        pairs = [(m["key"].lower(), _unquote(m["value"])) for m in _PAIR.finditer(segment.strip())]
        if not pairs:
            raise ValueError(f"no method=result in {segment[:40]!r}")
        (method, result), *rest = pairs
        properties = {key: val.lower() for key, val in rest if "." in key}
        results.append(MethodResult(method.split("/", 1)[0], result.lower(), properties))
    return AuthenticationResults(head[0].lower(), tuple(results))


def _without_comments(text: str) -> str:
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\" and (quoted or depth):
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if char == '"' and depth == 0:
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
            continue
        elif not quoted and char == ")" and depth:
            depth -= 1
            continue
        if depth == 0:
            out.append(char)
    if depth or quoted:
        raise ValueError("an unclosed comment or quoted string")
    return "".join(out)


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value
