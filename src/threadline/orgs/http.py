"""The audit log over HTTP (admins): `GET /api/v1/audit` reads who did what to which
target, and when, filtered and paged; `GET /api/v1/audit/actions` lists the actions the log
holds (the page's filter).

Newest first, paged by id (`before_id`: the next page starts below the last id shown), so
a page stays the same while new entries are written. The actor's name comes with each entry
(an agent deleted since is shown by id)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from threadline.agents.models import Agent
from threadline.auth.dependencies import Admin, Ctx
from threadline.context import Context
from threadline.errors import PROBLEM_RESPONSES, Invalid
from threadline.orgs.models import AuditEntry, Organization
from threadline.orgs.schemas import OrgSettingsOut, OrgSettingsPatch
from threadline.orgs.services import do_update_org_settings, get_org

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=PROBLEM_RESPONSES)
settings_router = APIRouter(
    prefix="/api/v1/org", tags=["organisation"], responses=PROBLEM_RESPONSES
)

MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action: str | None = None  # exact, or a family with a trailing "." ("customer.")
    actor_id: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    actor_id: str | None
    actor_name: str | None
    action: str
    target: str
    data: dict[str, Any]


async def read_audit(
    ctx: Context, org_id: str, where: AuditFilter
) -> tuple[list[AuditRow], int | None]:
    """One page of entries and the `before_id` of the next page (None: no more)."""
    query = (
        select(AuditEntry, Agent.name)
        .outerjoin(Agent, Agent.id == AuditEntry.actor_agent_id)
        .where(AuditEntry.org_id == org_id)
    )
    if where.action:
        if where.action.endswith("."):
            query = query.where(AuditEntry.action.startswith(where.action, autoescape=True))
        else:
            query = query.where(AuditEntry.action == where.action)
    if where.actor_id:
        query = query.where(AuditEntry.actor_agent_id == where.actor_id)
    if where.target:
        query = query.where(AuditEntry.target == where.target)
    if where.since is not None:
        query = query.where(AuditEntry.created_at >= where.since)
    if where.until is not None:
        query = query.where(AuditEntry.created_at < where.until)
    if where.before_id is not None:
        query = query.where(AuditEntry.id < where.before_id)
    limit = max(1, min(where.limit, MAX_PAGE))
    async with ctx.db.sessions() as session:
        found = (await session.execute(query.order_by(AuditEntry.id.desc()).limit(limit + 1))).all()
    rows = [
        AuditRow(
            id=entry.id,
            at=entry.created_at,
            actor_id=entry.actor_agent_id,
            actor_name=name,
            action=entry.action,
            target=entry.target,
            data=dict(entry.data or {}),
        )
        for entry, name in found[:limit]
    ]
    more = len(found) > limit
    return rows, (rows[-1].id if more and rows else None)


async def audit_actions(ctx: Context, org_id: str) -> list[str]:
    """The actions the organisation's log holds, for the page's filter."""
    async with ctx.db.sessions() as session:
        found = await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.org_id == org_id)
            .distinct()
            .order_by(AuditEntry.action)
        )
        return list(found)


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_id: str | None
    actor_name: str | None
    action: str
    target: str
    data: dict[str, Any]


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_before_id: int | None  # pass as before_id for the next (older) page


class ActionsOut(BaseModel):
    actions: list[str]


@router.get("", response_model=AuditPage)
async def audit_log(
    principal: Admin,
    ctx: Ctx,
    action: Annotated[
        str | None, Query(max_length=64, description='exact, or a family: "customer."')
    ] = None,
    actor_id: Annotated[str | None, Query(max_length=36)] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="ISO 8601 with its offset")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=40, description="ISO 8601 with its offset")
    ] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> AuditPage:
    start, end = _moment(since, "since"), _moment(until, "until")
    if start is not None and end is not None and end <= start:
        raise Invalid("until must be after since")
    where = AuditFilter(action, actor_id, target, start, end, before_id, limit)
    rows, next_id = await read_audit(ctx, principal.org_id, where)
    return AuditPage(
        entries=[_out(row) for row in rows],
        next_before_id=next_id,
    )


@router.get("/actions", response_model=ActionsOut)
async def actions(principal: Admin, ctx: Ctx) -> ActionsOut:
    return ActionsOut(actions=await audit_actions(ctx, principal.org_id))


def _moment(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 moment with its offset ("2026-12-06T10:00:00+00:00"), or a 422 saying why
    (a number is not taken for a Unix time)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{name} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise Invalid(f"{name} needs its offset, e.g. +00:00")
    return moment


def _out(row: AuditRow) -> AuditEntryOut:
    return AuditEntryOut(
        id=row.id,
        at=row.at,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        action=row.action,
        target=row.target,
        data=row.data,
    )


def _settings_out(org: Organization) -> OrgSettingsOut:
    return OrgSettingsOut(
        name=org.name,
        slug=org.slug,
        timezone=org.timezone,
        phone_region=org.phone_region,
        languages=list(org.languages or ["en"]),
        retention_days=org.retention_days,
    )


@settings_router.get("/settings", response_model=OrgSettingsOut)
async def org_settings(principal: Admin, ctx: Ctx) -> OrgSettingsOut:
    """The organisation's settings (the retention policy is changed at /org/retention)."""
    return _settings_out(await get_org(ctx, principal.org_id))


@settings_router.patch("/settings", response_model=OrgSettingsOut)
async def update_org_settings(body: OrgSettingsPatch, principal: Admin, ctx: Ctx) -> OrgSettingsOut:
    """Change the name, time zone, phone region (national-format numbers are read in it)
    or languages; fields left out stay."""
    org = await do_update_org_settings(ctx, principal.org_id, body, principal.agent_id)
    return _settings_out(org)
