"""Flows edited by admins: the writes (`do_*`, one transaction each) and reads.

Every function takes the organisation first; another organisation's flow is "not found".
A definition is saved only when it can run (`load_flow`) and its backend calls go where
they may (bot/backend.py `refusal`); otherwise Invalid (422) with one reason per problem,
grouped by step (`details.steps`) so the editor shows each beside its step. The built-in
flows are listed and read like the others, never written: copy one under a new id.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.context import Context
from threadline.db import UnitOfWork, utcnow
from threadline.errors import Conflict, Invalid, NotFound
from threadline.events.domain import FlowPublished
from threadline.orgs.services import audit
from threadline.selfservice.bot.backend import refusal
from threadline.selfservice.bot.flows import builtin_flows
from threadline.selfservice.flows.models import FlowVersion, StoredFlow
from threadline.selfservice.flows.schemas import Call, Flow, FlowInvalid, load_flow

STEP_OF = re.compile(r"^step '([^']+)'")
MAX_DEFINITION = 1_000_000  # characters of JSON
MAX_ID = 64


@dataclass(frozen=True)
class FlowRead:
    """A flow as the API shows it: its row (None for a built-in), versions, one definition."""

    flow_id: str
    name: str
    builtin: bool
    row: StoredFlow | None
    versions: list[FlowVersion]
    version: int
    definition: dict[str, Any]


# ---------------------------------------------------------------- reads
async def list_flows(ctx: Context, org_id: str) -> tuple[list[Flow], list[StoredFlow]]:
    """The built-in flows and the organisation's own, by id."""
    async with ctx.db.sessions() as session:
        rows = list(
            await session.scalars(
                select(StoredFlow).where(StoredFlow.org_id == org_id).order_by(StoredFlow.flow_id)
            )
        )
    builtins = {flow.id: flow for flow in builtin_flows().values()}
    return sorted(builtins.values(), key=lambda f: f.id), rows


async def get_flow(ctx: Context, org_id: str, flow_id: str, version: int | None) -> FlowRead:
    """A flow with its versions and the definition of `version` (default: the latest)."""
    builtin = _builtin(flow_id)
    if builtin is not None:
        if version not in (None, builtin.version):
            raise NotFound(f"the built-in flow {flow_id!r} has only version {builtin.version}")
        return FlowRead(builtin.id, builtin.name, True, None, [], builtin.version, _plain(builtin))
    async with ctx.db.sessions() as session:
        row = await _row(session, org_id, flow_id)
        versions = await _versions(session, row)
    number = version or row.latest
    chosen = next((v for v in versions if v.number == number), None)
    if chosen is None:
        raise NotFound(f"flow {flow_id!r} has no version {number}")
    return FlowRead(row.flow_id, row.name, False, row, versions, number, chosen.definition)


async def definition_of(ctx: Context, org_id: str, flow_id: str, version: int | None) -> Flow:
    """A saved flow, ready to run (the latest version unless `version`)."""
    found = await get_flow(ctx, org_id, flow_id, version)
    return load_flow(found.definition)


