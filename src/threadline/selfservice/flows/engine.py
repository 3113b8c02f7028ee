"""The flow engine: one conversation of the bot or the IVR, turn by turn. Pure: no I/O, no
clock (`now` is passed in), and whatever it needs from outside (an intent, an answer from the
knowledge base, the company's backend, a verification) it asks for with an action and reads
from the next input.

    state, actions = start(flow, context, now)
    state, actions = advance(flow, state, input, now)   # as often as inputs come

After each turn the conversation either waits (`state.waiting`: for the customer until
`state.deadline`, or for the answer to the action it asked for) or is done (a HandOff or an
EndConversation among the actions). At every step, "talk to a person" (in en, pt, es, ru or
el, the button, or DTMF 0) hands off with everything collected so far. An input the state
does not wait for (a late answer, a message while the backend is called) is recorded and
otherwise ignored: `advance` never fails on what people or providers send.
"""

from __future__ import annotations

import re
import urllib.parse
from datetime import datetime, timedelta
from typing import Any, Literal

from threadline.selfservice.flows import actions as act
from threadline.selfservice.flows import schemas as spec
from threadline.selfservice.flows.messages import (
    AGENT_CHOICE,
    AGENT_DIGIT,
    NO_CHOICE,
    OTHER_CHOICE,
    UI_KEYS,
    YES_CHOICE,
    asks_for_person,
    yes_or_no,
)
from threadline.selfservice.flows.slots import ChoiceText, dig, match_choice, number_of, read
from threadline.verification.assurance import LEVELS

# Steps taken in one turn without waiting: validation refuses loops that never wait, so
# this only guards against a flow edited around the validator.
MAX_HOPS = 200
MACHINE_WAIT = timedelta(seconds=30)  # intent and knowledge answers


class FlowMismatch(ValueError):
    """A state advanced with another flow (or version) than it started with."""


def start(flow: spec.Flow, context: act.Context, now: datetime) -> tuple[act.State, list[Any]]:
    """A new conversation at the flow's start, after what the customer already said."""
    asked = (context.language or "").split("-")[0].lower()  # "pt-BR" speaks "pt"
    language = asked if asked in flow.languages else flow.languages[0]
    state = act.State(
        flow_id=flow.id,
        flow_version=flow.version,
        channel=context.channel,
        language=language,
        step=flow.start,
        slots={k: v for k, v in context.slots.items() if k in flow.context_slots},
        assurance=context.assurance,
        started_at=now,
        updated_at=now,
    )
    turn = _Turn(flow, state, now)
    message = (context.message or "").strip()[: spec.MAX_TEXT]
    if message:
        turn.heard(message)
        state.pending = state.last_message = message
        if asks_for_person(message):
            turn.handoff("customer_asked")
            return state, turn.out
    turn.goto(flow.start)
    return state, turn.out


def advance(
    flow: spec.Flow, state: act.State, given: act.Input, now: datetime
) -> tuple[act.State, list[Any]]:
    """The conversation after one input; `state` itself is left as it was."""
    if (state.flow_id, state.flow_version) != (flow.id, flow.version):
        raise FlowMismatch(
            f"the state is of flow {state.flow_id!r} v{state.flow_version}, "
            f"not {flow.id!r} v{flow.version}"
        )
    state = state.model_copy(deep=True)
    if state.waiting == "done":
        return state, []
    state.updated_at = now
    turn = _Turn(flow, state, now)
    turn.receive(given)
    return state, turn.out


