"""Properties of the engine over any valid flow and any sequence of inputs (hypothesis):

- it never raises, and after every turn the conversation either waits (for the customer by
  a deadline, or for the answer to a request it made) or is done with one hand-off or end;
- "talk to a person" (words, the button, DTMF 0) from any state hands off with every slot
  collected so far;
- the state round-trips through JSON, and a restored state goes on exactly as the original;
- an answer to a request the conversation no longer waits for changes nothing.

The flows are built at random from every kind of step; that each one passes validation is
itself checked (the generator only builds flows that should).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadline.selfservice.flows import actions as a
from threadline.selfservice.flows.engine import advance, start
from threadline.selfservice.flows.schemas import LEVELS, Flow, load_flow

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
INTENTS = ["pin", "card", "loan", "fraud"]
SLOT_KINDS = ["account_number", "date", "amount", "choice", "free_text"]
OPTIONS = ["one", "two", "three"]
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def texts(languages: list[str]) -> dict[str, str]:
    return {code: f"text {code}" for code in languages}


@st.composite
def flows(draw: st.DrawFn) -> Flow:
    languages = draw(
        st.lists(
            st.sampled_from(["en", "pt", "es", "ru", "el"]), min_size=1, max_size=3, unique=True
        )
    )
    body = draw(
        st.lists(
            st.sampled_from(["say", "ask", "branch", "answer", "call", "route", "verify"]),
            min_size=1,
            max_size=12,
        )
    )
    ends = draw(st.lists(st.sampled_from(["handoff", "end"]), min_size=1, max_size=3))
    kinds = body + ends
    ids = [f"s{i}" for i in range(len(kinds))]
    ask_kinds = {i: draw(st.sampled_from(SLOT_KINDS)) for i, k in enumerate(kinds) if k == "ask"}
    filled = [f"slot_{t}" for t in ask_kinds.values()] + ["ctx", "from_backend"]

    def later(i: int) -> str:
        return ids[draw(st.integers(i + 1, len(kinds) - 1))]

    steps = []
    for i, kind in enumerate(kinds):
        step: dict[str, Any] = {"id": ids[i], "kind": kind}
        if kind == "say":
            step |= {"text": texts(languages), "next": later(i)}
        elif kind == "ask":
            step |= ask_step(draw, ask_kinds[i], languages, later(i))
            if draw(st.booleans()):
                step["on_fail"] = later(i)
        elif kind == "branch":
            step |= branch_step(draw, languages, filled, lambda i=i: later(i))
        elif kind == "answer":
            step |= {"query": "{message} {slots.ctx}", "helped": later(i), "not_helped": later(i)}
        elif kind == "call":
            step |= {
                "url": "https://bank.example/x/{slots.ctx}",
                "payload": {"m": "{message}"},
                "retries": draw(st.integers(0, 2)),
                "fills": {"value": "from_backend"},
                "next": later(i),
                "on_error": later(i),
            }
        elif kind == "route":
            step |= {
                "queue": draw(st.sampled_from([None, "Cards", "General"])),
                "skills": draw(st.lists(st.sampled_from(["cards", "pt", "vip"]), max_size=2)),
                "priority": draw(st.none() | st.integers(0, 10)),
                "next": later(i),
            }
        elif kind == "verify":
            step |= {"level": draw(st.sampled_from(LEVELS)), "next": later(i), "on_fail": later(i)}
        elif kind == "handoff":
            step |= {"reason": "r", "queue": draw(st.sampled_from([None, "Cards"]))}
        else:
            step |= {"deflected": draw(st.booleans())}
        steps.append(step)
    steps = reachable(steps)
    return load_flow(
        {
            "id": "gen",
            "version": 1,
            "languages": languages,
            "start": "s0",
            "steps": steps,
            "context_slots": ["ctx"],
        }
    )


def ask_step(draw: st.DrawFn, kind: str, languages: list[str], next_id: str) -> dict[str, Any]:
    step: dict[str, Any] = {
        "slot": f"slot_{kind}",
        "type": kind,
        "prompt": texts(languages),
        "reprompt": texts(languages),
        "next": next_id,
        "max_attempts": draw(st.integers(1, 3)),
        "always": draw(st.booleans()),
    }
    if kind == "choice":
        step["options"] = [{"id": o, "label": texts(languages)} for o in OPTIONS]
    if kind == "account_number":
        step["checksum"] = draw(st.sampled_from(["none", "luhn"]))
    return step


def branch_step(
    draw: st.DrawFn, languages: list[str], filled: list[str], later: Any
) -> dict[str, Any]:
    step: dict[str, Any] = {
        "otherwise": later(),
        "max_attempts": draw(st.integers(1, 3)),
        "threshold": draw(st.floats(0, 1)),
    }
    rules = []
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(["eq", "present", "absent", "gt", "in", "matches"]))
        value: Any = {"eq": "one", "gt": 10, "in": ["one", "two"], "matches": "^1"}.get(op)
        rules.append(
            {"slot": draw(st.sampled_from(filled)), "op": op, "value": value, "goto": later()}
        )
    intents = draw(st.lists(st.sampled_from(INTENTS), unique=True, max_size=3))
    if not rules and not intents:
        intents = ["pin"]
    step["rules"] = rules
    if intents:
        step["prompt"] = texts(languages)
        step["intents"] = [
            {"intent": n, "goto": later(), "label": texts(languages)} for n in intents
        ]
    return step


def reachable(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {s["id"]: s for s in steps}
    seen, todo = {"s0"}, ["s0"]
    while todo:
        step = by_id[todo.pop()]
        targets = [
            step.get(k)
            for k in ("next", "on_fail", "otherwise", "helped", "not_helped", "on_error")
        ]
        targets += [r["goto"] for r in step.get("rules", []) + step.get("intents", [])]
        for target in targets:
            if target and target not in seen:
                seen.add(target)
                todo.append(target)
    kept = [s for s in steps if s["id"] in seen]
    filled = {s["slot"] for s in kept if s["kind"] == "ask"} | {"ctx"}
    filled |= {"from_backend" for s in kept if s["kind"] == "call"}
    for step in kept:
        for rule in step.get("rules", []):
            rule["slot"] = rule["slot"] if rule["slot"] in filled else "ctx"
    return kept


CUSTOMER_TEXTS = [
    "hello",
    "yes",
    "não",
    "2",
    "1",
    "12",
    "4539 1488 0343 6467",
    "tomorrow",
    "12,50 €",
    "one",
    "three",
    "what about my card",
    "",
    "0",
    "σήμερα",
]


@st.composite
def inputs(draw: st.DrawFn) -> tuple[Any, bool]:
    """An input, and whether it echoes the state's request (when it has one)."""
    echo = draw(st.booleans())
    request = draw(st.sampled_from([None, "s1.1", "bogus"]))
    kind = draw(
        st.sampled_from(
            [
                "message",
                "choice",
                "digits",
                "speech",
                "intent",
                "knowledge",
                "backend",
                "verification",
                "timeout",
            ]
        )
    )
    if kind == "message":
        return a.Message(text=draw(st.sampled_from(CUSTOMER_TEXTS) | st.text(max_size=30))), echo
    if kind == "choice":
        ids = [*OPTIONS, *INTENTS, "yes", "no", "other", "nonsense"]
        return a.Choice(choice=draw(st.sampled_from(ids))), echo
    if kind == "digits":
        return a.Digits(digits=draw(st.text(alphabet="123456789#*", max_size=6))), echo
    if kind == "speech":
        return a.Speech(text=draw(st.sampled_from(CUSTOMER_TEXTS))), echo
    if kind == "intent":
        ranked = draw(
            st.lists(
                st.builds(
                    a.IntentScore,
                    intent=st.sampled_from([*INTENTS, "unknown"]),
                    confidence=st.floats(0, 1),
                ),
                max_size=4,
            )
        )
        return a.IntentPrediction(request=request, ranked=ranked), echo
    if kind == "knowledge":
        return a.KnowledgeResult(
            request=request,
            found=draw(st.booleans()),
            article_id=draw(st.none() | st.just("kb-1")),
            text=draw(st.sampled_from(["", "Do this."])),
        ), echo
    if kind == "backend":
        body = draw(st.sampled_from([{}, {"value": 12}, {"value": {"deep": 1}}, {"value": "x"}]))
        return a.BackendResponse(request=request, ok=draw(st.booleans()), body=body), echo
    if kind == "verification":
        return a.VerificationResult(request=request, level=draw(st.sampled_from(LEVELS))), echo
    return a.Timeout(), echo


