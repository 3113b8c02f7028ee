"""/planning: supervisors compare a queue's forecast with its actual contacts and the agents
it requires with those planned, edit the roster and simulate a day (through
/api/v1/planning)."""

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
from threadline.planning.staffing import DEFAULT_SHRINKAGE, INTERVAL_MINUTES, MAX_SHRINKAGE
from threadline.web.i18n import accepted_language, page_catalogue

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parents[1] / "web" / "templates")


@router.get("/planning", response_class=HTMLResponse)
async def planning(request: Request) -> Response:
    """/login for nobody, 403 below supervisor."""
    ctx: Context = request.app.state.ctx
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        principal = await principal_from_session(ctx, cookie) if cookie else None
    except NotAuthenticated:
        principal = None
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    language = accepted_language(request.headers.get("accept-language"))
    strings = page_catalogue("planning", language)
    context: dict[str, Any] = {"me": principal, "t": strings, "lang": language}
    if not principal.has("supervisor"):
        return templates.TemplateResponse(request, "forbidden.html", context, status_code=403)
    me = {"id": principal.agent_id, "name": principal.name, "role": principal.role}
    config = {
        "me": me,
        "t": strings,
        "lang": language,
        "interval_minutes": INTERVAL_MINUTES,
        "shrinkage": DEFAULT_SHRINKAGE,
        "max_shrinkage": MAX_SHRINKAGE,
    }
    return templates.TemplateResponse(request, "planning.html", {**context, "config": config})