class _Turn:
    """One turn of a conversation: the state being changed and the actions said so far."""

    def __init__(self, flow: spec.Flow, state: act.State, now: datetime) -> None:
        self.flow, self.state, self.now = flow, state, now
        self.out: list[Any] = []

    # ---- moving between steps -------------------------------------------------------------

    def goto(self, step_id: str) -> None:
        """Arrive at a step and go on until one waits or the conversation ends."""
        target: str | None = step_id
        for _ in range(MAX_HOPS):
            if target is None:
                return
            step = self.flow.step(target)
            state = self.state
            state.step, state.attempts, state.phase = target, 0, ""
            state.choices, state.request, state.deadline = [], None, None
            target = self.enter(step)
        self.handoff("flow_loop")

    def enter(self, step: spec.Step) -> str | None:
        """What arriving at a step does; the next step when it does not wait."""
        if isinstance(step, spec.Say):
            self.say(self.text(step.text))
            return step.next
        if isinstance(step, spec.Route):
            return self.route(step)
        if isinstance(step, spec.Ask):
            if step.slot in self.state.slots and not step.always:
                return step.next
            self.ask(step, self.text(step.prompt))
            return None
        if isinstance(step, spec.Branch):
            return self.branch(step)
        if isinstance(step, spec.Answer):
            query = self.fill(step.query)
            self.wait("knowledge", MACHINE_WAIT)
            self.emit(
                act.RequestKnowledge(
                    request=self.new_request(), query=query, language=self.state.language
                )
            )
            return None
        if isinstance(step, spec.Call):
            self.call(step)
            return None
        if isinstance(step, spec.Verify):
            if _rank(self.state.assurance) >= _rank(step.level):
                return step.next
            self.wait("verification", timedelta(seconds=step.timeout_s))
            self.emit(act.RequireVerification(request=self.new_request(), level=step.level))
            return None
        if isinstance(step, spec.Handoff):
            self.handoff(step.reason, step)
            return None
        self.end(step)
        return None

    def route(self, step: spec.Route) -> str:
        state = self.state
        state.queue = step.queue or state.queue
        state.skills = list(dict.fromkeys([*state.skills, *step.skills]))
        state.priority = step.priority if step.priority is not None else state.priority
        self.emit(act.SetRouting(queue=state.queue, skills=state.skills, priority=state.priority))
        return step.next

    def branch(self, step: spec.Branch) -> str | None:
        for rule in step.rules:
            if _holds(rule, self.state.slots.get(rule.slot)):
                return rule.goto
        if not step.intents:
            return step.otherwise
        if self.state.pending:
            self.classify()
        else:
            self.prompt(step)
        return None

    def classify(self) -> None:
        text, self.state.pending = self.state.pending or "", None
        self.wait("intent", MACHINE_WAIT)
        self.emit(
            act.ClassifyIntent(request=self.new_request(), text=text, language=self.state.language)
        )

    def prompt(self, step: spec.Branch) -> None:
        text = self.text(step.prompt or {})
        self.wait("customer", timedelta(seconds=step.timeout_s), phase="prompt")
        self.emit(act.Ask(text=text, language=self.state.language))
        self.said(text)

    def call(self, step: spec.Call) -> None:
        self.wait("backend", timedelta(seconds=step.timeout_s))
        self.emit(
            act.CallBackend(
                request=self.new_request(),
                url=self.fill(step.url, quote=True),
                method=step.method,
                payload={k: self.fill(v) for k, v in step.payload.items()},
                timeout_s=step.timeout_s,
                attempt=self.state.attempts + 1,
            )
        )

    # ---- what the conversation says --------------------------------------------------------

    def ask(self, step: spec.Ask, text: str) -> None:
        self.wait("customer", timedelta(seconds=step.timeout_s), phase="ask")
        if step.type == "choice":
            items = [act.ChoiceItem(id=o.id, label=self.text(o.label)) for o in step.options]
            self.present(text, items)
        else:
            self.emit(
                act.Ask(text=text, language=self.state.language, slot=step.slot, expect=step.type)
            )
            self.said(text)

    def present(self, text: str, items: list[act.ChoiceItem]) -> None:
        self.state.choices = items
        ui = {key: self.message(key) for key in UI_KEYS}
        self.emit(act.PresentChoices(text=text, language=self.state.language, choices=items, ui=ui))
        self.said(text + " " + " / ".join(i.label for i in items))

    def say(self, text: str) -> None:
        self.emit(act.Say(text=text, language=self.state.language))
        self.said(text)

    def handoff(self, reason: str, step: spec.Handoff | None = None) -> None:
        state = self.state
        if step is not None:
            state.queue = step.queue or state.queue
            state.skills = list(dict.fromkeys([*state.skills, *step.skills]))
            state.priority = step.priority if step.priority is not None else state.priority
        custom = step.text if step is not None and step.text else None
        self.say(self.text(custom) if custom else self.message("handoff"))
        self.finish("handoff")
        self.emit(
            act.HandOff(
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
        )

    def end(self, step: spec.End) -> None:
        if step.text:
            self.say(self.text(step.text))
        self.finish("end", deflected=step.deflected)
        article = self.state.article_id if step.deflected else None
        self.emit(
            act.EndConversation(
                deflected=step.deflected,
                reason=step.id,
                intent=self.state.intent,
                article_id=article,
            )
        )

    def left(self) -> None:
        """The customer went quiet after an answer they did not rate: the bot stops, and
        nothing counts as deflected."""
        self.finish("end")
        self.emit(
            act.EndConversation(
                deflected=False, reason="no_reply", intent=self.state.intent, article_id=None
            )
        )

    def finish(self, outcome: Literal["handoff", "end"], *, deflected: bool = False) -> None:
        state = self.state
        state.outcome, state.deflected, state.waiting = outcome, deflected, "done"
        state.phase, state.choices, state.request, state.deadline = "", [], None, None

    # ---- receiving ------------------------------------------------------------------------

    def receive(self, given: act.Input) -> None:
        if given.kind in act.CUSTOMER_INPUTS:
            if self.from_customer(given):
                return
            if self.state.waiting == "customer":
                self.reply(given)
            return
        if isinstance(given, act.Timeout):
            self.timed_out()
            return
        request = getattr(given, "request", None)
        if given.kind != self.state.waiting or request not in (None, self.state.request):
            return  # late, or an answer to something no longer asked
        if isinstance(given, act.IntentPrediction):
            self.intent(given.ranked)
        elif isinstance(given, act.KnowledgeResult):
            self.knowledge(given)
        elif isinstance(given, act.BackendResponse):
            self.backend(given)
        elif isinstance(given, act.VerificationResult):
            self.verified(given.level)

    def from_customer(self, given: act.Input) -> bool:
        """Record what the customer said; True when it asked for a person (and got one)."""
        if isinstance(given, act.Choice):
            label = next((c.label for c in self.state.choices if c.id == given.choice), None)
            self.heard(label or given.choice)
            wants_person = given.choice == AGENT_CHOICE
        elif isinstance(given, act.Digits):
            self.heard(given.digits)
            wants_person = given.digits == AGENT_DIGIT
        else:
            text = str(getattr(given, "text", ""))
            self.heard(text)
            self.state.last_message = text.strip()[: spec.MAX_TEXT] or self.state.last_message
            wants_person = asks_for_person(text) or (
                bool(self.state.choices) and text.strip() == AGENT_DIGIT
            )
        if wants_person:
            self.handoff("customer_asked")
        return wants_person

    def reply(self, given: act.Input) -> None:
        step = self.flow.step(self.state.step)
        if self.state.phase == "ask" and isinstance(step, spec.Ask):
            self.answer_slot(step, given)
        elif self.state.phase == "prompt" and isinstance(step, spec.Branch):
            text = _text_of(given)
            if text:
                self.state.pending = text[: spec.MAX_TEXT]
                self.classify()
            else:
                self.not_understood(step)
        elif self.state.phase == "clarify" and isinstance(step, spec.Branch):
            self.clarified(step, given)
        elif self.state.phase == "confirm" and isinstance(step, spec.Answer):
            self.confirmed(step, given)

    def answer_slot(self, step: spec.Ask, given: act.Input) -> None:
        value: spec.Scalar = None
        if isinstance(given, act.Choice):
            if step.type == "choice" and given.choice in {o.id for o in step.options}:
                value = given.choice
        elif text := _text_of(given):
            value = read(step, text, self.now.date())
        if value is None:
            self.not_understood(step)
            return
        self.state.slots[step.slot] = value
        self.goto(step.next)

    def not_understood(self, step: spec.Ask | spec.Branch) -> None:
        """An answer the step cannot use (or none by the deadline): ask again, up to the
        step's attempts, then give up on it."""
        self.state.attempts += 1
        if self.state.attempts >= step.max_attempts:
            self.give_up(step)
        elif isinstance(step, spec.Ask):
            self.ask(step, self.text(step.reprompt))
        else:
            self.say(self.message("not_understood"))
            self.prompt(step)

    def give_up(self, step: spec.Ask | spec.Branch) -> None:
        if isinstance(step, spec.Branch):
            self.goto(step.otherwise)
        elif step.on_fail:
            self.goto(step.on_fail)
        else:
            self.handoff("not_understood")

    def timed_out(self) -> None:
        state = self.state
        step = self.flow.step(state.step)
        if state.waiting == "customer":
            if isinstance(step, spec.Ask | spec.Branch):
                self.not_understood(step)
            else:
                self.left()
        elif state.waiting == "intent" and isinstance(step, spec.Branch):
            self.intent([])
        elif state.waiting == "knowledge" and isinstance(step, spec.Answer):
            self.goto(step.missing or step.not_helped)
        elif state.waiting == "backend" and isinstance(step, spec.Call):
            self.backend(act.BackendResponse(ok=False))
        elif state.waiting == "verification" and isinstance(step, spec.Verify):
            self.goto(step.on_fail)

    # ---- answers to what the engine asked for ---------------------------------------------

    def intent(self, ranked: list[act.IntentScore]) -> None:
        """Go where a confident intent says; when unsure, ask the customer to pick among
        the likeliest (never a guess); a confident intent the flow does not handle, or
        too many rounds, goes to `otherwise`."""
        step = self.flow.step(self.state.step)
        if not isinstance(step, spec.Branch):
            return
        ranked = sorted(ranked, key=lambda s: -s.confidence)
        routes = {r.intent: r for r in step.intents}
        if ranked:
            self.state.intent, self.state.confidence = ranked[0].intent, ranked[0].confidence
        if ranked and ranked[0].confidence >= step.threshold:
            top = routes.get(ranked[0].intent)
            self.goto(top.goto if top else step.otherwise)
            return
        self.state.attempts += 1
        if self.state.attempts >= step.max_attempts:
            self.goto(step.otherwise)
            return
        likely = [routes[s.intent] for s in ranked if s.intent in routes][: step.clarify_choices]
        if not likely:
            self.say(self.message("not_understood"))
            self.prompt(step)
            return
        self.wait("customer", timedelta(seconds=step.timeout_s), phase="clarify")
        items = [act.ChoiceItem(id=r.intent, label=self.text(r.label)) for r in likely]
        items.append(act.ChoiceItem(id=OTHER_CHOICE, label=self.message("other")))
        self.present(self.message("clarify"), items)

    def clarified(self, step: spec.Branch, given: act.Input) -> None:
        picked = self.picked(given)
        routes = {r.intent: r for r in step.intents}
        if picked in routes:
            self.state.intent = picked
            self.goto(routes[picked].goto)
        elif picked == OTHER_CHOICE or (text := _text_of(given)) is None:
            self.not_understood(step)
        else:  # the customer said it again in other words
            self.state.pending = text[: spec.MAX_TEXT]
            self.classify()

    def knowledge(self, found: act.KnowledgeResult) -> None:
        step = self.flow.step(self.state.step)
        if not isinstance(step, spec.Answer):
            return
        if not found.found or not found.text.strip():
            self.goto(step.missing or step.not_helped)
            return
        self.state.article_id = found.article_id
        self.say(found.text + (f"\n{found.url}" if found.url else ""))
        self.wait("customer", timedelta(seconds=step.timeout_s), phase="confirm")
        self.present(
            self.message("helped"),
            [
                act.ChoiceItem(id=YES_CHOICE, label=self.message("yes")),
                act.ChoiceItem(id=NO_CHOICE, label=self.message("no")),
            ],
        )

    def confirmed(self, step: spec.Answer, given: act.Input) -> None:
        picked = self.picked(given)
        text = _text_of(given)
        if picked is None and text is not None:
            picked = yes_or_no(text)
        if picked == YES_CHOICE:
            self.goto(step.helped)
            return
        if picked != NO_CHOICE and text:
            self.state.pending = text[: spec.MAX_TEXT]  # not a yes or no: a new question?
        self.state.article_id = None
        self.goto(step.not_helped)

    def backend(self, response: act.BackendResponse) -> None:
        step = self.flow.step(self.state.step)
        if not isinstance(step, spec.Call):
            return
        if response.ok:
            for path, slot in step.fills.items():
                value = dig(response.body, path)
                if value is not None:
                    self.state.slots[slot] = value
            self.goto(step.next)
            return
        self.state.attempts += 1
        if self.state.attempts > step.retries:
            self.goto(step.on_error)
        else:
            self.call(step)

    def verified(self, level: spec.Level) -> None:
        step = self.flow.step(self.state.step)
        if not isinstance(step, spec.Verify):
            return
        if _rank(level) > _rank(self.state.assurance):
            self.state.assurance = level
        self.goto(step.next if _rank(level) >= _rank(step.level) else step.on_fail)

    # ---- small parts ----------------------------------------------------------------------

    def picked(self, given: act.Input) -> str | None:
        """The id of the presented choice an input names (a tap, a key, "2", a label)."""
        ids = {c.id for c in self.state.choices}
        if isinstance(given, act.Choice):
            return given.choice if given.choice in ids else None
        text = _text_of(given)
        if text is None:
            return None
        return match_choice([ChoiceText(c.id, (c.label,)) for c in self.state.choices], text)

    def wait(self, waiting: act.Waiting, within: timedelta, *, phase: act.Phase = "") -> None:
        self.state.waiting, self.state.phase = waiting, phase
        self.state.deadline = self.now + within
        self.state.choices = []

    def new_request(self) -> str:
        self.state.seq += 1
        self.state.request = f"{self.state.step}.{self.state.seq}"
        return self.state.request

    def emit(self, action: Any) -> None:
        self.out.append(action)

    def heard(self, text: str) -> None:
        self._log("customer", text)

    def said(self, text: str) -> None:
        self._log("bot", text)

    def _log(self, by: Any, text: str) -> None:
        transcript = self.state.transcript
        transcript.append(act.TranscriptEntry(at=self.now, by=by, text=text[: spec.MAX_TEXT]))
        del transcript[: -act.MAX_TRANSCRIPT]

    def text(self, texts: spec.Texts) -> str:
        language = self.state.language
        return texts.get(language) or texts.get(self.flow.languages[0], "")

    def message(self, key: str) -> str:
        return self.flow.message(key, self.state.language)

    def fill(self, template: str, *, quote: bool = False) -> str:
        """A template with its placeholders filled ({message}, {language}, {intent},
        {slots.NAME}); in a URL, the values are percent-encoded."""
        state = self.state

        def value(match: re.Match[str]) -> str:
            name = match[1]
            if name.startswith("slots."):
                found = state.slots.get(name.removeprefix("slots."))
                text = "" if found is None else str(found)
            else:
                text = {
                    "message": state.last_message,
                    "language": state.language,
                    "intent": state.intent or "",
                }.get(name, "")
            return urllib.parse.quote(text, safe="") if quote else text

        return spec.PLACEHOLDER.sub(value, template)


def _text_of(given: act.Input) -> str | None:
    if isinstance(given, act.Message | act.Speech):
        return given.text.strip() or None
    if isinstance(given, act.Digits):
        return given.digits or None
    return None


def _rank(level: str) -> int:
    return LEVELS.index(level)


def _holds(rule: spec.SlotRule, value: spec.Scalar) -> bool:
    if rule.op == "present":
        return value is not None
    if rule.op == "absent":
        return value is None
    if value is None:
        return False
    if rule.op == "eq":
        return _same(value, rule.value)
    if rule.op == "ne":
        return not _same(value, rule.value)
    if rule.op == "in":
        return isinstance(rule.value, list) and any(_same(value, v) for v in rule.value)
    if rule.op == "matches":
        return re.search(str(rule.value), str(value)) is not None
    left, right = (
        number_of(value),
        number_of(rule.value if not isinstance(rule.value, list) else None),
    )
    if left is None or right is None:
        return False
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[
        rule.op
    ]


def _same(value: spec.Scalar, expected: Any) -> bool:
    if isinstance(value, str) and isinstance(expected, str):
        return value.casefold() == expected.casefold()
    return bool(value == expected)