def echoed(given: Any, state: a.State, echo: bool) -> Any:
    if echo and hasattr(given, "request") and state.request:
        return given.model_copy(update={"request": state.request})
    return given


ANSWERS = {
    "account_number": ["4539 1488 0343 6467", "1234", "12"],
    "date": ["tomorrow", "2026-12-01", "31/02"],
    "amount": ["12,50 €", "$3", "lots"],
    "choice": ["two", "1", "nine"],
    "free_text": ["it is about my card", ""],
}


@st.composite
def fitting(draw: st.DrawFn, flow: Flow, state: a.State) -> Any:
    """An input of the kind the conversation waits for (often a good one), so that random
    runs get deep into flows instead of being ignored at their first step."""
    if draw(st.integers(0, 5)) == 0:
        return a.Timeout()
    if state.waiting == "customer":
        step = flow.step(state.step)
        pool = ["yes", "no", "something else", *CUSTOMER_TEXTS[:3]]
        pool += ANSWERS.get(getattr(step, "type", ""), [])
        ids = [c.id for c in state.choices]
        if ids and draw(st.booleans()):
            return a.Choice(choice=draw(st.sampled_from(ids)))
        text = draw(st.sampled_from(pool))
        return draw(st.sampled_from([a.Message(text=text), a.Speech(text=text)]))
    if state.waiting == "intent":
        intents = [r.intent for r in getattr(flow.step(state.step), "intents", [])]
        ranked = draw(
            st.lists(
                st.builds(
                    a.IntentScore,
                    intent=st.sampled_from([*intents, "unknown"]),
                    confidence=st.floats(0, 1),
                ),
                max_size=4,
            )
        )
        return a.IntentPrediction(request=state.request, ranked=ranked)
    if state.waiting == "knowledge":
        return a.KnowledgeResult(
            request=state.request,
            found=draw(st.booleans()),
            article_id="kb-1",
            text="Do this.",
            url=draw(st.none() | st.just("https://help.example/1")),
        )
    if state.waiting == "backend":
        return a.BackendResponse(
            request=state.request,
            ok=draw(st.booleans()),
            body={"value": draw(st.sampled_from([1, "x", None]))},
        )
    return a.VerificationResult(request=state.request, level=draw(st.sampled_from(LEVELS)))


