"""Server-rendered pages: login, agent desktop, supervisor dashboard, demo site."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from threadline.agents.services import get_agent
from threadline.auth.dependencies import get_ctx
from threadline.auth.roles import Principal
from threadline.channel_kinds import ADMIN_CHANNELS, WEBHOOK_PATHS
from threadline.errors import NotFound
from threadline.reasons.schemas import LANGUAGES as REASON_LANGUAGES
from threadline.selfservice.incidents.schemas import LANGUAGES as INCIDENT_LANGUAGES
from threadline.web.i18n import (
    LANGUAGE_COOKIE,
    LANGUAGE_NAMES,
    chosen_language,
    page_catalogue,
    pick_language,
)
from threadline.web.media import file_headers, media_links, media_store
from threadline.web.pages import (
    admin_page,
    principal_or_none,
    staff_language,
    staff_page,
    templates,
)

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"


async def _profile_zone(request: Request, principal: Principal) -> str | None:
    """The time zone the agent chose on their profile, for the page's times; None when they
    kept the default (UTC), so the page uses the browser's zone instead."""
    try:
        agent = await get_agent(get_ctx(request), principal.org_id, principal.agent_id)
    except NotFound:
        return None
    return agent.timezone if agent.timezone and agent.timezone != "UTC" else None


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    principal = await principal_or_none(request)
    return RedirectResponse("/desktop" if principal else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    """The sign-in form, in the language of `?lang=` (the page's picker, then remembered in a
    cookie), the cookie, or the browser's Accept-Language."""
    asked = request.query_params.get("lang")
    language = chosen_language(
        asked, request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
    )
    strings = page_catalogue("login", language)
    context = {"t": strings, "lang": language, "languages": LANGUAGE_NAMES}
    response = templates.TemplateResponse(
        request, "login.html", {**context, "config": {"t": strings}}
    )
    if asked and pick_language(asked, ""):
        response.set_cookie(
            LANGUAGE_COOKIE, language, max_age=365 * 86400, samesite="lax", httponly=True
        )
    return response


@router.get("/desktop", response_class=HTMLResponse)
async def desktop(request: Request) -> Response:
    principal = await principal_or_none(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    language = staff_language(request)
    strings = page_catalogue("desktop", language)
    supervision = page_catalogue("supervision", language)
    inbox = page_catalogue("inbox", language)
    return templates.TemplateResponse(
        request,
        "desktop.html",
        {
            "me": principal,
            "t": strings,
            "ti": inbox,
            "lang": language,
            "sv": supervision,
            "tz": await _profile_zone(request, principal),
        },
    )


@router.get("/supervisor", response_class=HTMLResponse)
async def supervisor(request: Request) -> Response:
    principal = await principal_or_none(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    if not principal.has("supervisor"):
        return RedirectResponse("/desktop", status_code=303)
    language = staff_language(request)
    strings = page_catalogue("supervisor", language)
    wallboard = request.query_params.get("wallboard") == "1"
    me = {"id": principal.agent_id, "name": principal.name, "role": principal.role}
    config = {"me": me, "t": strings, "lang": language, "wallboard": wallboard}
    return templates.TemplateResponse(
        request,
        "supervisor.html",
        {
            "me": principal,
            "t": strings,
            "sv": page_catalogue("supervision", language),
            "lang": language,
            "wallboard": wallboard,
            "config": config,
            "tz": await _profile_zone(request, principal),
        },
    )


@router.get("/admin/channels", response_class=HTMLResponse)
async def admin_channels(request: Request) -> Response:
    """Admins list, add, edit and disable channel endpoints (through /api/v1/endpoints)."""
    settings = get_ctx(request).settings
    smtp = settings.email_smtp_hostname or settings.email_smtp_host
    language = staff_language(request)
    return await admin_page(
        request,
        "admin_channels",
        ivr_t=page_catalogue("admin_ivr", language),  # the voice number's IVR tree
        channels=ADMIN_CHANNELS,
        base_url=settings.base_url.rstrip("/"),
        webhooks=WEBHOOK_PATHS,
        smtp_inbound=f"{smtp}:{settings.email_smtp_port}" if settings.email_smtp_port else None,
        # the chat widget's part of the page (templates/admin_widget_*.html)
        widget=page_catalogue("admin_widget", language),
    )


@router.get("/admin/queues", response_class=HTMLResponse)
async def admin_queues(request: Request) -> Response:
    """Admins list, add and edit queues: hours, holidays, overflow, callback policy (through
    /api/v1/queues)."""
    return await admin_page(request, "admin_queues")


@router.get("/admin/webhooks", response_class=HTMLResponse)
async def admin_webhooks(request: Request) -> Response:
    """Admins subscribe URLs to events and follow deliveries (through /api/v1/webhooks)."""
    return await admin_page(request, "admin_webhooks")


@router.get("/admin/audit", response_class=HTMLResponse)
async def admin_audit(request: Request) -> Response:
    """Admins read the audit log, filtered and paged (through /api/v1/audit)."""
    return await admin_page(request, "admin_audit")


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(request: Request) -> Response:
    """Supervisors and admins read the KPIs of a period, grouped, as a chart and a table,
    and per agent; exported as CSV or Parquet (through /api/v1/reports)."""
    return await staff_page(request, "reports", "supervisor")


@router.get("/admin/reasons", response_class=HTMLResponse)
async def admin_reasons(request: Request) -> Response:
    """Admins edit the contact-reason taxonomy and follow its trends (/api/v1/reasons)."""
    return await admin_page(request, "admin_reasons", languages=list(REASON_LANGUAGES))


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
async def customer_profile(request: Request, customer_id: str) -> Response:
    """Agents read and edit a customer's profile, see their previous conversations and merge
    another record in; admins export or erase their data (through /api/v1/customers)."""
    return await staff_page(request, "customer_profile", "agent", customer_id=customer_id)


@router.get("/supervisor/incidents", response_class=HTMLResponse)
async def supervisor_incidents(request: Request) -> Response:
    """Supervisors declare, change and resolve incidents (outage mode) and mark affected
    customers (through /api/v1/incidents)."""
    return await staff_page(
        request,
        "supervisor_incidents",
        "supervisor",
        strings_of="incidents",
        languages=list(INCIDENT_LANGUAGES),
    )


@router.get("/media/{token}/{filename}")
async def media(token: str, filename: str, request: Request) -> Response:
    """A stored attachment behind a signed, expiring link: providers fetch it to send it."""
    settings = get_ctx(request).settings
    ref = media_links(settings).read(token)
    store = media_store(settings)
    if ref is None or not store.exists(ref.sha256):
        raise NotFound("no such file, or its link has expired")
    return Response(
        await store.get(ref.sha256),
        media_type=ref.content_type,
        headers=file_headers(ref.content_type, ref.filename, cache="private, max-age=3600"),
    )


@router.get("/demo-site", response_class=HTMLResponse)
async def demo_site(request: Request, widget: str = "demo") -> Response:
    """A sample customer web page with the chat widget embedded by one script tag."""
    return templates.TemplateResponse(request, "demo_site.html", {"widget_key": widget})


# The API's documentation pages, from vendored assets (static/vendor, see its README): they
# work offline and under the pages' CSP (their start-up script is a file, not inline).
@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> Response:
    return templates.TemplateResponse(
        request,
        "api_docs.html",
        {"title": request.app.title, "openapi_url": request.app.openapi_url},
    )


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> Response:
    return templates.TemplateResponse(
        request,
        "api_redoc.html",
        {"title": request.app.title, "openapi_url": request.app.openapi_url},
    )


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    """What browsers ask for on every page (without it, a 404 on each)."""
    return FileResponse(
        STATIC / "app" / "icon-192.png",
        media_type="image/png",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
