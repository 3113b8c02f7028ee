"""The inbox API: views and counts, search, labels, canned replies, macros, snooze, reopen."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from threadline.auth.dependencies import AgentUser, Ctx, Supervisor
from threadline.errors import PROBLEM_RESPONSES
from threadline.inbox import services
from threadline.inbox.schemas import (
    CannedIn,
    CannedOut,
    CustomerHit,
    InboxCounts,
    InboxPage,
    InboxRow,
    LabelIn,
    LabelOut,
    MacroIn,
    MacroOut,
    MessageHit,
    Rendered,
    ReopenIn,
    SearchOut,
    SnoozeIn,
    View,
)
from threadline.threads.schemas import ThreadOut

router = APIRouter(prefix="/api/v1", tags=["inbox"], responses=PROBLEM_RESPONSES)

Channel = Annotated[str | None, Query(max_length=16, pattern=r"^[a-z_]{1,16}$")]
Id = Annotated[str | None, Query(max_length=36)]
Status = Annotated[str | None, Query(max_length=24, pattern=r"^[a-z_]{1,24}$")]


def _filters(
    channel: str | None, queue_id: str | None, label_id: str | None, status: str | None
) -> services.Filters:
    return services.Filters(channel=channel, queue_id=queue_id, label_id=label_id, status=status)


@router.get("/inbox", response_model=InboxPage)
async def inbox(
    principal: AgentUser,
    ctx: Ctx,
    view: View = "mine",
    channel: Channel = None,
    queue_id: Id = None,
    label_id: Id = None,
    status: Status = None,
    cursor: Annotated[str | None, Query(max_length=120)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> InboxPage:
    """One page of a view, newest activity first; `next_cursor` gives the next page."""
    rows, next_cursor = await services.list_view(
        ctx,
        principal,
        view,
        _filters(channel, queue_id, label_id, status),
        cursor=cursor,
        limit=limit,
    )
    return InboxPage(rows=[InboxRow(**r) for r in rows], next_cursor=next_cursor)


@router.get("/inbox/counts", response_model=InboxCounts)
async def inbox_counts(
    principal: AgentUser,
    ctx: Ctx,
    channel: Channel = None,
    queue_id: Id = None,
    label_id: Id = None,
    status: Status = None,
) -> InboxCounts:
    found = await services.counts(ctx, principal, _filters(channel, queue_id, label_id, status))
    return InboxCounts(**found)


@router.get("/inbox/search", response_model=SearchOut)
async def search(
    principal: AgentUser,
    ctx: Ctx,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    language: Annotated[str, Query(pattern=r"^[a-z]{2}$")] = "en",
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> SearchOut:
    """Messages and notes, and customers by name, email or phone, matching every word
    (words as prefixes, stemmed in `language`)."""
    found = await services.search(ctx, principal, q, language, limit)
    return SearchOut(
        messages=[MessageHit(**m) for m in found["messages"]],
        customers=[CustomerHit(**c) for c in found["customers"]],
    )


# ---------------------------------------------------------------- labels
@router.get("/labels", response_model=list[LabelOut])
async def labels(principal: AgentUser, ctx: Ctx) -> list[LabelOut]:
    return [LabelOut.model_validate(x) for x in await services.list_labels(ctx, principal.org_id)]


@router.post("/labels", response_model=LabelOut, status_code=201)
async def create_label(body: LabelIn, principal: Supervisor, ctx: Ctx) -> LabelOut:
    label = await services.do_create_label(ctx, principal, body.name, body.colour)
    return LabelOut.model_validate(label)


@router.put("/labels/{label_id}", response_model=LabelOut)
async def update_label(label_id: str, body: LabelIn, principal: Supervisor, ctx: Ctx) -> LabelOut:
    label = await services.do_update_label(ctx, principal, label_id, body.name, body.colour)
    return LabelOut.model_validate(label)


@router.delete("/labels/{label_id}", status_code=204)
async def delete_label(label_id: str, principal: Supervisor, ctx: Ctx) -> Response:
    await services.do_delete_label(ctx, principal, label_id)
    return Response(status_code=204)


@router.get("/threads/{thread_id}/labels", response_model=list[LabelOut])
async def thread_labels(thread_id: str, principal: AgentUser, ctx: Ctx) -> list[LabelOut]:
    found = await services.thread_labels(ctx, principal, thread_id)
    return [LabelOut(**x) for x in found]


@router.put("/threads/{thread_id}/labels/{label_id}", response_model=list[LabelOut])
async def add_label(
    thread_id: str, label_id: str, principal: AgentUser, ctx: Ctx
) -> list[LabelOut]:
    found = await services.do_label(ctx, principal, thread_id, label_id, add=True)
    return [LabelOut(**x) for x in found]


@router.delete("/threads/{thread_id}/labels/{label_id}", response_model=list[LabelOut])
async def remove_label(
    thread_id: str, label_id: str, principal: AgentUser, ctx: Ctx
) -> list[LabelOut]:
    found = await services.do_label(ctx, principal, thread_id, label_id, add=False)
    return [LabelOut(**x) for x in found]


# ---------------------------------------------------------------- canned replies
@router.get("/canned-replies", response_model=list[CannedOut])
async def canned(principal: AgentUser, ctx: Ctx) -> list[CannedOut]:
    return [CannedOut.model_validate(c) for c in await services.list_canned(ctx, principal)]


@router.post("/canned-replies", response_model=CannedOut, status_code=201)
async def create_canned(body: CannedIn, principal: AgentUser, ctx: Ctx) -> CannedOut:
    """The organisation's (supervisors) or, with `personal`, the agent's own."""
    saved = await services.do_save_canned(ctx, principal, None, **body.model_dump())
    return CannedOut.model_validate(saved)


@router.put("/canned-replies/{canned_id}", response_model=CannedOut)
async def update_canned(
    canned_id: str, body: CannedIn, principal: AgentUser, ctx: Ctx
) -> CannedOut:
    saved = await services.do_save_canned(ctx, principal, canned_id, **body.model_dump())
    return CannedOut.model_validate(saved)


@router.delete("/canned-replies/{canned_id}", status_code=204)
async def delete_canned(canned_id: str, principal: AgentUser, ctx: Ctx) -> Response:
    await services.do_delete_canned(ctx, principal, canned_id)
    return Response(status_code=204)


@router.post("/threads/{thread_id}/canned-replies/{canned_id}/render", response_model=Rendered)
async def render(thread_id: str, canned_id: str, principal: AgentUser, ctx: Ctx) -> Rendered:
    """The canned reply's text with its variables filled for this thread's customer."""
    return Rendered(text=await services.render_canned(ctx, principal, thread_id, canned_id))


# ---------------------------------------------------------------- macros
@router.get("/macros", response_model=list[MacroOut])
async def macros(principal: AgentUser, ctx: Ctx) -> list[MacroOut]:
    return [MacroOut.model_validate(m) for m in await services.list_macros(ctx, principal.org_id)]


@router.post("/macros", response_model=MacroOut, status_code=201)
async def create_macro(body: MacroIn, principal: Supervisor, ctx: Ctx) -> MacroOut:
    saved = await services.do_save_macro(ctx, principal, None, body.model_dump())
    return MacroOut.model_validate(saved)


@router.put("/macros/{macro_id}", response_model=MacroOut)
async def update_macro(macro_id: str, body: MacroIn, principal: Supervisor, ctx: Ctx) -> MacroOut:
    saved = await services.do_save_macro(ctx, principal, macro_id, body.model_dump())
    return MacroOut.model_validate(saved)


@router.delete("/macros/{macro_id}", status_code=204)
async def delete_macro(macro_id: str, principal: Supervisor, ctx: Ctx) -> Response:
    await services.do_delete_macro(ctx, principal, macro_id)
    return Response(status_code=204)


@router.post("/threads/{thread_id}/macros/{macro_id}/run", response_model=ThreadOut)
async def run_macro(
    thread_id: str,
    macro_id: str,
    principal: AgentUser,
    ctx: Ctx,
    client_msg_id: Annotated[str | None, Query(max_length=64)] = None,
) -> ThreadOut:
    """Its reply, its labels, then resolve or snooze, in that order."""
    thread = await services.do_run_macro(ctx, principal, thread_id, macro_id, client_msg_id)
    return ThreadOut.model_validate(thread)


# ---------------------------------------------------------------- snooze, reopen
@router.post("/threads/{thread_id}/snooze", response_model=ThreadOut)
async def snooze(thread_id: str, body: SnoozeIn, principal: AgentUser, ctx: Ctx) -> ThreadOut:
    until = await services.resolve_snooze(
        ctx, principal, preset=body.preset, until=body.until, local=body.local
    )
    return ThreadOut.model_validate(await services.do_snooze(ctx, principal, thread_id, until))


@router.delete("/threads/{thread_id}/snooze", response_model=ThreadOut)
async def unsnooze(thread_id: str, principal: AgentUser, ctx: Ctx) -> ThreadOut:
    return ThreadOut.model_validate(await services.do_unsnooze(ctx, principal, thread_id))


@router.post("/threads/{thread_id}/reopen", response_model=ThreadOut)
async def reopen(thread_id: str, body: ReopenIn, principal: AgentUser, ctx: Ctx) -> ThreadOut:
    """A resolved conversation back to work: a new contact in its last queue."""
    thread = await services.do_reopen(ctx, principal, thread_id, body.queue_id)
    return ThreadOut.model_validate(thread)
