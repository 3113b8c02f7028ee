"""A flow definition: the versioned, validated script the bot and the IVR both run.

A flow names its languages, its first step and its steps. Every text a customer sees or
hears is given per language, and validation refuses a flow that could misbehave at run time:
a reference to a step that does not exist, a step nothing leads to, a loop with no way out
(or one that would spin without waiting for anybody), a text missing in a declared language,
a slot used as two kinds, or read where nothing fills it. Each problem names its step.

`load_flow(data)` is the way in from JSON (admin UI, files): it raises FlowInvalid with one
clear message per problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from threadline.selfservice.flows.messages import AGENT_CHOICE, BUILTIN, MESSAGE_KEYS, OTHER_CHOICE
from threadline.verification.assurance import LEVELS

Level = Literal["none", "identified", "verified", "strong"]
if get_args(Level) != LEVELS:
    raise RuntimeError("Level must list verification's assurance levels, in order")

Texts = dict[str, str]  # language code -> text
Scalar = str | int | float | bool | None  # what a slot holds (JSON)
ID = r"^[a-z][a-z0-9_]{0,63}$"
StepId = Annotated[str, Field(pattern=ID)]
SlotName = Annotated[str, Field(pattern=ID)]
# Placeholders in templates: {message} (the customer's last message), {language},
# {intent}, {slots.NAME}.
PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[a-z][a-z0-9_]*)?)\}")
PLAIN_PLACEHOLDERS = frozenset({"message", "language", "intent"})
MAX_STEPS = 500
MAX_TEXT = 4096


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Model):
    """One answer to a choice question: what it is called in each language, and other words
    a customer may type or say for it."""

    id: Annotated[str, Field(pattern=ID)]
    label: Texts
    synonyms: dict[str, list[str]] = Field(default_factory=dict)


SlotKind = Literal["account_number", "date", "amount", "choice", "free_text"]
Checksum = Literal["none", "luhn", "iban"]


class _Step(_Model):
    id: StepId

    def targets(self) -> Iterator[tuple[str, str]]:
        """(field, step id) for every step this one may go to."""
        return iter(())

    def texts(self) -> Iterator[tuple[str, Mapping[str, str]]]:
        """(field, texts) for every text the customer may see or hear."""
        return iter(())


class Say(_Step):
    """Say something, then go on."""

    kind: Literal["say"] = "say"
    text: Texts
    next: StepId

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next

    def texts(self) -> Iterator[tuple[str, Mapping[str, str]]]:
        yield "text", self.text


class Ask(_Step):
    """Ask for a slot and check the answer: an account number (a pattern on its digits, and
    a checksum), a date, an amount with its currency, one of the options, or free text. An
    answer that does not check out is asked again (`reprompt`), up to `max_attempts`; then
    the flow goes to `on_fail` (a hand-off when not given). A slot already filled (by the
    customer earlier, the context, or the backend) is not asked again, unless `always`."""

    kind: Literal["ask"] = "ask"
    slot: SlotName
    type: SlotKind
    prompt: Texts
    reprompt: Texts
    next: StepId
    on_fail: StepId | None = None
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    always: bool = False
    timeout_s: Annotated[int, Field(ge=5, le=86_400)] = 600
    # account_number: the digits (spaces and dashes dropped) must match `pattern`
    pattern: str | None = None
    checksum: Checksum = "none"
    # date: how far back and ahead of today an answer may be (None: no limit)
    min_days: int | None = None
    max_days: int | None = None
    # amount: the currencies accepted, the first when the customer names none
    currencies: list[Annotated[str, Field(pattern=r"^[A-Z]{3}$")]] = Field(
        default_factory=lambda: ["EUR"]
    )
    # choice
    options: list[Option] = Field(default_factory=list)
    # free_text
    max_length: Annotated[int, Field(ge=1, le=MAX_TEXT)] = 500

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next
        if self.on_fail:
            yield "on_fail", self.on_fail

    def texts(self) -> Iterator[tuple[str, Mapping[str, str]]]:
        yield "prompt", self.prompt
        yield "reprompt", self.reprompt
        for option in self.options:
            yield f"options.{option.id}.label", option.label


class IntentRoute(_Model):
    """Where an intent leads, and how it is called on a clarify button."""

    intent: Annotated[str, Field(min_length=1, max_length=100)]
    goto: StepId
    label: Texts


SlotOp = Literal["eq", "ne", "in", "present", "absent", "gt", "gte", "lt", "lte", "matches"]


class SlotRule(_Model):
    """`slot op value` -> goto. gt/gte/lt/lte compare numbers (an amount's leading number);
    `in` takes a list; `matches` a regular expression; present/absent take no value."""

    slot: SlotName
    op: SlotOp
    value: Scalar | list[Scalar] = None
    goto: StepId


class Branch(_Step):
    """Go where the slots say (the first rule that holds), else where the customer's intent
    says. The intent comes from the customer's pending message (the one that started the
    conversation, or an answer the bot could not use), else from their answer to `prompt`.
    A prediction under `threshold` is not guessed: the customer picks among the likeliest
    intents (buttons, at most `clarify_choices`) or a person. What matches nothing, after
    `max_attempts`, goes to `otherwise`."""

    kind: Literal["branch"] = "branch"
    rules: list[SlotRule] = Field(default_factory=list)
    intents: list[IntentRoute] = Field(default_factory=list)
    prompt: Texts | None = None
    threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.6
    clarify_choices: Annotated[int, Field(ge=1, le=9)] = 3
    max_attempts: Annotated[int, Field(ge=1, le=5)] = 2
    timeout_s: Annotated[int, Field(ge=5, le=86_400)] = 600
    otherwise: StepId

    def targets(self) -> Iterator[tuple[str, str]]:
        for i, rule in enumerate(self.rules):
            yield f"rules[{i}].goto", rule.goto
        for route in self.intents:
            yield f"intents.{route.intent}.goto", route.goto
        yield "otherwise", self.otherwise

    def texts(self) -> Iterator[tuple[str, Mapping[str, str]]]:
        if self.prompt is not None:
            yield "prompt", self.prompt
        for route in self.intents:
            yield f"intents.{route.intent}.label", route.label


class Answer(_Step):
    """Answer from the knowledge base: the engine asks the caller for an answer to `query`
    (a template), says it, and asks whether it helped. Yes goes to `helped` (and counts the
    article as deflecting), no to `not_helped`; no article found goes to `missing` (or
    `not_helped`)."""

    kind: Literal["answer"] = "answer"
    query: Annotated[str, Field(min_length=1, max_length=500)] = "{message}"
    helped: StepId
    not_helped: StepId
    missing: StepId | None = None
    timeout_s: Annotated[int, Field(ge=5, le=86_400)] = 600

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "helped", self.helped
        yield "not_helped", self.not_helped
        if self.missing:
            yield "missing", self.missing


class Call(_Step):
    """Call the company's backend: the engine hands the caller a request (URL, payload from
    templates, timeout) to sign and send, and reads the response it is given back: `fills`
    maps a response field (dotted path) to the slot it fills. A failure or a timeout is
    tried again up to `retries` times, then the flow goes to `on_error`."""

    kind: Literal["call"] = "call"
    url: Annotated[str, Field(min_length=8, max_length=2000)]
    method: Literal["POST", "GET"] = "POST"
    payload: dict[str, str] = Field(default_factory=dict)
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    retries: Annotated[int, Field(ge=0, le=5)] = 1
    fills: dict[str, SlotName] = Field(default_factory=dict)
    next: StepId
    on_error: StepId

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next
        yield "on_error", self.on_error


class Route(_Step):
    """Set what the contact needs if it goes to a person: its queue, skills, priority."""

    kind: Literal["route"] = "route"
    queue: str | None = Field(default=None, min_length=1, max_length=100)
    skills: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(default_factory=list)
    priority: Annotated[int, Field(ge=0, le=10)] | None = None
    next: StepId

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next


class Verify(_Step):
    """Require an assurance level (none < identified < verified < strong): met already, the
    flow goes on; otherwise the caller is asked to verify the customer and says how it went;
    short of the level, the flow goes to `on_fail`."""

    kind: Literal["verify"] = "verify"
    level: Level
    next: StepId
    on_fail: StepId
    timeout_s: Annotated[int, Field(ge=5, le=86_400)] = 600

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next
        yield "on_fail", self.on_fail


class Handoff(_Step):
    """Hand the customer to a person, with everything collected; queue, skills and priority
    given here win over those set by earlier Route steps."""

    kind: Literal["handoff"] = "handoff"
    reason: Annotated[str, Field(min_length=1, max_length=100)]
    text: Texts | None = None
    queue: str | None = Field(default=None, min_length=1, max_length=100)
    skills: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(default_factory=list)
    priority: Annotated[int, Field(ge=0, le=10)] | None = None

    def texts(self) -> Iterator[tuple[str, Mapping[str, str]]]:
        if self.text is not None:
            yield "text", self.text


class End(_Step):
    """End the conversation; `deflected` when the bot solved it without a person."""

    kind: Literal["end"] = "end"
    text: Texts | None = None
    deflected: bool = True

    def texts(self) -> Iterator[tuple[str, Mapping[str, str]]]:
        if self.text is not None:
            yield "text", self.text


Step = Annotated[
    Say | Ask | Branch | Answer | Call | Route | Verify | Handoff | End, Field(discriminator="kind")
]
TERMINAL = (Handoff, End)


class Flow(_Model):
    """A versioned flow. A conversation keeps the version it started with."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    version: Annotated[int, Field(ge=1)]
    name: str = ""
    languages: Annotated[list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]], Field(min_length=1)]
    start: StepId
    steps: Annotated[list[Step], Field(min_length=1, max_length=MAX_STEPS)]
    messages: dict[str, dict[str, str]] = Field(default_factory=dict)
    # Slots the caller may fill when the conversation starts (what the app already knows)
    context_slots: list[SlotName] = Field(default_factory=list)
    _index: dict[str, Step] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _coherent(self) -> Flow:
        found = problems(self)
        if found:
            raise ValueError("\n".join(found))
        self._index = {s.id: s for s in self.steps}
        return self

    def step(self, step_id: str) -> Step:
        return self._index[step_id]

    def message(self, key: str, language: str) -> str:
        """A built-in text (MESSAGE_KEYS) in a language, as this flow overrides it."""
        return self.messages.get(language, {}).get(key) or BUILTIN[language][key]


