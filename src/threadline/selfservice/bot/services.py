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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import structlog
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.aio import finish
from threadline.channels.models import Endpoint
from threadline.channels.outbox import enqueue_outbound
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.db import UnitOfWork, org_scope, utcnow
from threadline.errors import ThreadlineError
from threadline.events.domain import BotDeflected, BotHandedOff, MessageReceived
from threadline.routing.models import Queue
from threadline.selfservice.bot import backend, outage
from threadline.selfservice.bot.classifier import IntentClassifier
from threadline.selfservice.bot.flows import FlowCatalog
from threadline.selfservice.bot.knowledge import KnowledgeSource, NoKnowledge
from threadline.selfservice.bot.models import BotConversation, BotOutcome
from threadline.selfservice.flows import actions as act
from threadline.selfservice.flows.engine import FlowMismatch, advance, start
from threadline.selfservice.flows.messages import AGENT_CHOICE
from threadline.selfservice.flows.render import LIMITS, Outgoing, reply_input
from threadline.selfservice.flows.render import render_messages as render
from threadline.selfservice.flows.schemas import Flow
from threadline.selfservice.incidents.matching import IncidentView, message_for
from threadline.selfservice.incidents.services import do_follow
from threadline.threads.models import Thread
from threadline.threads.services import append_event, entry_at, lock_thread
from threadline.workers import timers
from threadline.workers.models import Timer

log = structlog.get_logger(__name__)

CONSUMER = "selfservice.bot"
BOT_DEADLINE = "bot_deadline"
# channels whose customer page draws the bot's buttons; the provider channels whose
# messages carry their own (WhatsApp reply buttons or a list, a Telegram inline keyboard,
# Messenger quick replies); SMS and email get numbered choices
BUTTONS = ("chat", "app", "video")
INTERACTIVE = ("whatsapp", "telegram", "messenger")
SUMMARY_CHARS = 280
INTERACTIVE_BODY = 1024  # WhatsApp: an interactive message's body text, at most
# where a rendered message keeps its buttons (render.py's payloads), and the event data key
# the outbox hands each to its adapter under (OutboundMessage's field of the same name)
KEYBOARDS = ("interactive", "reply_markup", "quick_replies")
# where a customer's message carries the button it came from (render.reply_input reads them)
BUTTON_KEYS = ("postback", "quick_reply", "callback_data", "reply_id")
Machine = act.ClassifyIntent | act.RequestKnowledge | act.CallBackend
INPUT: TypeAdapter[act.Input] = TypeAdapter(act.Input)


