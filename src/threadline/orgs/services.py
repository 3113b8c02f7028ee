"""Organisations and the audit log."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.context import Context
from threadline.errors import Conflict, Invalid, NotFound
from threadline.orgs.models import AuditEntry, Organization
from threadline.orgs.schemas import OrgSettingsPatch


async def do_create_org(ctx: Context, slug: str, name: str, timezone: str = "UTC") -> Organization:
    async with ctx.uow() as uow:
        if await uow.session.scalar(select(Organization).where(Organization.slug == slug)):
            raise Conflict(f"organisation {slug!r} already exists")
        org = Organization(slug=slug, name=name, timezone=timezone)
        uow.session.add(org)
    return org


async def get_org_by_slug(ctx: Context, slug: str) -> Organization:
    async with ctx.db.sessions() as session:
        org = await session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise NotFound(f"no organisation {slug!r}")
    return org


def audit(
    session: AsyncSession, org_id: str, actor: str | None, action: str, target: str, **data: Any
) -> None:
    """Record an admin action; call inside the transaction that performs it."""
    session.add(
        AuditEntry(org_id=org_id, actor_agent_id=actor, action=action, target=target, data=data)
    )


async def get_org(ctx: Context, org_id: str) -> Organization:
    async with ctx.db.sessions() as session:
        org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("no such organisation")
    return org


async def phone_region(session: AsyncSession, org_id: str) -> str | None:
    """The region an organisation's national-format phone numbers are read in ("PT")."""
    region: str | None = await session.scalar(
        select(Organization.phone_region).where(Organization.id == org_id)
    )
    return region


def _checked(changes: dict[str, Any]) -> dict[str, Any]:
    """The settings as stored, or Invalid naming the field that is wrong."""
    if "name" in changes:
        changes["name"] = str(changes["name"]).strip()
        if not changes["name"]:
            raise Invalid("name: the organisation needs a name", field="name")
    if "timezone" in changes:
        try:
            ZoneInfo(changes["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid(
                f"timezone: {changes['timezone']!r} is not an IANA time zone", field="timezone"
            ) from None
    if changes.get("phone_region") is not None:
        region = str(changes["phone_region"]).strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise Invalid(
                f"phone_region: {region!r} is not a region with phone numbers",
                field="phone_region",
            )
        changes["phone_region"] = region
    if "languages" in changes:
        changes["languages"] = list(dict.fromkeys(changes["languages"]))  # no repeats
    return changes


async def do_update_org_settings(
    ctx: Context, org_id: str, data: OrgSettingsPatch, actor: str
) -> Organization:
    """Change an organisation's name, time zone, phone region or languages (audited with
    what was before and after)."""
    changes = _checked(data.model_dump(exclude_unset=True))
    async with ctx.uow() as uow:
        org = await uow.lock(Organization, org_id)
        if org is None:
            raise NotFound("no such organisation")
        before = {name: getattr(org, name) for name in changes}
        for name, value in changes.items():
            setattr(org, name, value)
        audit(uow.session, org_id, actor, "org.settings", org_id, before=before, after=changes)
    return org