def next_input(data: st.DataObject, flow: Flow, state: a.State) -> Any:
    if state.waiting != "done" and data.draw(st.integers(0, 3), label="fits") > 0:
        return data.draw(fitting(flow, state), label="input")
    item, echo = data.draw(inputs(), label="input")
    return echoed(item, state, echo)


def check_turn(flow: Flow, state: a.State, out: list[Any]) -> None:
    endings = [x for x in out if isinstance(x, a.HandOff | a.EndConversation)]
    assert len(endings) <= 1
    if state.waiting == "done":
        assert state.outcome in ("handoff", "end")
        assert state.deadline is None and state.request is None
    else:
        assert not endings
        assert state.outcome is None
        assert state.deadline is not None and state.deadline > state.started_at
        flow.step(state.step)  # a real step
        if state.waiting == "customer":
            assert state.phase in ("ask", "prompt", "clarify", "confirm")
        else:
            assert state.phase == "" and state.request is not None
    if endings:
        assert state.waiting == "done"
        ending = endings[0]
        assert out[-1] is ending  # nothing is said after the conversation ends
        if isinstance(ending, a.HandOff):
            assert ending.slots == state.slots


def restored(state: a.State) -> a.State:
    again = a.State.model_validate_json(state.model_dump_json())
    assert again == state
    return again


@FAST
@given(flows(), st.sampled_from(["en", "pt", "xx"]), st.data())
def test_any_flow_any_inputs_never_raises_and_always_waits_or_ends(
    flow: Flow, language: str, data: st.DataObject
) -> None:
    now = NOW
    first = data.draw(st.sampled_from([None, None, "hello", "my card", "agent"]), label="first")
    state, out = start(
        flow, a.Context(channel="sms", language=language, message=first, slots={"ctx": "7"}), now
    )
    check_turn(flow, state, out)
    for _ in range(data.draw(st.integers(0, 25), label="turns")):
        if state.waiting == "done" and data.draw(st.booleans(), label="stop"):
            break
        now += timedelta(seconds=3)
        one = next_input(data, flow, state)
        following, out = advance(flow, state, one, now)
        check_turn(flow, following, out)
        assert advance(flow, restored(state), one, now) == (following, out)
        if getattr(one, "request", None) not in (None, state.request):  # a stale answer
            assert out == []
            assert following.model_copy(update={"updated_at": state.updated_at}) == state
        state = following
    restored(state)


PERSON = [
    a.Message(text="talk to a person"),
    a.Speech(text="оператор"),
    a.Digits(digits="0"),
    a.Choice(choice="agent"),
    a.Message(text="Quero falar com uma pessoa"),
]


@FAST
@given(flows(), st.sampled_from(PERSON), st.data())
def test_talk_to_a_person_from_any_state_hands_off_with_the_slots_so_far(
    flow: Flow, person: Any, data: st.DataObject
) -> None:
    now = NOW
    state, _ = start(flow, a.Context(channel="chat", slots={"ctx": 1}), now)
    for _ in range(data.draw(st.integers(0, 15), label="turns")):
        if state.waiting == "done":
            break
        now += timedelta(seconds=3)
        _, out = advance(flow, state, person, now)
        handoff = [x for x in out if isinstance(x, a.HandOff)]
        assert len(handoff) == 1
        assert handoff[0].reason == "customer_asked"
        assert handoff[0].slots == state.slots
        assert handoff[0].intent == state.intent
        state, _ = advance(flow, state, next_input(data, flow, state), now)