class FlowInvalid(ValueError):
    """A flow definition that cannot run; `problems` says each thing wrong, by step."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def load_flow(data: Mapping[str, Any] | str) -> Flow:
    """A flow from its JSON (text or parsed); raises FlowInvalid."""
    try:
        if isinstance(data, str):
            return Flow.model_validate_json(data)
        return Flow.model_validate(data)
    except ValidationError as exc:
        raise FlowInvalid(_messages(exc, data)) from None


def _messages(exc: ValidationError, data: Mapping[str, Any] | str) -> list[str]:
    raw = data if isinstance(data, Mapping) else {}
    given = raw.get("steps")
    steps: list[Any] = given if isinstance(given, list) else []
    out: list[str] = []
    for error in exc.errors():
        loc = list(error["loc"])
        if error["type"] == "value_error" and not loc:
            message = str(error["ctx"].get("error", error["msg"]))
            out.extend(message.split("\n"))
            continue
        where = ".".join(str(part) for part in loc) or "flow"
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            index = loc[1]
            step = steps[index] if index < len(steps) and isinstance(steps[index], dict) else {}
            name = step.get("id") or f"#{index + 1}"
            rest = ".".join(str(p) for p in loc[3:]) or "kind"
            where = f"step {name!r}: {rest}"
        out.append(f"{where}: {error['msg']}")
    return out


# ---- the checks a flow must pass ---------------------------------------------------------


def problems(flow: Flow) -> list[str]:
    """Everything wrong with a flow whose fields are each well formed, one message a problem;
    empty when it can run."""
    ids = [s.id for s in flow.steps]
    duplicate = sorted({i for i in ids if ids.count(i) > 1})
    if duplicate:
        return [f"step {i!r}: more than one step has this id" for i in duplicate]
    by_id = {s.id: s for s in flow.steps}
    found = _languages(flow)
    for step in flow.steps:
        found.extend(_step_problems(flow, step))
    if flow.start not in by_id:
        return [*found, f"start: {flow.start!r} is not a step"]
    dangling = [
        f"step {s.id!r}: {name} {target!r} is not a step"
        for s in flow.steps
        for name, target in s.targets()
        if target not in by_id
    ]
    if dangling:  # what follows walks the references
        return found + dangling
    found.extend(_reachability(flow, by_id))
    found.extend(_slots(flow))
    return found


def _languages(flow: Flow) -> list[str]:
    found = []
    if len(set(flow.languages)) != len(flow.languages):
        found.append("languages: each language once")
    for code in sorted(set(flow.messages) - set(flow.languages)):
        found.append(f"messages: {code!r} is not one of the flow's languages")
    for code in flow.languages:
        given = flow.messages.get(code, {})
        unknown = sorted(set(given) - set(MESSAGE_KEYS))
        if unknown:
            found.append(f"messages.{code}: unknown keys {unknown}")
        missing = [k for k in MESSAGE_KEYS if not (given.get(k) or BUILTIN.get(code, {}).get(k))]
        if missing:
            found.append(f"messages.{code}: no built-in texts in {code!r}; give {missing}")
        press = given.get("press")
        if press is not None and not _template_ok(press, "label", "n"):
            found.append(f"messages.{code}.press: a text with {{label}} and {{n}}")
    return found


def _template_ok(text: str, *names: str) -> bool:
    try:
        text.format(**dict.fromkeys(names, ""))
    except (KeyError, IndexError, ValueError):
        return False
    return True


def _step_problems(flow: Flow, step: Step) -> list[str]:
    found = []
    for name, texts in step.texts():
        missing = [code for code in flow.languages if not (texts.get(code) or "").strip()]
        extra = sorted(set(texts) - set(flow.languages))
        if missing:
            found.append(f"step {step.id!r}: {name} has no text in {', '.join(missing)}")
        if extra:
            found.append(f"step {step.id!r}: {name} is in undeclared languages {extra}")
        too_long = [code for code, text in texts.items() if len(text) > MAX_TEXT]
        if too_long:
            found.append(f"step {step.id!r}: {name} is longer than {MAX_TEXT} characters")
    if isinstance(step, Ask):
        found.extend(_ask_problems(step))
    elif isinstance(step, Branch):
        found.extend(_branch_problems(step))
    elif isinstance(step, Call):
        parts = urlsplit(step.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            found.append(f"step {step.id!r}: url must be an http(s) URL")
    return found


def _ask_problems(step: Ask) -> list[str]:
    found = []
    if step.pattern is not None:
        try:
            re.compile(step.pattern)
        except re.error as exc:
            found.append(f"step {step.id!r}: pattern is not a regular expression ({exc})")
    if step.type == "choice":
        option_ids = [o.id for o in step.options]
        if len(step.options) < 2:
            found.append(f"step {step.id!r}: a choice needs at least two options")
        if len(set(option_ids)) != len(option_ids):
            found.append(f"step {step.id!r}: each option id once")
        if {AGENT_CHOICE, OTHER_CHOICE} & set(option_ids):
            found.append(
                f"step {step.id!r}: option ids {AGENT_CHOICE!r} and {OTHER_CHOICE!r} are reserved"
            )
    elif step.options:
        found.append(f"step {step.id!r}: options are only for a choice")
    if step.type != "account_number" and (step.pattern or step.checksum != "none"):
        found.append(f"step {step.id!r}: pattern and checksum are only for an account number")
    if step.min_days is not None and step.max_days is not None and step.min_days > step.max_days:
        found.append(f"step {step.id!r}: min_days is after max_days")
    return found


def _branch_problems(step: Branch) -> list[str]:
    found = []
    if not step.rules and not step.intents:
        found.append(f"step {step.id!r}: a branch needs rules, intents, or both")
    intents = [r.intent for r in step.intents]
    if len(set(intents)) != len(intents):
        found.append(f"step {step.id!r}: each intent once")
    if step.intents and step.prompt is None:
        found.append(f"step {step.id!r}: a branch on intent needs a prompt")
    for i, rule in enumerate(step.rules):
        needs_value = rule.op not in ("present", "absent")
        if needs_value == (rule.value is None):
            what = "needs a value" if needs_value else "takes no value"
            found.append(f"step {step.id!r}: rules[{i}] ({rule.op}) {what}")
        elif rule.op == "in" and not isinstance(rule.value, list):
            found.append(f"step {step.id!r}: rules[{i}] (in) needs a list")
        elif rule.op != "in" and isinstance(rule.value, list):
            found.append(f"step {step.id!r}: rules[{i}] ({rule.op}) takes one value")
        elif rule.op in ("gt", "gte", "lt", "lte") and not _number(rule.value):
            found.append(f"step {step.id!r}: rules[{i}] ({rule.op}) needs a number")
        elif rule.op == "matches":
            try:
                re.compile(str(rule.value))
            except re.error as exc:
                found.append(f"step {step.id!r}: rules[{i}] is not a regular expression ({exc})")
    return found


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _waits(step: Step) -> bool:
    """Whether arriving at a step always waits for someone (the customer, the classifier,
    the knowledge base, the backend): a loop through one cannot spin by itself."""
    if isinstance(step, Ask):
        return step.always
    if isinstance(step, Branch):
        return not step.rules  # rules may decide at once; an intent is always awaited
    return isinstance(step, Answer | Call)


def _reachability(flow: Flow, by_id: Mapping[str, Step]) -> list[str]:
    found = []
    edges = {s.id: [t for _, t in s.targets()] for s in flow.steps}
    reached = _closure([flow.start], edges)
    for step in flow.steps:
        if step.id not in reached:
            found.append(f"step {step.id!r}: unreachable from the start {flow.start!r}")
    reverse: dict[str, list[str]] = {s.id: [] for s in flow.steps}
    for source, targets in edges.items():
        for target in targets:
            reverse[target].append(source)
    # an Ask without on_fail hands off when the customer's answers never check out
    ends = [
        s.id
        for s in flow.steps
        if isinstance(s, TERMINAL) or (isinstance(s, Ask) and s.on_fail is None)
    ]
    ending = _closure(ends, reverse)
    for step in flow.steps:
        if step.id in reached and step.id not in ending:
            found.append(f"step {step.id!r}: no way from here ends (hand-off or end)")
    spinning = _spinning_loop(flow, by_id, reached)
    if spinning:
        path = " -> ".join([*spinning, spinning[0]])
        found.append(f"step {spinning[0]!r}: the loop {path} never waits for the customer")
    return found


def _closure(roots: list[str], edges: Mapping[str, list[str]]) -> set[str]:
    seen, todo = set(roots), list(roots)
    while todo:
        for target in edges.get(todo.pop(), []):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _spinning_loop(flow: Flow, by_id: Mapping[str, Step], reached: set[str]) -> list[str]:
    """A cycle of steps none of which waits (found by depth-first search), or []."""
    edges = {
        s.id: [t for _, t in s.targets() if not _waits(by_id[t])]
        for s in flow.steps
        if s.id in reached and not _waits(s)
    }
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in edges.get(node, []):
            if state.get(target) == 1:
                return path[path.index(target) :]
            if target not in state and target in edges and (loop := visit(target)):
                return loop
        path.pop()
        state[node] = 2
        return []

    for node in edges:
        if node not in state and (loop := visit(node)):
            return loop
    return []


def _slots(flow: Flow) -> list[str]:
    """A slot is one kind wherever it is asked; whatever reads a slot (a rule, a template)
    reads one that some step fills."""
    found = []
    kinds: dict[str, tuple[str, str]] = {}
    filled: set[str] = set(flow.context_slots)
    for step in flow.steps:
        if isinstance(step, Ask):
            filled.add(step.slot)
            first = kinds.setdefault(step.slot, (step.type, step.id))
            if first[0] != step.type:
                found.append(
                    f"step {step.id!r}: slot {step.slot!r} is a {step.type} here but a "
                    f"{first[0]} at step {first[1]!r}"
                )
        elif isinstance(step, Call):
            filled.update(step.fills.values())
    for step in flow.steps:
        for name in _reads(step):
            if name not in filled:
                found.append(f"step {step.id!r}: slot {name!r} is never filled")
        for template in _templates(step):
            for name in PLACEHOLDER.findall(template):
                if name not in PLAIN_PLACEHOLDERS and not name.startswith("slots."):
                    found.append(f"step {step.id!r}: unknown placeholder {{{name}}}")
    return found


def _reads(step: Step) -> list[str]:
    names = [r.slot for r in step.rules] if isinstance(step, Branch) else []
    for template in _templates(step):
        names += [
            n.removeprefix("slots.")
            for n in PLACEHOLDER.findall(template)
            if n.startswith("slots.")
        ]
    return list(dict.fromkeys(names))


def _templates(step: Step) -> list[str]:
    if isinstance(step, Answer):
        return [step.query]
    if isinstance(step, Call):
        return [step.url, *step.payload.values()]
    return []
