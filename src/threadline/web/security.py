"""Cross-origin protection and security headers, applied once to every request (ASGI).

CSRF. The desktop, supervisor and admin pages authenticate by a session cookie, which the
browser attaches to any request to our host, including one a page of another origin makes
(SameSite=Lax does not help against another port of the same host: that is the same *site*).
So an unsafe request (POST, PUT, PATCH, DELETE) that the session cookie would authenticate is
refused unless the browser says it comes from one of our own pages:
  1. `Origin` equals the origin of the configured base URL (THREADLINE_BASE_URL), or
     names the very host:port the request was sent to (`Host`): allowed;
  2. `Sec-Fetch-Site: same-origin` (the browser's own verdict) or `none` (the user's own
     action, e.g. a bookmark): allowed; any other value (`same-site`, `cross-site`): refused;
  3. no `Sec-Fetch-Site` (an older browser): an `Origin` other than ours is refused;
  4. neither header: not a browser (curl, a script): allowed, as nothing ambient is forged.
This is the algorithm of Go's `http.CrossOriginProtection` (Filippo Valsorda's analysis),
with the configured base URL as the trusted origin. A DNS-rebinding page would pass the
`Host` comparison, but it gets no cookie of ours, so it has nothing to forge.
The login form gets the same check even without a cookie (login CSRF would sign a victim
into the attacker's account).

What it does not touch, by design: requests that carry no session cookie, and requests with
an `Authorization` header (bearer tokens: the API, the widget's and the app's visitor
tokens; a cookie beside a bearer token is ignored by `principal_for`). Provider webhooks
carry no cookie and are signature-checked. The customer-facing APIs
(/api/v1/widget/..., /api/v1/app/..., /api/v1/public/...) are called from customers' sites
on purpose; they never read the cookie, so they are exempt even when one rides along.

WebSockets. A handshake carrying the session cookie must come from our origin (same rules,
GET included): else it is denied with an HTTP 403 and a problem body before any upgrade.

Headers. Every response: `X-Content-Type-Options: nosniff` and a Referrer-Policy. Every
HTML page: a Content-Security-Policy without inline script and, unless the page is one a
customer's site may frame (see `frame_ancestors_for`), `frame-ancestors 'none'` with
`X-Frame-Options: DENY` for browsers without CSP 2. A route that sets its own
Content-Security-Policy (media files, the API docs) keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
LOGIN_PATH = "/api/v1/auth/login"
# Called cross-origin by design (customers' sites, mobile apps); they never read the cookie.
PUBLIC_PREFIXES = ("/api/v1/widget/", "/api/v1/app/", "/api/v1/public/", "/webhooks/")
# Staff-only pages are never framed; customer pages may be, where the operator allows it.
CUSTOMER_FRAMEABLE_PREFIXES = ("/app/",)
DEFAULT_REFERRER_POLICY = "same-origin"
# Pages whose URL is itself a credential (a manage link, a media link) send no referrer at all.
NO_REFERRER_PREFIXES = ("/callback/", "/media/")
# ReDoc runs its search index in a Worker it builds from a Blob.
BLOB_WORKER_PATHS = frozenset({"/redoc"})


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased, default ports dropped (as browsers
    serialise an Origin header)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
    try:
        port = parts.port
    except ValueError:
        return ""
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def cross_origin_refusal(
    headers: Headers, trusted_origins: Iterable[str], *, ws: bool = False
) -> str | None:
    """Why a browser request is not from one of our pages, or None when it is (or when it
    is not a browser at all). `trusted_origins` are serialised origins (`origin_of`)."""
    origin = headers.get("origin")
    if origin is not None and (
        origin_of(origin) in trusted_origins or _same_host(origin, headers.get("host"))
    ):
        return None
    site = headers.get("sec-fetch-site")
    if site in ("same-origin", "none"):
        return None
    what = "WebSocket handshake" if ws else "request"
    if site:
        return f"cross-origin {what} refused (Sec-Fetch-Site: {site}, Origin: {origin or '-'})"
    if origin is None:
        return None
    return f"cross-origin {what} refused (Origin {origin} is not this server's)"


def _same_host(origin: str, host: str | None) -> bool:
    """Whether a page's Origin names the host:port this request was sent to (our server
    reached by another name than the base URL's, e.g. localhost). A page cannot forge
    either header; behind a proxy that rewrites Host, the base URL decides alone."""
    parts = urlsplit(origin)
    return bool(host) and parts.scheme in ("http", "https") and parts.netloc == host


@dataclass(frozen=True, slots=True)
class PagePolicy:
    """The Content-Security-Policy of our HTML pages."""

    connect_origins: tuple[str, ...] = ()

    def csp(self, frameable_by: Sequence[str] = (), *, blob_workers: bool = False) -> str:
        ancestors = " ".join(frameable_by) if frameable_by else "'none'"
        workers = "'self' blob:" if blob_workers else "'self'"
        connect = " ".join(("'self'", *self.connect_origins))
        return "; ".join(
            (
                "default-src 'self'",
                # no inline script, no eval: every script is a file of ours (Alpine's CSP build)
                "script-src 'self'",
                # inline styles stay: the widget styles its shadow root with a <style>, Alpine
                # binds :style; CSS cannot run script, and nothing else is loaded from elsewhere
                "style-src 'self' 'unsafe-inline'",
                "img-src 'self' data: blob:",
                "media-src 'self' blob:",
                "font-src 'self'",
                f"connect-src {connect}",
                f"worker-src {workers}",
                "manifest-src 'self'",
                "object-src 'none'",
                "base-uri 'none'",
                "form-action 'self'",
                f"frame-ancestors {ancestors}",
            )
        )


def ws_origin(base_origin: str) -> str:
    """The WebSocket origin beside an HTTP one (older engines do not let 'self' match ws:)."""
    if base_origin.startswith("https://"):
        return "wss://" + base_origin.removeprefix("https://")
    return "ws://" + base_origin.removeprefix("http://")


class SecurityMiddleware:
    """Refuses cross-origin cookie-authenticated writes and socket handshakes; adds security
    headers to every response. `app_frame_ancestors`: origins that may frame customer app
    pages (/app/{key}); empty, nobody may."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        base_url: str,
        session_cookie: str,
        app_frame_ancestors: Sequence[str] = (),
    ) -> None:
        self.app = app
        base = origin_of(base_url)
        self.trusted = frozenset({base})
        self.session_cookie = session_cookie
        self.app_frame_ancestors = tuple(origin_of(o) for o in app_frame_ancestors if o)
        self.policy = PagePolicy(connect_origins=(ws_origin(base),))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _cookie_authenticated(self, headers: Headers) -> bool:
        if headers.get("authorization"):
            return False  # a bearer token wins over the cookie (principal_for)
        cookies = headers.get("cookie", "")
        return any(
            part.strip().split("=", 1)[0] == self.session_cookie for part in cookies.split(";")
        )

    def refusal(self, scope: Scope) -> str | None:
        """Why this HTTP request is refused as cross-site request forgery, or None."""
        if scope["method"] in SAFE_METHODS:
            return None
        path: str = scope["path"]
        headers = Headers(scope=scope)
        if path == LOGIN_PATH or (
            not path.startswith(PUBLIC_PREFIXES) and self._cookie_authenticated(headers)
        ):
            return cross_origin_refusal(headers, self.trusted)
        return None

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = self.refusal(scope)
        path: str = scope["path"]
        if reason is not None:
            await _problem(send, 403, "cross_origin", reason, self._headers(path, html=False))
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                html = headers.get("content-type", "").startswith("text/html")
                for name, value in self._headers(path, html=html):
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, path: str, *, html: bool) -> list[tuple[str, str]]:
        referrer = "no-referrer" if path.startswith(NO_REFERRER_PREFIXES) else None
        out = [
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", referrer or DEFAULT_REFERRER_POLICY),
        ]
        if html:
            frameable = self.frame_ancestors_for(path)
            policy = self.policy.csp(frameable, blob_workers=path in BLOB_WORKER_PATHS)
            out.append(("content-security-policy", policy))
            if not frameable:
                out.append(("x-frame-options", "DENY"))
        return out

    def frame_ancestors_for(self, path: str) -> tuple[str, ...]:
        """Who may frame this page: nobody, but for customer app pages the operator's list
        (THREADLINE_APP_FRAME_ANCESTORS). Staff pages and the callback manage page (a
        capability link with a cancel button) are never framed."""
        if path.startswith(CUSTOMER_FRAMEABLE_PREFIXES):
            return self.app_frame_ancestors
        return ()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        reason = None
        if self._cookie_authenticated(headers):
            reason = cross_origin_refusal(headers, self.trusted, ws=True)
        if reason is None:
            await self.app(scope, receive, send)
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            await _problem(send, 403, "cross_origin", reason, [], websocket=True)
        else:  # a close before accept is a 403 without a body
            await send({"type": "websocket.close", "code": 1008, "reason": reason})


async def _problem(
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: list[tuple[str, str]],
    *,
    websocket: bool = False,
) -> None:
    body = json.dumps({"code": code, "message": message}).encode()
    prefix = "websocket.http.response" if websocket else "http.response"
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in headers),
    ]
    await send({"type": f"{prefix}.start", "status": status, "headers": raw})
    await send({"type": f"{prefix}.body", "body": body})
