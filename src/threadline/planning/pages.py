"""/planning: supervisors compare a queue's forecast with its actual contacts and the agents
it requires with those planned, edit the roster and simulate a day (through
/api/v1/planning)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from threadline.planning.staffing import DEFAULT_SHRINKAGE, INTERVAL_MINUTES, MAX_SHRINKAGE
from threadline.web.pages import staff_page

router = APIRouter(include_in_schema=False)


@router.get("/planning", response_class=HTMLResponse)
async def planning(request: Request) -> Response:
    """/login for nobody, 403 below supervisor."""
    return await staff_page(
        request,
        "planning",
        "supervisor",
        interval_minutes=INTERVAL_MINUTES,
        shrinkage=DEFAULT_SHRINKAGE,
        max_shrinkage=MAX_SHRINKAGE,
    )
