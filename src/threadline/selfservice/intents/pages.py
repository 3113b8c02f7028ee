"""/admin/intents: the page where admins train their organisation's intent model (through
/api/v1/intents)."""

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
from threadline.selfservice.intents.services import MAX_UPLOAD_BYTES
from threadline.web.i18n import accepted_language, page_catalogue

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parents[2] / "web" / "templates")


@router.get("/admin/intents", response_class=HTMLResponse)
async def admin_intents(request: Request) -> Response:
    """/login for nobody, 403 for a non-admin."""
    ctx: Context = request.app.state.ctx
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        principal = await principal_from_session(ctx, cookie) if cookie else None
    except NotAuthenticated:
        principal = None
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    language = accepted_language(request.headers.get("accept-language"))
    strings = page_catalogue("intents_admin", language)
    context: dict[str, Any] = {"me": principal, "t": strings, "lang": language}
    if not principal.has("admin"):
        return templates.TemplateResponse(request, "forbidden.html", context, status_code=403)
    config = {"t": strings, "lang": language, "max_bytes": MAX_UPLOAD_BYTES}
    return templates.TemplateResponse(request, "admin_intents.html", {**context, "config": config})
