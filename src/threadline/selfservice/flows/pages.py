"""The admin page for flows, /admin/flows: a server-rendered shell whose script edits flows
through /api/v1/flows (each step as a form, never raw JSON) and tries them in a preview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from threadline.auth.dependencies import SESSION_COOKIE
from threadline.auth.services import principal_from_session
from threadline.context import Context
from threadline.errors import NotAuthenticated
from threadline.selfservice.flows.messages import BUILTIN
from threadline.web.i18n import accepted_language, page_catalogue

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parents[2] / "web" / "templates")
PAGE = "admin_flows"


@router.get("/admin/flows", response_class=HTMLResponse)
async def admin_flows(request: Request) -> Response:
    """Admins edit and try flows: /login for nobody, 403 for a non-admin."""
    ctx: Context = request.app.state.ctx
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        principal = await principal_from_session(ctx, cookie) if cookie else None
    except NotAuthenticated:
        principal = None
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    language = accepted_language(request.headers.get("accept-language"))
    strings = page_catalogue(PAGE, language)
    context: dict[str, Any] = {"me": principal, "t": strings, "lang": language}
    if not principal.has("admin"):
        return templates.TemplateResponse(request, "forbidden.html", context, status_code=403)
    config = {"t": strings, "lang": language, "languages": sorted(BUILTIN)}
    return templates.TemplateResponse(request, f"{PAGE}.html", {**context, "config": config})
