"""Server-rendered pages: login, agent desktop, supervisor dashboard, demo site."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from threadline.auth.dependencies import SESSION_COOKIE, get_ctx
from threadline.auth.services import principal_from_session
from threadline.errors import NotAuthenticated

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


async def _principal_or_none(request: Request):  # type: ignore[no-untyped-def]
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return await principal_from_session(get_ctx(request), cookie)
    except NotAuthenticated:
        return None


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    principal = await _principal_or_none(request)
    return RedirectResponse("/desktop" if principal else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html", {})


@router.get("/desktop", response_class=HTMLResponse)
async def desktop(request: Request) -> Response:
    principal = await _principal_or_none(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    return templates.TemplateResponse(request, "desktop.html", {"me": principal})


@router.get("/supervisor", response_class=HTMLResponse)
async def supervisor(request: Request) -> Response:
    principal = await _principal_or_none(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    if not principal.has("supervisor"):
        return RedirectResponse("/desktop", status_code=303)
    return templates.TemplateResponse(request, "supervisor.html", {"me": principal})


@router.get("/demo-site", response_class=HTMLResponse)
async def demo_site(request: Request, widget: str = "demo") -> Response:
    """A sample customer web page with the chat widget embedded by one script tag."""
    return templates.TemplateResponse(request, "demo_site.html", {"widget_key": widget})


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