@dataclass(frozen=True, slots=True)
class Follower:
    """Who asked to be told when an incident is fixed, and where."""

    incident_id: str
    customer_id: str
    thread_id: str
    channel: str
    language: str


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
        # a message to a bot is read as soon as it commits (a visitor waits for the answer);
        # the others (agents' chats) only pass by, a burst per transaction
        self._ctx.handlers.consumer(
            CONSUMER, self.on_message, [MessageReceived], urgent=_awaits_the_bot
        )
        self._ctx.timers.register(BOT_DEADLINE, self.on_deadline)

    async def knows(self, session: AsyncSession, org_id: str, flow_id: str) -> bool:
        """Whether an endpoint of the organisation may name this flow (context.Bot)."""
        return await self._catalog.knows(session, org_id, flow_id)

    async def machine(self, org_id: str, action: Machine) -> Any:
        """What a turn asked from outside (an intent, an article, the backend's answer),
        done as for the chat's turns: the IVR's (voice.py) await it within the webhook."""
        return await self._perform_machine(org_id, action)

    async def stop(self, grace_s: float = 5.0) -> None:
        await finish(self._tasks, grace_s)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ---- inputs -------------------------------------------------------------------------

    async def on_message(self, uow: UnitOfWork, received: MessageReceived) -> None:
        """Consumer: a customer's message on a thread the bot is talking on."""
        if received.kind != "message" or received.bot is False:
            # not a bot's chat when it was stored (no bot answers where it came in, the
            # thread was not the bot's; only a message's own write makes it the bot's): no
            # read for the agents' chats that only pass by. None (stored before the event
            # said) reads the thread, as every message did then.
            return
        thread = await uow.session.get(Thread, received.thread_id)
        if thread is None or thread.status != "bot":
            return
        thread = await _lock(uow, received.org_id, thread)
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
        state, overlay = outage.split(conversation.state)
        pending = overlay.get("pending")
        entry = await entry_at(uow.session, thread.id, received.seq)
        given = reply_input(
            _reply_style(received.channel),
            outage.choices(state.language) if pending else state.choices,
            received.body or "",
            entry.data if entry is not None else None,
        )
        conversation.last_seq, conversation.channel = received.seq, received.channel
        if pending:
            if isinstance(given, act.Message) and _tapped(entry.data if entry else None):
                given = act.Choice(choice="")  # a button of an earlier question: go on
            await self._outage_answer(uow, thread, conversation, flow, state, overlay, given, now)
            return
        if isinstance(given, act.Message) and state.waiting == "customer":
            incident = await self._incident(thread.org_id, given.text, overlay)
            if incident is not None:
                await self._offer(uow, thread, conversation, state, overlay, incident, given.text)
                return
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
        thread = await _lock(uow, conversation.org_id, conversation.thread_id)
        await uow.session.refresh(conversation)  # as it is now the thread is held
        if conversation.done or conversation.turn != turn or thread.status != "bot":
            return
        flow = await self._flow(uow, conversation)
        if flow is None:
            return
        state, overlay = outage.split(conversation.state)
        if isinstance(given, act.Timeout) and (overlay.get("pending") or overlay.get("following")):
            await self._outage_timeout(uow, thread, conversation, flow, state, overlay)
            return
        if (
            isinstance(given, act.IntentPrediction)
            and state.waiting == "intent"
            and given.request == state.request
            and not overlay.get("pending")
        ):  # the message's intent may be what an incident is about
            incident = await self._incident_of_intent(thread.org_id, flow, state, given, overlay)
            if incident is not None:
                await self._offer(
                    uow, thread, conversation, state, overlay, incident, state.pending, given
                )
                return
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
            queue = await queue_for(uow, thread.org_id, None, received.endpoint_id)
            if queue is not None:
                await self._ctx.routing.enqueue(uow, thread, queue, received.channel)
            return
        language = thread.language or received.language
        incident = await self._incident(thread.org_id, received.body, {})
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
        if incident is not None:  # outage mode: the incident first, the flow when asked
            state = outage.fresh_state(flow, received.channel, language, now)
            await self._offer(
                uow, thread, conversation, state, {}, incident, received.body, fresh=True
            )
            return
        context = act.Context(channel=received.channel, language=language, message=received.body)
        state, actions = start(flow, context, now)
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
            actions = [handoff_of(state, "flow_changed")]
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
        overlay: dict[str, Any] | None = None,
    ) -> None:
        """Store the turn and do what it says: the replies on the customer's channel, the
        hand-off or the end, the deadline, and (after the commit) the machine's work.
        `overlay`: what the conversation knows of outages, when it changes."""
        if overlay is None:
            overlay = outage.overlay_of(conversation.state or {})
        conversation.state = outage.joined(state, overlay)
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
            for key in KEYBOARDS:
                if key in out.payload and channel not in BUTTONS:
                    data[key] = out.payload[key]
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

    # ---- outage mode (outage.py) ----------------------------------------------------------

    async def _incident(
        self, org_id: str, text: str | None, overlay: dict[str, Any]
    ) -> IncidentView | None:
        """The incident in force the message is about that this conversation has not said."""
        incidents = getattr(self._ctx, "incidents", None)
        if incidents is None or not (text or "").strip():
            return None
        said = set(overlay.get("said") or ())
        found = await incidents.about(org_id, text=text)
        return next((i for i in found if i.id not in said), None)

    async def _incident_of_intent(
        self,
        org_id: str,
        flow: Flow,
        state: act.State,
        prediction: act.IntentPrediction,
        overlay: dict[str, Any],
    ) -> IncidentView | None:
        """The incident in force whose intents include the message's, when the classifier
        is as sure of it as the flow's branch needs to be, and not said yet."""
        incidents = getattr(self._ctx, "incidents", None)
        if incidents is None or not prediction.ranked:
            return None
        top = max(prediction.ranked, key=lambda s: s.confidence)
        step = flow.step(state.step)
        if top.confidence < getattr(step, "threshold", 1.0):
            return None
        said = set(overlay.get("said") or ())
        found = await incidents.about(org_id, intent=top.intent)
        return next((i for i in found if i.id not in said), None)

    async def _offer(
        self,
        uow: UnitOfWork,
        thread: Thread,
        conversation: BotConversation,
        state: act.State,
        overlay: dict[str, Any],
        incident: IncidentView,
        text: str | None,
        resume: act.Input | None = None,
        *,
        fresh: bool = False,
    ) -> None:
        """Say the incident's message and offer to tell the customer when it is fixed; the
        flow waits (`fresh`: it has not started yet, and starts with `text`; `resume`: the
        answer the flow was about to read, the intent that matched, read on "continue")."""
        now = utcnow()
        pending = {
            "incident_id": incident.id,
            "fresh": fresh,
            "message": text or "",
            "resume": resume.model_dump(mode="json") if resume is not None else None,
        }
        overlay = {**overlay, "said": [*(overlay.get("said") or ()), incident.id]}
        overlay["pending"] = pending
        said = message_for(incident.messages, state.language)
        deadline = max(state.deadline or now, now + outage.OFFER_WAIT)
        waiting = state.model_copy(update={"deadline": deadline})
        await self._perform(
            uow, thread, conversation, waiting, [outage.offer(said, state.language)], now, overlay
        )

    async def _outage_answer(
        self,
        uow: UnitOfWork,
        thread: Thread,
        conversation: BotConversation,
        flow: Flow,
        state: act.State,
        overlay: dict[str, Any],
        given: Any,
        now: datetime,
    ) -> None:
        """The customer's answer to the offer: be told (registered after the commit), a
        person, or the flow going on with their message."""
        pending = overlay["pending"]
        overlay = {**overlay, "pending": None}
        answer, text = outage.answer_of(given)
        if answer == "follow":
            overlay["following"] = pending["incident_id"]
            waiting = state.model_copy(update={"deadline": now + outage.FOLLOW_WAIT})
            await self._perform(uow, thread, conversation, waiting, [], now, overlay)
            self._follow_after(uow, conversation, thread, pending["incident_id"], state.language)
            return
        message = text or pending["message"]
        given = act.Choice(choice=AGENT_CHOICE) if answer == "agent" else act.Message(text=message)
        if answer == "continue" and pending.get("resume"):  # the intent the flow waited for
            given = INPUT.validate_python(pending["resume"])
        if pending["fresh"]:  # the flow starts now, with what the customer said
            context = act.Context(
                channel=conversation.channel, language=state.language, message=message
            )
            state, actions = start(flow, context, now)
            if answer == "agent" and state.waiting != "done":
                state, actions = advance(flow, state, given, now)
            await self._perform(uow, thread, conversation, state, actions, now, overlay)
            return
        conversation.state = outage.joined(state, overlay)
        await self._turn(uow, thread, conversation, flow, state, given, now)

    async def _outage_timeout(
        self,
        uow: UnitOfWork,
        thread: Thread,
        conversation: BotConversation,
        flow: Flow,
        state: act.State,
        overlay: dict[str, Any],
    ) -> None:
        """No answer to the offer (or no follower registered) by the deadline: a flow that
        was under way goes on as silence would have it; otherwise the conversation ends."""
        pending = overlay.get("pending")
        overlay = {**overlay, "pending": None, "following": None}
        if pending and not pending["fresh"] and not pending.get("resume"):
            conversation.state = outage.joined(state, overlay)
            await self._turn(uow, thread, conversation, flow, state, act.Timeout(), utcnow())
            return
        end = act.EndConversation(deflected=False, reason="no_reply", intent=None, article_id=None)
        done = state.model_copy(update={"waiting": "done", "outcome": "end", "deadline": None})
        await self._perform(uow, thread, conversation, done, [end], utcnow(), overlay)

    def _follow_after(
        self,
        uow: UnitOfWork,
        conversation: BotConversation,
        thread: Thread,
        incident_id: str,
        language: str,
    ) -> None:
        """Register the follower once this turn commits (incidents' own transaction), then
        confirm in the conversation."""
        org_id, conversation_id, turn = conversation.org_id, conversation.id, conversation.turn
        follower = Follower(
            incident_id, thread.customer_id, thread.id, conversation.channel, language
        )

        async def launch() -> None:
            with org_scope(org_id):
                task = asyncio.create_task(
                    self._follow(org_id, conversation_id, turn, follower), name=f"bot-follow-{turn}"
                )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        uow.after_commit(launch)

    async def _follow(
        self, org_id: str, conversation_id: str, turn: int, follower: Follower
    ) -> None:
        try:
            followed = await do_follow(
                self._ctx,
                org_id,
                follower.incident_id,
                follower.customer_id,
                channel=follower.channel,
                thread_id=follower.thread_id,
                language=follower.language,
            )
        except Exception:  # the deadline ends the conversation
            log.exception("bot.follow_failed", conversation_id=conversation_id)
            return
        async with self._ctx.uow() as uow:
            conversation = await uow.session.get(BotConversation, conversation_id)
            if conversation is None or conversation.org_id != org_id:
                return
            thread = await _lock(uow, org_id, conversation.thread_id)
            await uow.session.refresh(conversation)
            if conversation.done or conversation.turn != turn or thread.status != "bot":
                return
            state, overlay = outage.split(conversation.state)
            said = outage.texts(state.language)["followed" if followed else "already_fixed"]
            reason = "incident_followed" if followed else "incident_fixed"
            actions = [
                act.Say(text=said, language=state.language),
                act.EndConversation(
                    deflected=True, reason=reason, intent=state.intent, article_id=None
                ),
            ]
            done = state.model_copy(
                update={"waiting": "done", "outcome": "end", "deflected": True, "deadline": None}
            )
            overlay = {**overlay, "following": None}
            await self._perform(uow, thread, conversation, done, actions, utcnow(), overlay)

    async def _hand_off(
        self, uow: UnitOfWork, thread: Thread, conversation: BotConversation, handoff: act.HandOff
    ) -> None:
        queue = await queue_for(uow, thread.org_id, handoff.queue, conversation.endpoint_id)
        context = {"bot": bot_context(conversation, thread, handoff)}
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
        record_handoff(uow, thread, conversation, handoff, contact_id, queue)

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
        record_end(uow, thread, conversation, end)

    @staticmethod
    def _finish(conversation: BotConversation, outcome: str) -> None:
        conversation.done, conversation.outcome = True, outcome

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


