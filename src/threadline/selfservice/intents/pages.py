"""/admin/intents: the page where admins train their organisation's intent model (through
/api/v1/intents)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from threadline.selfservice.intents.services import MAX_UPLOAD_BYTES
from threadline.web.pages import admin_page

router = APIRouter(include_in_schema=False)


@router.get("/admin/intents", response_class=HTMLResponse)
async def admin_intents(request: Request) -> Response:
    """/login for nobody, 403 for a non-admin."""
    return await admin_page(
        request, "admin_intents", strings_of="intents_admin", max_bytes=MAX_UPLOAD_BYTES
    )
