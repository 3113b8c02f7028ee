"""The customer's web pages: the app page (installable as a PWA: manifest, service worker,
icons) and the callback manage page (the link in the callback SMS). Both are a server-
rendered shell in the customer's language (the browser's, by Accept-Language) and a small
script speaking the app API or the public callback API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates

from threadline.callbacks.services import get_callback
from threadline.callbacks.tokens import callback_of_link
from threadline.channels.app.brand import DEFAULT_COLOR, STATIC
from threadline.channels.app.services import get_app
from threadline.context import Context
from threadline.errors import NotFound
from threadline.web.i18n import catalogue, pick_language

router = APIRouter(include_in_schema=False)
WEB = Path(__file__).parents[2] / "web"
templates = Jinja2Templates(directory=WEB / "templates")
NO_STORE = {"Cache-Control": "no-cache"}


def browser_language(request: Request, preferred: str | None = None) -> str:
    """`?lang=`, else the first language of Accept-Language we have, else `preferred`."""
    if asked := request.query_params.get("lang"):
        return pick_language(asked, preferred or "en")
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip()
        if tag and tag != "*" and pick_language(tag, ""):
            return pick_language(tag)
    return pick_language(preferred)


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def _page(
    request: Request, template: str, language: str, status: int = 200, **values: Any
) -> Response:
    return templates.TemplateResponse(
        request,
        template,
        {"lang": language, "t": catalogue(language), **values},
        status_code=status,
        headers=NO_STORE,
    )


@router.get("/app/{key}", response_class=HTMLResponse)
async def app_page(request: Request, key: str) -> Response:
    """The customer page: pick a reason, answer, talk to someone; wait, callbacks, call now."""
    try:
        endpoint = await get_app(_ctx(request), key)
    except NotFound:
        return _page(request, "app_missing.html", browser_language(request), status=404)
    settings = endpoint.settings or {}
    language = browser_language(request, settings.get("language"))
    return _page(
        request,
        "app.html",
        language,
        key=key,
        name=endpoint.name,
        color=settings.get("color", DEFAULT_COLOR),
    )


@router.get("/app/{key}/offline", response_class=HTMLResponse)
async def offline_page(request: Request, key: str) -> Response:
    """What the service worker shows when there is no network and no cached page."""
    return _page(request, "app_offline.html", browser_language(request), key=key)


@router.get("/app/{key}/manifest.webmanifest")
async def manifest(request: Request, key: str) -> Response:
    try:
        endpoint = await get_app(_ctx(request), key)
    except NotFound:
        return JSONResponse({"code": "not_found", "message": "no such app"}, status_code=404)
    color = (endpoint.settings or {}).get("color", DEFAULT_COLOR)
    body = {
        "name": endpoint.name,
        "short_name": endpoint.name[:12],
        "id": f"/app/{key}",
        "start_url": f"/app/{key}",
        "scope": f"/app/{key}",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": color,
        "icons": [
            {"src": "/static/app/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/static/app/icon-512.png", "sizes": "512x512", "type": "image/png"},
            {
                "src": "/static/app/icon-512.png",
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
            {"src": "/static/app/icon.svg", "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    return JSONResponse(body, media_type="application/manifest+json", headers=NO_STORE)


@router.get("/app/{key}/sw.js")
async def service_worker(key: str) -> Response:
    """Served under the page's path so that it may control the page (its scope)."""
    return FileResponse(
        STATIC / "sw.js",
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": f"/app/{key}", **NO_STORE},
    )


@router.get("/callback/{token}", response_class=HTMLResponse)
async def callback_page(request: Request, token: str) -> Response:
    """The callback manage link: its status, reschedule to an offered window, cancel."""
    ctx = _ctx(request)
    try:
        callback = await get_callback(ctx, None, await callback_of_link(ctx, token))
    except NotFound:
        return _page(request, "callback_missing.html", browser_language(request), status=404)
    return _page(
        request, "callback.html", browser_language(request, callback.language), token=token
    )
