"""The people admin pages: agents and teams, API tokens, organisation settings; and the
public page where an invited agent sets their password. Each page works through the API
(agents/http.py, auth/http.py, orgs/http.py, privacy/http.py)."""

from __future__ import annotations

from zoneinfo import available_timezones

import phonenumbers
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from threadline.channel_kinds import CHANNELS
from threadline.i18n.language import LANGUAGES
from threadline.privacy.retention import MAX_DAYS, MIN_DAYS
from threadline.web.i18n import accepted_language, page_catalogue
from threadline.web.pages import admin_page, templates

router = APIRouter(include_in_schema=False)


@router.get("/admin/agents", response_class=HTMLResponse)
async def admin_agents(request: Request) -> Response:
    """Admins add (or invite), edit, deactivate and reactivate agents, and keep teams."""
    return await admin_page(
        request, "admin_agents", channels=list(CHANNELS), languages=list(LANGUAGES)
    )


@router.get("/admin/tokens", response_class=HTMLResponse)
async def admin_tokens(request: Request) -> Response:
    """Admins create (shown once), list and revoke their API tokens."""
    return await admin_page(request, "admin_tokens")


@router.get("/admin/settings", response_class=HTMLResponse)
async def admin_settings(request: Request) -> Response:
    """Admins set the organisation's time zone, phone region, languages and retention."""
    return await admin_page(
        request,
        "admin_settings",
        languages=list(LANGUAGES),
        regions=sorted(phonenumbers.SUPPORTED_REGIONS),
        timezones=sorted(available_timezones()),
        min_days=MIN_DAYS,
        max_days=MAX_DAYS,
    )


@router.get("/invite", response_class=HTMLResponse)
async def invite_page(request: Request) -> Response:
    """Where an invited agent sets their password. The invitation's token is in the link's
    fragment, which the browser keeps: the page's script reads it and sends it in a POST."""
    language = accepted_language(request.headers.get("accept-language"))
    strings = page_catalogue("invite", language)
    return templates.TemplateResponse(
        request, "invite.html", {"t": strings, "lang": language, "config": {"t": strings}}
    )