async def _lock(uow: UnitOfWork, org_id: str, thread: Thread | str) -> Thread:
    """The thread, row-locked after its customer: the order an inbound message takes them
    (channels/inbound.py). A turn that writes the thread twice (an entry, then its status)
    checks the customer's key again on PostgreSQL, which would wait for a message of that
    customer being stored meanwhile while that one waits for the thread: a deadlock."""
    if isinstance(thread, str):
        found = await uow.session.get(Thread, thread)
        if found is None:
            return await lock_thread(uow, org_id, thread)  # raises NotFound
        thread = found
    await uow.lock(Customer, thread.customer_id)
    return await lock_thread(uow, org_id, thread.id)


def _tapped(data: Mapping[str, Any] | None) -> bool:
    """Whether a message is a button's (render.py's payload keys), not typed."""
    return any(key in (data or {}) for key in BUTTON_KEYS)


async def _ongoing(uow: UnitOfWork, thread_id: str) -> BotConversation | None:
    found: BotConversation | None = await uow.session.scalar(
        select(BotConversation)
        .where(
            BotConversation.thread_id == thread_id,
            BotConversation.done.is_(False),
            BotConversation.channel != "voice",  # a call's flow runs in its webhooks (voice.py)
        )
        .order_by(BotConversation.started_at.desc())
        .limit(1)
    )
    return found


