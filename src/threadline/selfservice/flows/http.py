"""The flows API: admins create flows, save versions (422 with a reason per step when one
cannot run), publish one, and try a flow in the preview; agents read flows, versions and
diffs. The built-in flows are listed and read like the others, never written."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from threadline.auth.dependencies import Admin, AgentUser, Ctx
from threadline.errors import PROBLEM_RESPONSES, Invalid
from threadline.selfservice.flows import services
from threadline.selfservice.flows.api_schemas import (
    DefinitionIn,
    DiffOut,
    FlowDetail,
    FlowIn,
    FlowSummary,
    PreviewIn,
    PreviewOut,
    PublishIn,
    VersionOut,
)
from threadline.selfservice.flows.models import FlowVersion, StoredFlow
from threadline.selfservice.flows.preview import run_preview
from threadline.selfservice.flows.schemas import Flow, load_flow

router = APIRouter(prefix="/api/v1/flows", tags=["self-service"], responses=PROBLEM_RESPONSES)
FlowId = Annotated[str, Path(description="the flow's id")]  # any other: 404


@router.get("", response_model=list[FlowSummary])
async def list_flows(principal: AgentUser, ctx: Ctx) -> list[FlowSummary]:
    """The built-in flows (read-only) and the organisation's own."""
    builtins, rows = await services.list_flows(ctx, principal.org_id)
    return [_builtin_summary(f) for f in builtins] + [_summary(r) for r in rows]


@router.post("", response_model=FlowDetail, status_code=201)
async def create_flow(body: FlowIn, principal: Admin, ctx: Ctx) -> FlowDetail:
    """A new flow from a definition (its first version, not yet published)."""
    flow_id = body.id or str(body.definition.get("id") or "")
    if not flow_id:
        raise Invalid("id: give the new flow's id", field="id")
    found = await services.do_create_flow(
        ctx, principal.org_id, principal.agent_id, flow_id, body.definition
    )
    return _detail(found)


@router.post("/preview", response_model=PreviewOut)
async def preview(body: PreviewIn, principal: Admin, ctx: Ctx) -> PreviewOut:
    """One turn of a trial conversation on a saved flow or an unsaved definition."""
    flow = await _flow_to_try(ctx, principal.org_id, body)
    return await run_preview(ctx, principal.org_id, flow, body)


@router.get("/{flow_id}", response_model=FlowDetail)
async def get_flow(
    flow_id: FlowId,
    principal: AgentUser,
    ctx: Ctx,
    version: Annotated[int | None, Query(ge=1, description="default: the latest")] = None,
) -> FlowDetail:
    """A flow, its versions, and one version's definition."""
    return _detail(await services.get_flow(ctx, principal.org_id, flow_id, version))


@router.post("/{flow_id}/versions", response_model=VersionOut, status_code=201)
async def save_version(
    flow_id: FlowId, body: DefinitionIn, principal: Admin, ctx: Ctx
) -> VersionOut:
    """Save the definition as the flow's next version (publishing is a separate step)."""
    version = await services.do_save_version(
        ctx, principal.org_id, principal.agent_id, flow_id, body.definition
    )
    return _version(version, None)


@router.post("/{flow_id}/publish", response_model=FlowSummary)
async def publish(flow_id: FlowId, body: PublishIn, principal: Admin, ctx: Ctx) -> FlowSummary:
    """New conversations on endpoints naming this flow run this version."""
    row = await services.do_publish(
        ctx, principal.org_id, principal.agent_id, flow_id, body.version
    )
    return _summary(row)


@router.get("/{flow_id}/diff", response_model=DiffOut)
async def diff(
    flow_id: FlowId,
    principal: AgentUser,
    ctx: Ctx,
    old: Annotated[int | None, Query(alias="from", ge=1, description="default: to - 1")] = None,
    new: Annotated[int | None, Query(alias="to", ge=1, description="default: the latest")] = None,
) -> DiffOut:
    """What changed from one version to another (unified diff of the pretty JSON)."""
    before, after, text = await services.diff(ctx, principal.org_id, flow_id, old, new)
    return DiffOut(from_version=before, to_version=after, diff=text)


async def _flow_to_try(ctx: Ctx, org_id: str, body: PreviewIn) -> Flow:
    if body.definition is not None:  # its backend URLs are checked when called
        fallback = {"id": body.flow_id or "preview", "version": 1}
        return services.validated({**fallback, **body.definition})
    if not body.flow_id:
        raise Invalid("give a flow_id or a definition to try", field="flow_id")
    return await services.definition_of(ctx, org_id, body.flow_id, body.version)


def _builtin_summary(flow: Flow) -> FlowSummary:
    return FlowSummary(
        id=flow.id, name=flow.name, builtin=True, latest=flow.version, published=flow.version
    )


def _summary(row: StoredFlow) -> FlowSummary:
    return FlowSummary(
        id=row.flow_id,
        name=row.name,
        builtin=False,
        latest=row.latest,
        published=row.published,
        published_at=row.published_at,
        updated_at=row.updated_at,
    )


def _version(version: FlowVersion, published: int | None) -> VersionOut:
    return VersionOut(
        number=version.number,
        created_by=version.created_by,
        created_at=version.created_at,
        published=version.number == published,
    )


def _detail(found: services.FlowRead) -> FlowDetail:
    row = found.row
    if row is None:
        base = _builtin_summary(load_flow(found.definition))
        versions = [
            VersionOut(number=found.version, created_by=None, created_at=None, published=True)
        ]
    else:
        base = _summary(row)
        versions = [_version(v, row.published) for v in found.versions]
    return FlowDetail(
        **base.model_dump(), versions=versions, version=found.version, definition=found.definition
    )
