"""Supervision of live conversations (shared/JOURNEYS.md 6, issue 13 §3).

A supervisor lists the conversations with an open contact, opens one read-only (its timeline
then follows live through the desktop stream's `watch`), whispers to its agent (a timeline
entry of kind `whisper` that only that agent and supervisors are shown, never the customer),
joins it (they may write to the customer; the agent stays), takes it over (routing hands the
contact to them and releases the agent) or reassigns it to another agent (routing's direct
transfer). Participation is read from the timeline itself (`joined` / `left` entries). Every
action is audited, in the transaction that performs it where the writer is ours.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.agents.models import Agent
from threadline.auth.roles import Principal
from threadline.channels.outbox import agent_view
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.db import UnitOfWork
from threadline.errors import Conflict, NotFound
from threadline.events.domain import (
    ContactTakenOver,
    SupervisorJoined,
    SupervisorLeft,
    ThreadWhispered,
)
from threadline.events.handlers import Handlers
from threadline.orgs.services import audit
from threadline.routing.models import Contact, Queue
from threadline.routing.services import OPEN_CONTACT
from threadline.supervision.schemas import LiveConversation, MonitorOut, Participant
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import WHISPER, agent_event, lock_thread, timeline

JOINED, LEFT = "joined", "left"
MAX_LIVE = 1000


LiveRow = Select[Contact, datetime, str, str | None, str]


def _live_query(org_id: str) -> LiveRow:
    return (
        select(Contact, Thread.updated_at, Queue.name, Customer.name, Agent.name)
        .join(Thread, Thread.id == Contact.thread_id)
        .join(Queue, Queue.id == Contact.queue_id)
        .outerjoin(Customer, Customer.id == Contact.customer_id)
        .outerjoin(Agent, Agent.id == Contact.agent_id)
        .where(Contact.org_id == org_id, Contact.status.in_(OPEN_CONTACT))
    )


async def _participants(
    session: AsyncSession, thread_ids: list[str]
) -> dict[str, dict[str, str | None]]:
    """Per thread, the supervisors who joined and have not left since (agent id -> name)."""
    joined: dict[str, dict[str, str | None]] = {thread_id: {} for thread_id in thread_ids}
    if not thread_ids:
        return joined
    rows = await session.execute(
        select(
            ThreadEvent.thread_id, ThreadEvent.kind, ThreadEvent.author_id, ThreadEvent.author_name
        )
        .where(ThreadEvent.thread_id.in_(thread_ids), ThreadEvent.kind.in_((JOINED, LEFT)))
        .order_by(ThreadEvent.thread_id, ThreadEvent.seq)
    )
    for thread_id, kind, author_id, author_name in rows:
        if kind == JOINED and author_id:
            joined[thread_id][author_id] = author_name
        else:
            joined[thread_id].pop(author_id or "", None)
    return joined


async def _conversations(session: AsyncSession, query: LiveRow) -> list[LiveConversation]:
    rows = (await session.execute(query.order_by(Contact.enqueued_at).limit(MAX_LIVE))).all()
    who = await _participants(session, [row[0].thread_id for row in rows])
    return [
        LiveConversation(
            thread_id=contact.thread_id,
            contact_id=contact.id,
            customer_id=contact.customer_id,
            customer_name=customer_name,
            channel=contact.channel,
            status=contact.status,
            queue_id=contact.queue_id,
            queue_name=queue_name,
            agent_id=contact.agent_id,
            agent_name=agent_name,
            enqueued_at=contact.enqueued_at,
            accepted_at=contact.accepted_at,
            updated_at=updated_at,
            participants=[
                Participant(agent_id=agent_id, name=name)
                for agent_id, name in who[contact.thread_id].items()
            ],
        )
        for contact, updated_at, queue_name, customer_name, agent_name in rows
    ]


async def list_live(
    ctx: Context, org_id: str, *, queue_id: str | None = None, agent_id: str | None = None
) -> list[LiveConversation]:
    """The organisation's live conversations, longest waiting first; by queue or agent."""
    query = _live_query(org_id)
    if queue_id:
        query = query.where(Contact.queue_id == queue_id)
    if agent_id:
        query = query.where(Contact.agent_id == agent_id)
    async with ctx.db.sessions() as session:
        return await _conversations(session, query)


async def get_live(ctx: Context, org_id: str, thread_id: str) -> LiveConversation:
    async with ctx.db.sessions() as session:
        found = await _conversations(
            session, _live_query(org_id).where(Contact.thread_id == thread_id)
        )
    if not found:
        raise NotFound("no live conversation on this thread")
    return found[-1]


async def do_monitor(ctx: Context, principal: Principal, thread_id: str) -> MonitorOut:
    """Open a live conversation read-only (audited): its facts and timeline so far; the
    page follows it live by watching the thread on the desktop stream."""
    conversation = await get_live(ctx, principal.org_id, thread_id)
    events = await timeline(ctx, principal.org_id, thread_id=thread_id, limit=5000)
    async with ctx.uow() as uow:
        audit(uow.session, principal.org_id, principal.agent_id, "supervision.monitor", thread_id)
    return MonitorOut(conversation=conversation, events=await agent_view(ctx, events))


