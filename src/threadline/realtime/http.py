"""The desktop event stream: one WebSocket per agent desktop or supervisor page.

Server -> client frames are bus events as they are (`offer.created`, `offer.closed`,
`timeline`, `typing`, `receipt`, `agent.joined`, `agent.presence`, `queue.changed`,
`delivery`, `delivery.failed`, `thread.whispered`, `thread.joined`, `thread.left`,
`contact.taken_over`, `thread.changed`), limited to what this agent may see: their own offers,
whispers and take-overs, the threads they watch or are assigned, every queue and presence change
and every thread's inbox row moving in their organisation, and, for supervisors, every failed
delivery and contact reasons' spikes. A whisper (and its timeline entry) reaches only the agent it
is for and supervisors, whoever else watches the thread.
Authentication: the session cookie (pages of this origin), else an API token in the first
frame, {"type": "auth", "token"} (see auth/sockets.py); a refusal closes with 4401, and
so does the end of the session the socket was opened with (logout, deactivation, a new
password: the `session.ended` event).
Client -> server: {"type": "watch" | "unwatch", "thread_id"}, {"type": "typing",
"thread_id", "on"}.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from threadline.auth.dependencies import SESSION_COOKIE, websocket_principal
from threadline.auth.roles import Principal
from threadline.auth.services import session_id_of
from threadline.auth.sockets import refuse
from threadline.context import Context
from threadline.errors import ThreadlineError
from threadline.events.bus import Key, Subscription, agent_key, org_key, thread_key
from threadline.events.domain import (
    EVENT_TYPES,
    AgentWrapupEnded,
    AgentWrapupStarted,
    ContactAccepted,
    ContactOffered,
    ContactTakenOver,
    DeliveryFailed,
    DeliveryUpdated,
    DomainEvent,
    OfferClosed,
    PresenceChanged,
    QueueChanged,
    ReasonSpiked,
    ReceiptMoved,
    SessionEnded,
    SupervisorJoined,
    SupervisorLeft,
    ThreadChanged,
    ThreadWhispered,
    TimelineEntryAdded,
    Typing,
)
from threadline.realtime.frames import receive_frame, send_error
from threadline.realtime.outbox import Outbox
from threadline.threads.services import get_thread, hidden_from

router = APIRouter()
# what the desktop draws (other facts reach it as timeline entries)
SHOWN = (
    TimelineEntryAdded,
    ContactOffered,
    OfferClosed,
    ContactAccepted,
    Typing,
    ReceiptMoved,
    PresenceChanged,
    QueueChanged,
    ReasonSpiked,
    DeliveryUpdated,
    DeliveryFailed,
    SessionEnded,
    ThreadWhispered,
    ContactTakenOver,
    SupervisorJoined,
    SupervisorLeft,
    ThreadChanged,
    AgentWrapupStarted,
    AgentWrapupEnded,
)
ORG_WIDE = (QueueChanged, PresenceChanged, ThreadChanged)
# for supervisors: failed deliveries, and contact reasons' spikes (the dashboard flags them)
SUPERVISOR_WIDE = (DeliveryFailed, ReasonSpiked)
AGENT_ONLY = (
    ContactOffered,
    OfferClosed,
    SessionEnded,
    AgentWrapupStarted,
    AgentWrapupEnded,
)  # never a watcher's business


def _types(classes: tuple[type[DomainEvent], ...]) -> tuple[str, ...]:
    """The wire names of these classes and of their subclasses (what isinstance accepts)."""
    return tuple(sorted(name for name, cls in EVENT_TYPES.items() if issubclass(cls, classes)))


def desktop_keys(principal: Principal, watched: set[str]) -> set[Key]:
    """Where a desktop is filed on the bus: every event `visible` may accept is filed under
    one of these (its agent's own events, the org-wide kinds, a supervisor's org-wide
    kinds, each watched thread), so the bus offers it nothing else."""
    org_id = principal.org_id
    keys: set[Key] = {agent_key(org_id, principal.agent_id)}
    keys.update(org_key(org_id, name) for name in _types(ORG_WIDE))
    if principal.has("supervisor"):
        keys.update(org_key(org_id, name) for name in _types(SUPERVISOR_WIDE))
    keys.update(thread_key(org_id, thread_id) for thread_id in watched)
    return keys


def visible(principal: Principal, watched: set[str], event: DomainEvent) -> bool:
    """Whether this desktop's agent may see the event (their organisation, their own work,
    what is org-wide, or a thread they watch)."""
    if event.org_id != principal.org_id or not isinstance(event, SHOWN):
        return False
    if _whisper_kept_from(principal, event):
        return False
    typing = isinstance(event, Typing)
    if getattr(event, "agent_id", None) == principal.agent_id and not typing:
        return True
    if isinstance(event, AGENT_ONLY):
        return False
    if isinstance(event, ORG_WIDE):
        return True
    if isinstance(event, SUPERVISOR_WIDE) and principal.has("supervisor"):
        return True
    if isinstance(event, Typing) and event.who != "customer":
        return False
    return getattr(event, "thread_id", None) in watched


def _whisper_kept_from(principal: Principal, event: DomainEvent) -> bool:
    """A whisper reaches the agent it is for and supervisors, never another watcher."""
    if isinstance(event, ThreadWhispered):
        return event.agent_id != principal.agent_id and not principal.has("supervisor")
    if isinstance(event, TimelineEntryAdded):
        entry = event.event
        return hidden_from(principal, str(entry.get("kind")), entry.get("data"))
    return False


@router.websocket("/api/v1/stream")
async def stream(websocket: WebSocket) -> None:
    ctx: Context = websocket.app.state.ctx
    # Accept first: a close before the handshake becomes an HTTP 403, and the clients could
    # not tell "log in again" (4401) from any other failure. Cookie or first-frame token.
    await websocket.accept()
    try:
        principal = await websocket_principal(websocket)
    except ThreadlineError as exc:
        await refuse(websocket, exc.message)
        return
    except WebSocketDisconnect:
        return
    cookie = websocket.cookies.get(SESSION_COOKIE)
    session_id = session_id_of(ctx, cookie) if cookie else None
    watched: set[str] = set()
    outbox = Outbox(websocket, lambda event: _ends(event, session_id))
    subscription = ctx.bus.subscribe(
        lambda e: visible(principal, watched, e),
        desktop_keys(principal, watched),
        sink=outbox.deliver,
    )
    ctx.desktops.opened(principal.agent_id)
    try:
        await websocket.send_json(
            {"type": "hello", "agent_id": principal.agent_id, "role": principal.role}
        )
        outbox.release()
        while True:
            frame = await receive_frame(websocket)
            if frame is None:
                continue
            try:
                await _handle(ctx, principal, watched, subscription, frame)
            except ThreadlineError as exc:
                await send_error(websocket, exc.code, exc.message)
    except WebSocketDisconnect:
        pass
    finally:
        ctx.desktops.closed(principal.agent_id)
        ctx.bus.unsubscribe(subscription)
        await outbox.close()


def _ends(event: SessionEnded, session_id: str | None) -> bool:
    """Whether a `session.ended` event (already this agent's) ends this socket: one opened
    with an ended session, or by an API token of an agent who may no longer work."""
    if session_id is None:
        return event.tokens_too
    return session_id in event.session_ids


async def _handle(
    ctx: Context, principal: Principal, watched: set[str], subscription: Subscription, frame: Any
) -> None:
    if not isinstance(frame, dict):
        return
    thread_id = frame.get("thread_id")
    if not isinstance(thread_id, str) or len(thread_id) > 64:
        return
    if frame.get("type") == "watch":
        watched.add(thread_id)
        subscription.add_key(thread_key(principal.org_id, thread_id))
    elif frame.get("type") == "unwatch":
        watched.discard(thread_id)
        subscription.discard_key(thread_key(principal.org_id, thread_id))
    elif frame.get("type") == "typing":
        thread = await get_thread(ctx, principal.org_id, thread_id)
        await ctx.bus.publish(
            [
                Typing(
                    org_id=principal.org_id,
                    who="agent",
                    thread_id=thread_id,
                    customer_id=thread.customer_id,
                    agent_id=principal.agent_id,
                    agent_name=principal.name,
                    on=bool(frame.get("on")),
                )
            ]
        )
