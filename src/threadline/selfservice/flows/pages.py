"""The admin page for flows, /admin/flows: a server-rendered shell whose script edits flows
through /api/v1/flows (each step as a form, never raw JSON) and tries them in a preview."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from threadline.selfservice.flows.messages import BUILTIN
from threadline.web.pages import admin_page

router = APIRouter(include_in_schema=False)


@router.get("/admin/flows", response_class=HTMLResponse)
async def admin_flows(request: Request) -> Response:
    """Admins edit and try flows: /login for nobody, 403 for a non-admin."""
    return await admin_page(request, "admin_flows", languages=sorted(BUILTIN))
