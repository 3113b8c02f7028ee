"""The bot at run time: a flow per thread, on the messaging channels.

A customer's message on an endpoint with a bot (`settings.bot.flow`) leaves the thread in
status `bot` instead of queueing it (channels/inbound.py). The bot reads `MessageReceived`
as a durable consumer of the event log: it sees every message exactly once, also after a
crash or on another node, and its turn (the engine's state, the bot's replies, the outbox
rows, the hand-off's contact) commits together with the consumer's position. The consumer
is woken right after the customer's message commits and reads at once (no lingering
for a batch to gather, unlike the other consumers): a visitor is waiting.

What a turn asks from outside (an intent, an article, the company's backend) runs after the
commit, in no transaction; its answer is the next turn. A durable timer at the state's
deadline answers for whatever never came (the customer, or a lost classification), so a
restart leaves no conversation hanging.

A hand-off opens the contact in the queue the flow chose, with `context.bot`: the transcript
(its timeline range and the entries), intent and confidence, slots, reason and a summary. A
conversation the bot finishes counts as deflected (per intent and article) in
`bot_outcomes`, with `BotDeflected` / `BotHandedOff` on the log.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.aio import finish
from threadline.channels.models import Endpoint
from threadline.channels.outbox import enqueue_outbound
from threadline.context import Context
from threadline.db import UnitOfWork, org_scope, utcnow
from threadline.errors import ThreadlineError
from threadline.events.domain import BotDeflected, BotHandedOff, MessageReceived
from threadline.routing.models import Queue
from threadline.selfservice.bot import backend
from threadline.selfservice.bot.classifier import IntentClassifier
from threadline.selfservice.bot.flows import FlowCatalog
from threadline.selfservice.bot.knowledge import KnowledgeSource, NoKnowledge
from threadline.selfservice.bot.models import BotConversation, BotOutcome
from threadline.selfservice.flows import actions as act
from threadline.selfservice.flows.engine import FlowMismatch, advance, start
from threadline.selfservice.flows.render import LIMITS, Outgoing, reply_input
from threadline.selfservice.flows.render import render_messages as render
from threadline.selfservice.flows.schemas import Flow
from threadline.threads.models import Thread
from threadline.threads.services import append_event, entry_at, lock_thread
from threadline.workers import timers
from threadline.workers.models import Timer

log = structlog.get_logger(__name__)

CONSUMER = "selfservice.bot"
BOT_DEADLINE = "bot_deadline"
# channels whose customer page draws the bot's buttons; WhatsApp gets reply buttons or a
# list (Cloud API interactive messages); the other provider channels get numbered choices
# until their adapters send and read keyboards and quick replies
BUTTONS = ("chat", "app", "video")
INTERACTIVE = ("whatsapp",)
SUMMARY_CHARS = 280
INTERACTIVE_BODY = 1024  # WhatsApp: an interactive message's body text, at most
Machine = act.ClassifyIntent | act.RequestKnowledge | act.CallBackend


class BotRuntime:
    """The bot's turns; registered once by app.build_context."""

    def __init__(
        self,
        ctx: Context,
        catalog: FlowCatalog,
        classifier: IntentClassifier,
        knowledge: KnowledgeSource | None = None,
    ) -> None:
        self._ctx = ctx
        self._catalog = catalog
        self.classifier = classifier
        self.knowledge: KnowledgeSource = knowledge or NoKnowledge()
        self._http: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def register(self) -> None:
        # read as soon as a message commits: a visitor waits for the answer
        self._ctx.handlers.consumer(CONSUMER, self.on_message, [MessageReceived], linger_s=0.0)
        self._ctx.timers.register(BOT_DEADLINE, self.on_deadline)

    async def knows(self, session: AsyncSession, org_id: str, flow_id: str) -> bool:
        """Whether an endpoint of the organisation may name this flow (context.Bot)."""
        return await self._catalog.knows(session, org_id, flow_id)

    async def stop(self, grace_s: float = 5.0) -> None:
        await finish(self._tasks, grace_s)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ---- inputs -------------------------------------------------------------------------

    async def on_message(self, uow: UnitOfWork, received: MessageReceived) -> None:
        """Consumer: a customer's message on a thread the bot is talking on."""
        if received.kind != "message":
            return
        thread = await uow.session.get(Thread, received.thread_id)
        if thread is None or thread.status != "bot":
            return
        thread = await lock_thread(uow, received.org_id, received.thread_id)
        if thread.status != "bot":
            return
        now = utcnow()
        conversation = await _ongoing(uow, thread.id)
        if conversation is None:
            await self._begin(uow, thread, received, now)
            return
        if received.seq <= conversation.last_seq:
            return  # read already (the same message, delivered again)
        flow = await self._flow(uow, conversation)
        if flow is None:
            return
        state = act.State.model_validate(conversation.state)
        entry = await entry_at(uow.session, thread.id, received.seq)
        given = reply_input(
            _reply_style(received.channel),
            state.choices,
            received.body or "",
            entry.data if entry is not None else None,
        )
        conversation.last_seq, conversation.channel = received.seq, received.channel
        await self._turn(uow, thread, conversation, flow, state, given, now)

    async def on_deadline(self, uow: UnitOfWork, timer: Timer) -> None:
        """Timer: nothing came by the state's deadline (unless a later turn moved on)."""
        conversation = await uow.session.get(BotConversation, timer.ref_id)
        if conversation is None or conversation.done:
            return
        if conversation.turn != (timer.payload or {}).get("turn"):
            return
        await self._feed(uow, conversation, act.Timeout(), conversation.turn)

    async def answer(self, org_id: str, conversation_id: str, turn: int, given: Any) -> None:
        """The answer to what a turn asked for (an intent, an article, the backend's)."""
        async with self._ctx.uow() as uow:
            conversation = await uow.session.get(BotConversation, conversation_id)
            if conversation is None or conversation.org_id != org_id:
                return
            await self._feed(uow, conversation, given, turn)

    async def _feed(
        self, uow: UnitOfWork, conversation: BotConversation, given: Any, turn: int
    ) -> None:
        thread = await lock_thread(uow, conversation.org_id, conversation.thread_id)
        await uow.session.refresh(conversation)  # as it is now the thread is held
        if conversation.done or conversation.turn != turn or thread.status != "bot":
            return
        flow = await self._flow(uow, conversation)
        if flow is None:
            return
        state = act.State.model_validate(conversation.state)
        await self._turn(uow, thread, conversation, flow, state, given, utcnow())

    # ---- turns --------------------------------------------------------------------------

    async def _begin(
        self, uow: UnitOfWork, thread: Thread, received: MessageReceived, now: datetime
    ) -> None:
        endpoint = (
            await uow.session.get(Endpoint, received.endpoint_id) if received.endpoint_id else None
        )
        bot = (endpoint.settings or {}).get("bot") if endpoint is not None else None
        flow = (
            await self._catalog.get(uow.session, thread.org_id, bot.get("flow", ""))
            if isinstance(bot, dict)
            else None
        )
        if flow is None:  # the bot was taken off the endpoint meanwhile: a person answers
            log.warning("bot.no_flow", thread_id=thread.id, endpoint_id=received.endpoint_id)
            queue = await self._queue(uow, thread.org_id, None, received.endpoint_id)
            if queue is not None:
                await self._ctx.routing.enqueue(uow, thread, queue, received.channel)
            return
        context = act.Context(
            channel=received.channel,
            language=thread.language or received.language,
            message=received.body,
        )
        state, actions = start(flow, context, now)
        conversation = BotConversation(
            org_id=thread.org_id,
            thread_id=thread.id,
            endpoint_id=endpoint.id if endpoint is not None else None,
            channel=received.channel,
            flow_id=flow.id,
            flow_version=flow.version,
            first_seq=received.seq,
            last_seq=received.seq,
            started_at=now,
        )
        uow.session.add(conversation)
        await uow.session.flush()
        await self._perform(uow, thread, conversation, state, actions, now)

    async def _turn(
        self,
        uow: UnitOfWork,
        thread: Thread,
        conversation: BotConversation,
        flow: Flow,
        state: act.State,
        given: Any,
        now: datetime,
    ) -> None:
        try:
            state, actions = advance(flow, state, given, now)
        except FlowMismatch:  # the flow changed under the conversation: a person takes over
            actions = [_handoff_of(state, "flow_changed")]
            state = state.model_copy(update={"waiting": "done", "outcome": "handoff"})
        await self._perform(uow, thread, conversation, state, actions, now)

    async def _perform(
        self,
        uow: UnitOfWork,
        thread: Thread,
        conversation: BotConversation,
        state: act.State,
        actions: list[Any],
        now: datetime,
    ) -> None:
        """Store the turn and do what it says: the replies on the customer's channel, the
        hand-off or the end, the deadline, and (after the commit) the machine's work."""
        conversation.state = state.model_dump(mode="json")
        conversation.turn += 1
        conversation.updated_at = now
        await self._reply(uow, thread, conversation, actions)
        machine: Machine | None = None
        for action in actions:
            if isinstance(action, act.HandOff):
                await self._hand_off(uow, thread, conversation, action)
            elif isinstance(action, act.EndConversation):
                self._end(uow, thread, conversation, action)
            elif isinstance(action, act.ClassifyIntent | act.RequestKnowledge | act.CallBackend):
                machine = action
        await timers.cancel(uow.session, BOT_DEADLINE, conversation.id)
        if not conversation.done and state.deadline is not None:
            timers.schedule(
                uow.session,
                thread.org_id,
                BOT_DEADLINE,
                conversation.id,
                state.deadline,
                {"turn": conversation.turn},
            )
        if machine is not None and not conversation.done:
            self._after(uow, conversation, machine)

    async def _reply(
        self,
        uow: UnitOfWork,
        thread: Thread,
        conversation: BotConversation,
        actions: list[Any],
    ) -> None:
        """The bot's messages on the timeline (author "bot"), pushed to the widget like an
        agent's, or queued in the outbox for a provider channel."""
        channel = conversation.channel
        name = await self._flow_name(uow, conversation)
        outgoing = render(actions, _render_style(channel))
        if channel not in BUTTONS:
            outgoing = _joined(outgoing, LIMITS[_render_style(channel)].text)
        handing_off = any(isinstance(a, act.HandOff) for a in actions)
        for n, out in enumerate(outgoing, 1):
            data: dict[str, Any] = {"bot": conversation.id}
            if out.choices and channel in BUTTONS:
                data["choices"] = out.payload.get("choices", [])
            if handing_off and n == len(outgoing):
                data["handoff"] = True  # the customer page now says they wait for a person
            if out.payload.get("type") == "interactive":
                data["interactive"] = out.payload["interactive"]
            event = append_event(
                uow,
                thread,
                kind="message",
                channel=channel,
                author_type="bot",
                author_name=name,
                body=out.text,
                data=data,
            )
            if channel in BUTTONS:
                continue
            try:
                await enqueue_outbound(self._ctx, uow, thread, event)
            except ThreadlineError as exc:  # no address, outside the service window...
                log.warning("bot.reply_not_sent", thread_id=thread.id, reason=str(exc))

    async def _hand_off(
        self, uow: UnitOfWork, thread: Thread, conversation: BotConversation, handoff: act.HandOff
    ) -> None:
        queue = await self._queue(uow, thread.org_id, handoff.queue, conversation.endpoint_id)
        context = {"bot": _bot_context(conversation, thread, handoff)}
        contact_id = None
        if queue is None:
            log.error("bot.no_queue", thread_id=thread.id, queue=handoff.queue)
            thread.status = "queued"
        else:
            contact = await self._ctx.routing.enqueue(
                uow,
                thread,
                queue,
                conversation.channel,
                reason=handoff.intent or handoff.reason,
                context=context,
                priority=handoff.priority or 0,
            )
            extra = [s for s in handoff.skills if s not in contact.required_skills]
            if extra:
                contact.required_skills = [*contact.required_skills, *extra]
            contact_id = contact.id
        self._finish(conversation, "handoff")
        uow.session.add(
            BotOutcome(
                org_id=thread.org_id,
                conversation_id=conversation.id,
                thread_id=thread.id,
                channel=conversation.channel,
                flow_id=conversation.flow_id,
                outcome="handed_off",
                reason=handoff.reason[:100],
                intent=handoff.intent,
                confidence=handoff.confidence,
                contact_id=contact_id,
            )
        )
        uow.emit(
            BotHandedOff(
                org_id=thread.org_id,
                thread_id=thread.id,
                contact_id=contact_id,
                channel=conversation.channel,
                flow_id=conversation.flow_id,
                reason=handoff.reason,
                intent=handoff.intent,
                confidence=handoff.confidence,
                queue=queue.name if queue is not None else None,
            )
        )

    def _end(
        self,
        uow: UnitOfWork,
        thread: Thread,
        conversation: BotConversation,
        end: act.EndConversation,
    ) -> None:
        """The bot is done: deflected when it solved the need; the thread rests until the
        customer writes again (then the bot starts over)."""
        self._finish(conversation, "end")
        thread.status = "resolved"
        uow.session.add(
            BotOutcome(
                org_id=thread.org_id,
                conversation_id=conversation.id,
                thread_id=thread.id,
                channel=conversation.channel,
                flow_id=conversation.flow_id,
                outcome="deflected" if end.deflected else "ended",
                reason=end.reason[:100],
                intent=end.intent,
                article_id=end.article_id,
            )
        )
        if end.deflected:
            uow.emit(
                BotDeflected(
                    org_id=thread.org_id,
                    thread_id=thread.id,
                    channel=conversation.channel,
                    flow_id=conversation.flow_id,
                    intent=end.intent,
                    article_id=end.article_id,
                )
            )

    @staticmethod
    def _finish(conversation: BotConversation, outcome: str) -> None:
        conversation.done, conversation.outcome = True, outcome

    async def _queue(
        self, uow: UnitOfWork, org_id: str, name: str | None, endpoint_id: str | None
    ) -> Queue | None:
        """The queue the flow named, else the endpoint's."""
        if name:
            found = await uow.session.scalar(
                select(Queue).where(Queue.org_id == org_id, Queue.name == name)
            )
            if found is not None:
                return found
        endpoint = await uow.session.get(Endpoint, endpoint_id) if endpoint_id else None
        if endpoint is not None and endpoint.queue_id:
            return await uow.session.get(Queue, endpoint.queue_id)
        return None

    # ---- the machine's work, after the commit --------------------------------------------

    def _after(self, uow: UnitOfWork, conversation: BotConversation, action: Machine) -> None:
        org_id, conversation_id, turn = conversation.org_id, conversation.id, conversation.turn

        async def launch() -> None:
            with org_scope(org_id):
                task = asyncio.create_task(
                    self._work(org_id, conversation_id, turn, action), name=f"bot-{turn}"
                )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        uow.after_commit(launch)

    async def _work(self, org_id: str, conversation_id: str, turn: int, action: Machine) -> None:
        try:
            given = await self._perform_machine(org_id, action)
            await self.answer(org_id, conversation_id, turn, given)
        except Exception:  # the deadline timer answers for it
            log.exception("bot.work_failed", conversation_id=conversation_id, kind=action.kind)

    async def _perform_machine(self, org_id: str, action: Machine) -> Any:
        if isinstance(action, act.ClassifyIntent):
            ranked = await self.classifier.classify(org_id, action.text, action.language)
            return act.IntentPrediction(request=action.request, ranked=ranked)
        if isinstance(action, act.RequestKnowledge):
            found = await self.knowledge.answer(org_id, action.query, action.language)
            if found is None:
                return act.KnowledgeResult(request=action.request, found=False)
            return act.KnowledgeResult(
                request=action.request,
                found=True,
                article_id=found.article_id,
                title=found.title,
                text=found.text,
                url=found.url,
            )
        key = backend.signing_key(self._ctx.settings.secret_key.get_secret_value(), org_id)
        allow = self._ctx.settings.bot_backend_allow_private
        return await backend.call(self._client(), key, action, allow_private=allow)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        return self._http

    # ---- small parts --------------------------------------------------------------------

    async def _flow(self, uow: UnitOfWork, conversation: BotConversation) -> Flow | None:
        """The version the conversation started on (a later one may differ)."""
        flow = await self._catalog.get(
            uow.session, conversation.org_id, conversation.flow_id, conversation.flow_version
        )
        if flow is None:
            log.error("bot.flow_gone", conversation_id=conversation.id, flow=conversation.flow_id)
        return flow

    async def _flow_name(self, uow: UnitOfWork, conversation: BotConversation) -> str:
        flow = await self._flow(uow, conversation)
        return flow.name if flow is not None else "Bot"