async def diff(
    ctx: Context, org_id: str, flow_id: str, old: int | None, new: int | None
) -> tuple[int, int, str]:
    """The versions compared (`new` by default the latest, `old` the one before it) and the
    unified diff of their pretty JSON ('' when they are the same)."""
    after = await get_flow(ctx, org_id, flow_id, new)
    old = old if old is not None else max(after.version - 1, 1)
    before = await get_flow(ctx, org_id, flow_id, old)
    lines = difflib.unified_diff(
        _pretty(before.definition).splitlines(keepends=True),
        _pretty(after.definition).splitlines(keepends=True),
        fromfile=f"{flow_id} v{before.version}",
        tofile=f"{flow_id} v{after.version}",
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return before.version, after.version, text


# ---------------------------------------------------------------- writes
async def do_create_flow(
    ctx: Context, org_id: str, actor: str | None, flow_id: str, definition: dict[str, Any]
) -> FlowRead:
    """A new flow with its first version (not published yet)."""
    if _builtin(flow_id) is not None:
        raise Conflict(f"{flow_id!r} is a built-in flow: copy it under another id")
    flow = await checked(ctx, {**definition, "id": flow_id, "version": 1})
    async with ctx.uow() as uow:
        taken = await uow.session.scalar(
            select(StoredFlow.id).where(StoredFlow.org_id == org_id, StoredFlow.flow_id == flow_id)
        )
        if taken is not None:
            raise Conflict(f"there is already a flow {flow_id!r}", field="id")
        row = StoredFlow(org_id=org_id, flow_id=flow_id, name=flow.name, created_by=actor)
        uow.session.add(row)
        await uow.session.flush()
        version = _add_version(uow, row, flow, actor)
        audit(uow.session, org_id, actor, "flow.create", row.id, flow_id=flow_id)
    return FlowRead(flow_id, row.name, False, row, [version], 1, version.definition)


async def do_save_version(
    ctx: Context, org_id: str, actor: str | None, flow_id: str, definition: dict[str, Any]
) -> FlowVersion:
    """A new version of the flow (the published one stays until another is published)."""
    if _builtin(flow_id) is not None:
        raise Conflict(f"{flow_id!r} is a built-in flow: copy it under another id")
    async with ctx.db.sessions() as session:
        await _row(session, org_id, flow_id)  # an unknown flow is that, whatever the body
    flow = await checked(ctx, {**definition, "id": flow_id, "version": 1})  # no lock held
    async with ctx.uow() as uow:
        row = await _locked(uow, org_id, flow_id)
        flow = flow.model_copy(update={"version": row.latest + 1})
        version = _add_version(uow, row, flow, actor)
        audit(uow.session, org_id, actor, "flow.save", row.id, version=version.number)
    return version


async def do_publish(
    ctx: Context, org_id: str, actor: str | None, flow_id: str, number: int
) -> StoredFlow:
    """New conversations run this version from the commit (on every node: FlowPublished)."""
    if _builtin(flow_id) is not None:
        raise Conflict(f"{flow_id!r} is a built-in flow: it is always available")
    async with ctx.uow() as uow:
        row = await _locked(uow, org_id, flow_id)
        exists = await uow.session.scalar(
            select(FlowVersion.id).where(
                FlowVersion.flow_ref == row.id, FlowVersion.number == number
            )
        )
        if exists is None:
            raise NotFound(f"flow {flow_id!r} has no version {number}")
        row.published, row.published_by = number, actor
        row.published_at = row.updated_at = utcnow()
        audit(uow.session, org_id, actor, "flow.publish", row.id, version=number)
        uow.emit(FlowPublished(org_id=org_id, flow_id=flow_id, version=number, agent_id=actor))
    return row


async def checked(ctx: Context, definition: dict[str, Any]) -> Flow:
    """The definition as a flow that can run and calls only allowed backends; Invalid (422)
    with every problem, and the problems by step (`steps`)."""
    flow = validated(definition)
    allow = ctx.settings.bot_backend_allow_private
    found = []
    for step in flow.steps:
        if isinstance(step, Call) and (reason := await refusal(step.url, allow)) is not None:
            found.append(f"step {step.id!r}: url is not allowed: {reason}")
    if found:
        raise invalid(found)
    return flow


def validated(definition: dict[str, Any]) -> Flow:
    """The definition as a flow that can run; Invalid (422) with every problem otherwise."""
    if len(json.dumps(definition)) > MAX_DEFINITION:
        raise Invalid(f"a flow is at most {MAX_DEFINITION} characters of JSON")
    try:
        return load_flow(definition)
    except FlowInvalid as exc:
        raise invalid(exc.problems) from None


def invalid(problems: list[str]) -> Invalid:
    steps: dict[str, list[str]] = {}
    for problem in problems:
        match = STEP_OF.match(problem)
        if match:
            steps.setdefault(match.group(1), []).append(problem[match.end() :].lstrip(": "))
    first = problems[0] if problems else "the flow cannot run"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return Invalid(f"the flow cannot run: {first}{more}", problems=problems, steps=steps)


# ---------------------------------------------------------------- parts
def _builtin(flow_id: str) -> Flow | None:
    return builtin_flows().get(flow_id)


def _plain(flow: Flow) -> dict[str, Any]:
    return flow.model_dump(mode="json", exclude_defaults=False)


def _pretty(definition: dict[str, Any]) -> str:
    return json.dumps(definition, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _add_version(uow: UnitOfWork, row: StoredFlow, flow: Flow, actor: str | None) -> FlowVersion:
    version = FlowVersion(
        org_id=row.org_id,
        flow_ref=row.id,
        number=flow.version,
        definition=_plain(flow),
        created_by=actor,
        created_at=utcnow(),
    )
    uow.session.add(version)
    row.latest, row.name, row.updated_at = flow.version, flow.name, version.created_at
    return version


async def _row(session: AsyncSession, org_id: str, flow_id: str) -> StoredFlow:
    if len(flow_id) > MAX_ID:  # no flow has such an id (nor could the column hold it)
        raise NotFound(f"no flow {flow_id[:64]!r}")
    row = await session.scalar(
        select(StoredFlow).where(StoredFlow.org_id == org_id, StoredFlow.flow_id == flow_id)
    )
    if row is None:
        raise NotFound(f"no flow {flow_id[:64]!r}")
    return row


async def _locked(uow: UnitOfWork, org_id: str, flow_id: str) -> StoredFlow:
    if len(flow_id) > MAX_ID:
        raise NotFound(f"no flow {flow_id[:64]!r}")
    query = select(StoredFlow).where(StoredFlow.org_id == org_id, StoredFlow.flow_id == flow_id)
    if uow.row_locks:
        query = query.with_for_update()
    row = await uow.session.scalar(query.execution_options(populate_existing=True))
    if row is None:
        raise NotFound(f"no flow {flow_id[:64]!r}")
    return row


async def _versions(session: AsyncSession, row: StoredFlow) -> list[FlowVersion]:
    query = select(FlowVersion).where(FlowVersion.flow_ref == row.id)
    return list(await session.scalars(query.order_by(FlowVersion.number.desc())))
