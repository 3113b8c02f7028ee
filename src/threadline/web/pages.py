"""Staff pages: who is signed in, /login for nobody, 403 below the page's role, and the
page's strings in the reader's language. Every domain's staff page is served through
`staff_page` (or `admin_page`), so the checks are written once."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from threadline.auth.dependencies import SESSION_COOKIE, get_ctx
from threadline.auth.roles import Principal
from threadline.auth.services import principal_from_session
from threadline.errors import NotAuthenticated
from threadline.web.i18n import LANGUAGE_COOKIE, chosen_language, page_catalogue

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


async def principal_or_none(request: Request) -> Principal | None:
    """Who the session cookie names, or None (no cookie, or a session ended or forged)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return await principal_from_session(get_ctx(request), cookie)
    except NotAuthenticated:
        return None


def staff_language(request: Request) -> str:
    """A staff page's language: the one picked on the login page (its cookie), else the
    browser's."""
    return chosen_language(
        None, request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
    )


async def staff_page(
    request: Request,
    page: str,
    role: str,
    *,
    strings_of: str | None = None,
    context: Mapping[str, Any] | None = None,
    **config: Any,
) -> Response:
    """A staff page, `page`.html with its strings (web/locales/`strings_of` or `page`/):
    /login for nobody, 403 for someone below `role`; `config` (with who is signed in, the
    strings and the language) goes to the page's script, `context` to its template only."""
    principal = await principal_or_none(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    language = staff_language(request)
    strings = page_catalogue(strings_of or page, language)
    values = {"me": principal, "t": strings, "lang": language}
    if not principal.has(role):
        return templates.TemplateResponse(request, "forbidden.html", values, status_code=403)
    me = {"id": principal.agent_id, "name": principal.name, "role": principal.role}
    config = {"me": me, "t": strings, "lang": language, **config}
    values = {**values, **(context or {}), "config": config}
    return templates.TemplateResponse(request, f"{page}.html", values)


async def admin_page(
    request: Request,
    page: str,
    *,
    strings_of: str | None = None,
    context: Mapping[str, Any] | None = None,
    **config: Any,
) -> Response:
    """An admin page (see `staff_page`): 403 for anyone but an admin."""
    return await staff_page(
        request, page, "admin", strings_of=strings_of, context=context, **config
    )