async def do_whisper(ctx: Context, principal: Principal, thread_id: str, body: str) -> ThreadEvent:
    """A note to the agent handling the thread, shown live on their desktop and to
    supervisors only: never to another agent, never to the customer on any channel."""
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, principal.org_id, thread_id)
        to = thread.assigned_agent_id
        if to is None:
            raise Conflict("no agent is handling this conversation: there is nobody to whisper to")
        if to == principal.agent_id:
            raise Conflict("you are handling this conversation yourself")
        entry = agent_event(uow, thread, principal, WHISPER, body=body, data={"to_agent_id": to})
        uow.emit(
            ThreadWhispered(
                org_id=thread.org_id,
                thread_id=thread.id,
                customer_id=thread.customer_id,
                agent_id=to,
                supervisor_id=principal.agent_id,
                supervisor_name=principal.name,
                seq=entry.seq,
                body=body,
            )
        )
        audit(
            uow.session,
            thread.org_id,
            principal.agent_id,
            "supervision.whisper",
            thread.id,
            agent_id=to,
            seq=entry.seq,
        )
    return entry


async def _live_thread(uow: UnitOfWork, principal: Principal, thread_id: str) -> Thread:
    thread = await lock_thread(uow, principal.org_id, thread_id)
    open_contact = await uow.session.scalar(
        select(Contact.id).where(Contact.thread_id == thread.id, Contact.status.in_(OPEN_CONTACT))
    )
    if open_contact is None:
        raise Conflict("this conversation is not live (no open contact)")
    return thread


async def do_join(ctx: Context, principal: Principal, thread_id: str) -> LiveConversation:
    """The supervisor joins a live conversation: they may write to the customer beside the
    agent, who stays on it. Joining twice changes nothing."""
    async with ctx.uow() as uow:
        thread = await _live_thread(uow, principal, thread_id)
        joined = (await _participants(uow.session, [thread.id]))[thread.id]
        if principal.agent_id not in joined:
            agent_event(uow, thread, principal, JOINED)
            uow.emit(SupervisorJoined(**_facts(thread, principal)))
            audit(uow.session, thread.org_id, principal.agent_id, "supervision.join", thread.id)
    return await get_live(ctx, principal.org_id, thread_id)


async def do_leave(ctx: Context, principal: Principal, thread_id: str) -> LiveConversation:
    """The supervisor leaves a conversation they joined."""
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, principal.org_id, thread_id)
        joined = (await _participants(uow.session, [thread.id]))[thread.id]
        if principal.agent_id not in joined:
            raise Conflict("you have not joined this conversation")
        agent_event(uow, thread, principal, LEFT)
        uow.emit(SupervisorLeft(**_facts(thread, principal)))
        audit(uow.session, thread.org_id, principal.agent_id, "supervision.leave", thread.id)
    return await get_live(ctx, principal.org_id, thread_id)


def _facts(thread: Thread, principal: Principal) -> dict[str, Any]:
    return {
        "org_id": thread.org_id,
        "thread_id": thread.id,
        "customer_id": thread.customer_id,
        "agent_id": thread.assigned_agent_id,
        "supervisor_id": principal.agent_id,
        "supervisor_name": principal.name,
    }


async def do_take_over(ctx: Context, principal: Principal, thread_id: str) -> LiveConversation:
    """The contact becomes the supervisor's; its agent is released and told (routing;
    audited in routing's transaction by `audit_take_over`). Not a call: its audio stays on
    the agent's leg, which only the provider's conference coaching could hand over."""
    live = await get_live(ctx, principal.org_id, thread_id)
    if live.channel == "voice":
        raise Conflict("a call cannot be taken over here: its audio stays with the agent's leg")
    await ctx.routing.take_over(principal, thread_id)
    return await get_live(ctx, principal.org_id, thread_id)


async def do_reassign(
    ctx: Context, principal: Principal, thread_id: str, agent_id: str
) -> LiveConversation:
    """Hand the contact to a given agent through routing's direct transfer (an offer to
    them: they must be available with a free slot), then audit it."""
    if agent_id == principal.agent_id:
        raise Conflict("to take the conversation yourself, take it over")
    contact = await ctx.routing.transfer(
        principal, thread_id, queue_id=None, agent_id=agent_id, note=None
    )
    async with ctx.uow() as uow:
        audit(
            uow.session,
            principal.org_id,
            principal.agent_id,
            "supervision.reassign",
            thread_id,
            contact_id=contact.id,
            agent_id=agent_id,
        )
    return await get_live(ctx, principal.org_id, thread_id)


async def audit_take_over(uow: UnitOfWork, event: ContactTakenOver) -> None:
    """In routing's transaction: the take-over is in the audit log or did not happen."""
    audit(
        uow.session,
        event.org_id,
        event.supervisor_id,
        "supervision.take_over",
        event.thread_id,
        contact_id=event.contact_id,
        agent_id=event.agent_id,
    )


def register(handlers: Handlers) -> None:
    handlers.in_transaction(ContactTakenOver, audit_take_over)
