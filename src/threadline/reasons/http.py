"""GET/POST/PATCH/DELETE /api/v1/reasons: the organisation's contact-reason taxonomy (admins
write, supervisors read); its trends and today's spikes (docs/reasons.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from threadline.analytics import reports
from threadline.auth.dependencies import Admin, Ctx, Supervisor
from threadline.db import utcnow
from threadline.errors import PROBLEM_RESPONSES, Invalid, NotFound
from threadline.reasons import services
from threadline.reasons.models import ReasonCode
from threadline.reasons.schemas import (
    AlertOut,
    ReasonIn,
    ReasonOut,
    ReasonPatch,
    TrendRow,
    TrendsOut,
)

router = APIRouter(prefix="/api/v1/reasons", tags=["reasons"], responses=PROBLEM_RESPONSES)
MAX_SPAN = {"hour": timedelta(days=62), "day": timedelta(days=367)}


def _out(reason: ReasonCode) -> ReasonOut:
    return ReasonOut.model_validate(reason)


@router.get("", response_model=list[ReasonOut])
async def reasons(principal: Supervisor, ctx: Ctx) -> list[ReasonOut]:
    """The organisation's reasons, by code."""
    return [_out(r) for r in await services.list_reasons(ctx, principal.org_id)]


@router.post("", response_model=ReasonOut, status_code=201)
async def create(body: ReasonIn, principal: Admin, ctx: Ctx) -> ReasonOut:
    """Add a reason to the taxonomy."""
    return _out(await services.do_create(ctx, principal, body))


@router.get("/trends", response_model=TrendsOut)
async def trends(
    principal: Supervisor,
    ctx: Ctx,
    start: Annotated[
        str | None,
        Query(alias="from", max_length=40, description="date or moment; default: 7 days ago"),
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", max_length=40, description="date or moment (excluded)")
    ] = None,
    interval: Literal["hour", "day"] = "day",
    tz: Annotated[str, Query(max_length=64, description="IANA time zone")] = "UTC",
) -> TrendsOut:
    """Contacts per reason and interval (by when they came in), in [from, to); an hourly
    trend covers at most 62 days, a daily one a year."""
    zone = reports.parse_zone(tz)
    to = reports.parse_moment(end, zone, "to") if end else utcnow()
    since = reports.parse_moment(start, zone, "from") if start else to - timedelta(days=7)
    if not since < to:
        raise Invalid("from must be before to")
    if to - since > MAX_SPAN[interval]:
        raise Invalid(f"an {interval}ly trend covers at most {MAX_SPAN[interval].days} days")
    counted = await services.trends(ctx, principal.org_id, since, to, interval, zone)
    totals: dict[str, int] = {}
    for (_, code), n in counted.items():
        totals[code] = totals.get(code, 0) + n
    rows = [
        TrendRow(start=moment.isoformat(), reason=code, count=n)
        for (moment, code), n in sorted(counted.items())
    ]
    return TrendsOut(
        start=since.astimezone(zone).isoformat(),
        end=to.astimezone(zone).isoformat(),
        tz=tz,
        interval=interval,
        rows=rows,
        totals=dict(sorted(totals.items())),
    )


@router.get("/alerts", response_model=list[AlertOut])
async def alerts(principal: Supervisor, ctx: Ctx) -> list[AlertOut]:
    """Today's spikes (the organisation's day), first first."""
    return [AlertOut.model_validate(a) for a in await services.alerts_of(ctx, principal.org_id)]


@router.get("/{code}", response_model=ReasonOut)
async def reason(code: str, principal: Supervisor, ctx: Ctx) -> ReasonOut:
    """One reason."""
    found = next(
        (r for r in await services.list_reasons(ctx, principal.org_id) if r.code == code), None
    )
    if found is None:
        raise NotFound("no such reason")
    return _out(found)


@router.patch("/{code}", response_model=ReasonOut)
async def update(code: str, body: ReasonPatch, principal: Admin, ctx: Ctx) -> ReasonOut:
    """Change a reason's labels, parent or mapped values."""
    return _out(await services.do_update(ctx, principal, code, body))


@router.delete("/{code}", status_code=204)
async def delete(code: str, principal: Admin, ctx: Ctx) -> Response:
    """Remove a reason (contacts already counted under it keep its code)."""
    await services.do_delete(ctx, principal, code)
    return Response(status_code=204)