def _render_style(channel: str) -> Any:
    """How a channel's replies are drawn: buttons on the customer pages, WhatsApp, Telegram
    and Messenger, numbered choices elsewhere (see BUTTONS, INTERACTIVE)."""
    if channel in BUTTONS or channel in INTERACTIVE:
        return channel
    return "email" if channel == "email" else "sms"


def _joined(outgoing: list[Outgoing], limit: int) -> list[Outgoing]:
    """A turn's texts as few messages as the channel's length allows: the outbox sends
    messages side by side, and a provider may deliver them in any order, so a greeting, an
    answer and its question travel together, in their order (text before a question with
    buttons goes into its text: a WhatsApp interactive body, a Telegram or Messenger text)."""
    out: list[Outgoing] = []
    for message in outgoing:
        if _has_keyboard(message):
            before = out[-1] if out and not _has_keyboard(out[-1]) else None
            merged = _with_text_before(message, before, limit) if before else None
            if merged is not None:
                out[-1] = merged
            else:
                out.append(message)
        elif (
            out
            and not _has_keyboard(out[-1])
            and (len(out[-1].text) + 2 + len(message.text) <= limit)
        ):
            text = out[-1].text + "\n\n" + message.text
            out[-1] = Outgoing(text, {"body": text}, out[-1].choices + message.choices)
        else:
            out.append(message)
    return out


