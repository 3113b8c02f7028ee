"""Outage mode's API: supervisors declare, change and resolve incidents and mark affected
customers; the widget reads the banners in force and lets a visitor ask to be told when
it is fixed."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request

from threadline.auth.dependencies import Ctx, Supervisor
from threadline.channels.app.services import get_app
from threadline.channels.chat.services import get_widget, visitor_from_header
from threadline.errors import PROBLEM_RESPONSES, Invalid
from threadline.ratelimit import rate_limited
from threadline.selfservice.incidents import services
from threadline.selfservice.incidents.models import Incident
from threadline.selfservice.incidents.schemas import (
    AffectedIn,
    AffectedOut,
    Banner,
    FollowIn,
    FollowOut,
    IncidentDetail,
    IncidentIn,
    IncidentOut,
    IncidentPatch,
    ResolveIn,
)
from threadline.web.customer_api import CustomerRoute
from threadline.web.i18n import pick_language, translate

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"], responses=PROBLEM_RESPONSES)
MAX_CSV_BYTES = 2 * 1024 * 1024


def _out(incident: Incident) -> IncidentOut:
    return IncidentOut.model_validate(incident)


@router.get("", response_model=list[IncidentDetail])
async def incidents(
    principal: Supervisor,
    ctx: Ctx,
    status: Annotated[Literal["active", "resolved"] | None, Query()] = None,
) -> list[IncidentDetail]:
    """The organisation's incidents, newest first (at most 200), each with its counts."""
    found = await services.list_incidents(ctx, principal.org_id, status)
    counts = await services.counts_of(ctx, principal.org_id, [i.id for i in found])
    return [IncidentDetail(**_out(i).model_dump(), counts=counts[i.id]) for i in found]


@router.post("", response_model=IncidentOut, status_code=201)
async def declare(body: IncidentIn, principal: Supervisor, ctx: Ctx) -> IncidentOut:
    """Declare an incident: from its start the widget shows a banner, calls hear the message
    first, and customers' messages about it are tagged to it."""
    return _out(await services.do_declare(ctx, principal, body))


@router.get("/{incident_id}", response_model=IncidentDetail)
async def incident(incident_id: str, principal: Supervisor, ctx: Ctx) -> IncidentDetail:
    """One incident, with how many customers follow it, were told, and threads about it."""
    found = await services.get_incident(ctx, principal.org_id, incident_id)
    counts = await services.notice_counts(ctx, principal.org_id, incident_id)
    return IncidentDetail(**_out(found).model_dump(), counts=counts)


@router.patch("/{incident_id}", response_model=IncidentOut)
async def update(
    incident_id: str, body: IncidentPatch, principal: Supervisor, ctx: Ctx
) -> IncidentOut:
    """Change an active incident (its messages, expected end, the words that match it)."""
    return _out(await services.do_update(ctx, principal, incident_id, body))


@router.post("/{incident_id}/resolve", response_model=IncidentOut)
async def resolve(
    incident_id: str, principal: Supervisor, ctx: Ctx, body: ResolveIn | None = None
) -> IncidentOut:
    """Resolve it: the banners go and every customer waiting to hear is told, once."""
    return _out(await services.do_resolve(ctx, principal, incident_id, body or ResolveIn()))


@router.post("/{incident_id}/affected", response_model=AffectedOut)
async def affected(
    incident_id: str, body: AffectedIn, principal: Supervisor, ctx: Ctx
) -> AffectedOut:
    """Mark customers affected: they are told when it is fixed (and of the outage now, with
    `tell_now`)."""
    return await services.do_mark_affected(ctx, principal, incident_id, body)


