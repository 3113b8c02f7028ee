"""Threads: list, timeline, reply, note, read pointer, resolve, transfer."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile

from threadline.auth.dependencies import AgentUser, Ctx
from threadline.channels.outbox import agent_view
from threadline.customers.services import get_customer
from threadline.errors import PROBLEM_RESPONSES, Invalid
from threadline.routing.schemas import ContactOut, ResolveIn, TransferIn
from threadline.threads.files import thread_file
from threadline.threads.schemas import (
    MAX_SEQ,
    AttachmentRef,
    EventOut,
    MessageIn,
    NoteIn,
    ReadIn,
    ThreadOut,
)
from threadline.threads.services import (
    MAX_UPLOAD_BYTES,
    do_add_note,
    do_agent_message,
    do_mark_read,
    do_upload,
    get_thread,
    hidden_from,
    list_threads,
    timeline,
)
from threadline.web.media import file_headers

router = APIRouter(prefix="/api/v1/threads", tags=["threads"], responses=PROBLEM_RESPONSES)


CustomerId = Annotated[
    str | None,
    Query(
        max_length=36,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Only this customer's threads (a merged customer's id lists the threads "
        "of the customer it was merged into). 404 when the organisation has no such customer.",
    ),
]


@router.get("", response_model=list[ThreadOut])
async def threads(
    principal: AgentUser,
    ctx: Ctx,
    status: str | None = Query(default=None, max_length=24),
    mine: bool = False,
    limit: int = Query(default=100, ge=1, le=1000),
    customer_id: CustomerId = None,
) -> list[ThreadOut]:
    """The organisation's threads, most recently active first: all, one status's, the
    caller's (`mine`) or one customer's."""
    if customer_id is not None:  # 404 for another organisation's customer, as elsewhere
        customer, _identities = await get_customer(ctx, principal.org_id, customer_id)
        customer_id = customer.id
    rows = await list_threads(
        ctx,
        principal.org_id,
        status=status,
        agent_id=principal.agent_id if mine else None,
        limit=limit,
        customer_id=customer_id,
    )
    return [ThreadOut.model_validate(t) for t in rows]


@router.get("/{thread_id}", response_model=ThreadOut)
async def one(thread_id: str, principal: AgentUser, ctx: Ctx) -> ThreadOut:
    return ThreadOut.model_validate(await get_thread(ctx, principal.org_id, thread_id))


@router.get("/{thread_id}/events", response_model=list[EventOut])
async def events(
    thread_id: str,
    principal: AgentUser,
    ctx: Ctx,
    after_seq: int = Query(default=0, ge=0, le=MAX_SEQ),
    limit: int = Query(default=500, ge=1, le=5000),
) -> list[EventOut]:
    await get_thread(ctx, principal.org_id, thread_id)
    rows = await timeline(
        ctx, principal.org_id, thread_id=thread_id, after_seq=after_seq, limit=limit
    )
    return await agent_view(ctx, [r for r in rows if not hidden_from(principal, r.kind, r.data)])


@router.post("/{thread_id}/messages", response_model=EventOut, status_code=201)
async def reply(thread_id: str, body: MessageIn, principal: AgentUser, ctx: Ctx) -> EventOut:
    template = body.template.model_dump() if body.template else None
    files = [a.model_dump(exclude_none=True) for a in body.attachments]
    event = await do_agent_message(
        ctx, principal, thread_id, body.body, body.client_msg_id, body.channel, template, files
    )
    return EventOut.model_validate(event)


_CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


@router.post("/{thread_id}/attachments", response_model=AttachmentRef, status_code=201)
async def upload(
    thread_id: str, principal: AgentUser, ctx: Ctx, file: Annotated[UploadFile, File()]
) -> AttachmentRef:
    """Upload a file to send in a reply (multipart `file`); the answer goes in the reply's
    `attachments`."""
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    kind = (file.content_type or "application/octet-stream").split(";")[0].strip().lower()
    if not _CONTENT_TYPE.match(kind):
        raise Invalid("the file's content type is not valid")
    stored = await do_upload(ctx, principal, thread_id, data, file.filename or "", kind)
    return AttachmentRef(**stored)


# The file's bytes, whatever they are, with no JSON schema to describe them.
_FILE_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "the file's bytes"}
}


@router.get("/{thread_id}/files/{sha256}", response_class=Response, responses=_FILE_RESPONSE)
async def file(thread_id: str, sha256: str, principal: AgentUser, ctx: Ctx) -> Response:
    """A file on the thread's timeline (an attachment, a call's recording), for the staff of
    its organisation: shown inline only when it is an image, audio or video (never HTML or
    SVG), else downloaded; 404 when the thread names no such file."""
    found = await thread_file(ctx, principal, thread_id, sha256)
    headers = file_headers(found.content_type, found.filename, cache="private, max-age=86400")
    return Response(found.data, media_type=found.content_type, headers=headers)


@router.post("/{thread_id}/notes", response_model=EventOut, status_code=201)
async def note(thread_id: str, body: NoteIn, principal: AgentUser, ctx: Ctx) -> EventOut:
    return EventOut.model_validate(await do_add_note(ctx, principal, thread_id, body.body))


@router.post("/{thread_id}/read", response_model=ThreadOut)
async def read(thread_id: str, body: ReadIn, principal: AgentUser, ctx: Ctx) -> ThreadOut:
    thread = await do_mark_read(ctx, principal.org_id, thread_id, "agent", body.seq)
    return ThreadOut.model_validate(thread)


@router.post("/{thread_id}/resolve", response_model=ContactOut)
async def resolve(thread_id: str, body: ResolveIn, principal: AgentUser, ctx: Ctx) -> ContactOut:
    contact = await ctx.routing.resolve(principal, thread_id, body.reason, body.note)
    return ContactOut.model_validate(contact)


@router.post("/{thread_id}/wrapup/done", response_model=ContactOut)
async def wrapup_done(thread_id: str, principal: AgentUser, ctx: Ctx) -> ContactOut:
    """The agent finished their after-contact work on the thread's last contact: their slot
    is free for the next offer (409 when no wrap-up is open)."""
    contact = await ctx.routing.end_wrapup(principal, thread_id)
    return ContactOut.model_validate(contact)


@router.post("/{thread_id}/transfer", response_model=ContactOut)
async def transfer(thread_id: str, body: TransferIn, principal: AgentUser, ctx: Ctx) -> ContactOut:
    contact = await ctx.routing.transfer(
        principal, thread_id, queue_id=body.queue_id, agent_id=body.agent_id, note=body.note
    )
    return ContactOut.model_validate(contact)