def _has_keyboard(message: Outgoing) -> bool:
    return any(key in message.payload for key in KEYBOARDS)


def _with_text_before(message: Outgoing, before: Outgoing, limit: int) -> Outgoing | None:
    """The question with the text said before it in front, when that fits its channel."""
    interactive = message.payload.get("interactive")
    if interactive is not None:
        body = str(interactive.get("body", {}).get("text", ""))
        text = before.text + "\n\n" + body
        if len(text) > INTERACTIVE_BODY:
            return None
        merged = {**interactive, "body": {"text": text}}
        return Outgoing(text, {**message.payload, "interactive": merged}, message.choices)
    text = before.text + "\n\n" + message.text
    if len(text) > limit:
        return None
    return Outgoing(text, {**message.payload, "text": text}, message.choices)


def _reply_style(channel: str) -> Any:
    return _render_style(channel)


def handoff_of(state: act.State, reason: str) -> act.HandOff:
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


def bot_context(
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


def record_handoff(
    uow: UnitOfWork,
    thread: Thread,
    conversation: BotConversation,
    handoff: act.HandOff,
    contact_id: str | None,
    queue: Queue | None,
) -> None:
    """What a hand-off came to, for the reports (bot_outcomes) and the seam (bot.handed_off),
    on any channel, the phone's included."""
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


def record_end(
    uow: UnitOfWork, thread: Thread, conversation: BotConversation, end: act.EndConversation
) -> None:
    """What a conversation the flow finished came to: deflected when it solved the need."""
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


async def queue_for(
    uow: UnitOfWork, org_id: str, name: str | None, endpoint_id: str | None
) -> Queue | None:
    """The queue the flow named, else the endpoint's (a widget's, a number's)."""
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


def _awaits_the_bot(received: MessageReceived) -> bool:
    return received.bot is not False