@router.post(
    "/{incident_id}/affected.csv",
    response_model=AffectedOut,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def affected_csv(
    incident_id: str,
    request: Request,
    principal: Supervisor,
    ctx: Ctx,
    tell_now: Annotated[bool, Query()] = False,
) -> AffectedOut:
    """The same from a CSV export (UTF-8, a header row naming `customer_id`, `phone` or
    `email` columns; other columns are ignored), up to 2 MB."""
    raw = bytearray()
    async for chunk in request.stream():  # read no further than the limit
        raw += chunk
        if len(raw) > MAX_CSV_BYTES:
            raise Invalid("the CSV is over 2 MB: split it")
    body = parse_affected_csv(bytes(raw), tell_now=tell_now)
    return await services.do_mark_affected(ctx, principal, incident_id, body)


def parse_affected_csv(raw: bytes, *, tell_now: bool) -> AffectedIn:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the CSV is not UTF-8") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    found: dict[str, list[str]] = {k: [] for k in ("customer_id", "phone", "email")}
    try:
        rows = csv.DictReader(io.StringIO(text), dialect=dialect)
        names = {(n or "").strip().lower(): n for n in rows.fieldnames or []}
        columns = {k: names[k] for k in found if k in names}
        if not columns:
            raise Invalid("the CSV needs a header row with a customer_id, phone or email column")
        for row in rows:
            for key, name in columns.items():
                value = (row.get(name) or "").strip()
                if value:
                    found[key].append(value)
    except csv.Error as exc:
        raise Invalid(f"the CSV cannot be read: {exc}") from None
    try:
        return AffectedIn(
            customer_ids=found["customer_id"],
            phones=found["phone"],
            emails=found["email"],
            tell_now=tell_now,
        )
    except ValueError as exc:
        raise Invalid(f"the CSV: {exc}") from None


# ---------------------------------------------------------------- the widget
visitor_router = APIRouter(
    prefix="/api/v1/widget/{key}/incidents",
    tags=["chat widget"],
    responses=PROBLEM_RESPONSES,
    route_class=CustomerRoute,
)


@visitor_router.get(
    "", response_model=list[Banner], dependencies=[Depends(rate_limited("public_read"))]
)
async def banners(
    key: str, ctx: Ctx, lang: Annotated[str | None, Query(max_length=35)] = None
) -> list[Banner]:
    """The incidents in force, worded in `lang` (e.g. "pt-BR"): the widget shows them as a
    banner before anyone asks."""
    widget = await get_widget(ctx, key)
    return await ctx.incidents.banners(widget.org_id, pick_language(lang) if lang else None)


@visitor_router.post(
    "/follow",
    response_model=FollowOut,
    dependencies=[Depends(rate_limited("customer_write"))],
)
async def follow(
    key: str,
    body: FollowIn,
    ctx: Ctx,
    authorization: Annotated[str | None, Header(max_length=1000)] = None,
    lang: Annotated[str | None, Query(max_length=35)] = None,
) -> FollowOut:
    """ "Tell me when it is fixed": the visitor is told in the chat (and on the channels they
    use) when the incident is resolved."""
    session = await visitor_from_header(ctx, key, authorization)
    language = pick_language(lang)
    thread_id = await services.visitor_thread(ctx, session.endpoint.org_id, session.customer_id)
    following = await services.do_follow(
        ctx,
        session.endpoint.org_id,
        body.incident_id,
        session.customer_id,
        channel="chat",
        thread_id=thread_id,
        language=language,
    )
    key_ = "incident_following" if following else "incident_over"
    return FollowOut(
        incident_id=body.incident_id, following=following, message=translate(language, key_)
    )


# ---------------------------------------------------------------- the app page
app_router = APIRouter(
    prefix="/api/v1/app/{key}/incidents",
    tags=["app"],
    responses=PROBLEM_RESPONSES,
    route_class=CustomerRoute,
)


@app_router.get(
    "", response_model=list[Banner], dependencies=[Depends(rate_limited("public_read"))]
)
async def app_banners(
    key: str, ctx: Ctx, lang: Annotated[str | None, Query(max_length=35)] = None
) -> list[Banner]:
    """The incidents in force, worded in `lang`: the app page shows them above everything."""
    app = await get_app(ctx, key)
    return await ctx.incidents.banners(app.org_id, pick_language(lang) if lang else None)