async def _ongoing(uow: UnitOfWork, thread_id: str) -> BotConversation | None:
    found: BotConversation | None = await uow.session.scalar(
        select(BotConversation)
        .where(BotConversation.thread_id == thread_id, BotConversation.done.is_(False))
        .order_by(BotConversation.started_at.desc())
        .limit(1)
    )
    return found


def _render_style(channel: str) -> Any:
    """How a channel's replies are drawn: buttons on the customer pages and WhatsApp,
    numbered choices elsewhere (see BUTTONS, INTERACTIVE)."""
    if channel in BUTTONS or channel in INTERACTIVE:
        return channel
    return "email" if channel == "email" else "sms"


def _joined(outgoing: list[Outgoing], limit: int) -> list[Outgoing]:
    """A turn's texts as few messages as the channel's length allows: the outbox sends
    messages side by side, and a provider may deliver them in any order, so a greeting, an
    answer and its question travel together, in their order (text before a WhatsApp
    question goes into its body)."""
    out: list[Outgoing] = []
    for message in outgoing:
        interactive = message.payload.get("interactive")
        if interactive is not None:
            body = str(interactive.get("body", {}).get("text", ""))
            if out and "interactive" not in out[-1].payload:
                text = out[-1].text + "\n\n" + body
                if len(text) <= INTERACTIVE_BODY:
                    merged = {**interactive, "body": {"text": text}}
                    payload = {**message.payload, "interactive": merged}
                    out[-1] = Outgoing(text, payload, message.choices)
                    continue
            out.append(message)
        elif (
            out
            and "interactive" not in out[-1].payload
            and (len(out[-1].text) + 2 + len(message.text) <= limit)
        ):
            text = out[-1].text + "\n\n" + message.text
            out[-1] = Outgoing(text, {"body": text}, out[-1].choices + message.choices)
        else:
            out.append(message)
    return out


def _reply_style(channel: str) -> Any:
    return _render_style(channel)


def _handoff_of(state: act.State, reason: str) -> act.HandOff:
    return act.HandOff(
        reason=reason,
        language=state.language,
        transcript=list(state.transcript),
        intent=state.intent,
        confidence=state.confidence,
        slots=dict(state.slots),
        queue=state.queue,
        skills=list(state.skills),
        priority=state.priority,
        assurance=state.assurance,
    )


def _bot_context(
    conversation: BotConversation, thread: Thread, handoff: act.HandOff
) -> dict[str, Any]:
    """What the agent sees first, and what the customer is never asked again."""
    said = [e.text for e in handoff.transcript if e.by == "customer"]
    return {
        "flow": conversation.flow_id,
        "reason": handoff.reason,
        "language": handoff.language,
        "intent": handoff.intent,
        "confidence": handoff.confidence,
        "slots": handoff.slots,
        "queue": handoff.queue,
        "skills": handoff.skills,
        "transcript": {"from_seq": conversation.first_seq, "to_seq": thread.last_seq},
        "entries": [e.model_dump(mode="json") for e in handoff.transcript],
        "summary": " / ".join(said)[:SUMMARY_CHARS],
    }
