"""Where a webhook may be sent: https to public addresses only (no SSRF into our network).

Checked twice: when an admin saves a URL, and again at every send against the addresses the
name resolves to then (DNS may have changed); the request then goes to the checked address
itself (the name kept for Host and TLS), so a second lookup cannot point it elsewhere.

`allow_http` (the `webhooks_allow_http` setting, for tests and same-host receivers) also
allows plain http to localhost/127.0.0.1/::1 and private or internal addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_URL = 2000
RESOLVE_TIMEOUT_S = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(ValueError):
    """The URL is not one we send to; the message says why."""


@dataclass(frozen=True, slots=True)
class Destination:
    """A checked URL, and the addresses to connect to (each checked), in resolver order."""

    url: str
    host: str
    addresses: tuple[str, ...]

    def pinned_url(self, address: str) -> str:
        """The URL with its host replaced by a checked address (the Host header and the TLS
        server name stay `host`)."""
        parts = urlsplit(self.url)
        literal = f"[{address}]" if ":" in address else address
        netloc = literal if parts.port is None else f"{literal}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def check_url(url: str, allow_http: bool) -> str:
    """The URL's host when its form is acceptable; Refused (with the reason) otherwise."""
    if len(url) > MAX_URL:
        raise Refused(f"the URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port out of range
    except ValueError:
        raise Refused("not a valid URL") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise Refused("the URL must be https://host/...")
    if parts.username is not None or parts.password is not None:
        raise Refused("the URL may not carry a user name or password")
    if parts.fragment:
        raise Refused("the URL may not have a #fragment")
    if port == 0:
        raise Refused("the URL's port may not be 0")
    if parts.scheme == "http" and not (allow_http and host in LOCAL_NAMES):
        raise Refused("the URL must use https")
    return host


def check_address(address: IPAddress, allow_private: bool) -> None:
    """Refused unless `address` is a public unicast address (or private ones are allowed)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_multicast or address.is_unspecified:
        raise Refused(f"{address} is not an address we send to")
    if not allow_private and not address.is_global:
        raise Refused(f"{address} is a private or internal address")


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to now (an IP literal is itself); Refused when none."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
        )
    except TimeoutError:
        raise Refused(f"{host} did not resolve in time") from None
    except (OSError, UnicodeError):
        raise Refused(f"{host} does not resolve") from None
    found = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise Refused(f"{host} does not resolve")
    return found


async def destination(url: str, allow_http: bool) -> Destination:
    """The URL checked in form and in every address its host resolves to now."""
    host = check_url(url, allow_http)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await resolve(host, port)
    for address in addresses:
        check_address(address, allow_private=allow_http)
    return Destination(url=url, host=host, addresses=tuple(str(a) for a in addresses))
