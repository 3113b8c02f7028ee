"""Organisations and the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.context import Context
from threadline.errors import Conflict, NotFound
from threadline.orgs.models import AuditEntry, Organization


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
