"""What crosses the flow engine's boundary: the inputs a conversation receives, the actions
it asks for, and its state between turns. All plain Pydantic values that dump to JSON, so a
state can live in a thread's row and an action in the outbox.

Inputs come from the customer (a message, a button, DTMF digits, a speech result, silence
past the deadline) or from the caller performing an action the engine asked for (an intent
prediction, a knowledge-base answer, the backend's response, the verification outcome).
Those answers echo the action's `request` id; one that does not match the request the
conversation waits for is stale and ignored."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from threadline.selfservice.flows.schemas import Level, Scalar, SlotKind

# ---- inputs ---------------------------------------------------------------------------------


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Message(_Input):
    """A customer's typed message (chat, SMS, WhatsApp, ...)."""

    kind: Literal["message"] = "message"
    text: str


class Choice(_Input):
    """A button, quick reply or list row the customer tapped: the choice's id."""

    kind: Literal["choice"] = "choice"
    choice: str


class Digits(_Input):
    """DTMF keys pressed on the phone."""

    kind: Literal["digits"] = "digits"
    digits: Annotated[str, Field(pattern=r"^[0-9*#]{0,40}$")]


class Speech(_Input):
    """What the speech recogniser heard on the phone."""

    kind: Literal["speech"] = "speech"
    text: str
    confidence: float | None = None


class IntentScore(_Input):
    intent: str
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]


class IntentPrediction(_Input):
    """The classifier's answer to ClassifyIntent: intents, likeliest first."""

    kind: Literal["intent"] = "intent"
    request: str | None = None
    ranked: list[IntentScore] = Field(default_factory=list)


class KnowledgeResult(_Input):
    """The knowledge base's answer to RequestKnowledge (found=False: nothing fits)."""

    kind: Literal["knowledge"] = "knowledge"
    request: str | None = None
    found: bool
    article_id: str | None = None
    title: str = ""
    text: str = ""
    url: str | None = None


class BackendResponse(_Input):
    """The company's backend's response to CallBackend; `ok` False for an error status, a
    refused connection or an unreadable answer."""

    kind: Literal["backend"] = "backend"
    request: str | None = None
    ok: bool
    status: int | None = None
    body: dict[str, Any] = Field(default_factory=dict)


class VerificationResult(_Input):
    """The assurance level the customer reached when asked to verify (RequireVerification)."""

    kind: Literal["verification"] = "verification"
    request: str | None = None
    level: Level


class Timeout(_Input):
    """Nothing came by the state's deadline (the customer, or what the caller performs)."""

    kind: Literal["timeout"] = "timeout"


Input = Annotated[
    Message
    | Choice
    | Digits
    | Speech
    | IntentPrediction
    | KnowledgeResult
    | BackendResponse
    | VerificationResult
    | Timeout,
    Field(discriminator="kind"),
]
CUSTOMER_INPUTS = ("message", "choice", "digits", "speech")


# ---- actions --------------------------------------------------------------------------------


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChoiceItem(_Action):
    id: str
    label: str


class Say(_Action):
    kind: Literal["say"] = "say"
    text: str
    language: str


class PresentChoices(_Action):
    """A question with choices (buttons, a list, numbers, keys). "Talk to a person" is not
    among `choices`: every channel offers it its own way (a last button, 0)."""

    kind: Literal["choices"] = "choices"
    text: str
    language: str
    choices: list[ChoiceItem]
    # the flow's texts for showing choices in this language (messages.UI_KEYS): the
    # person button's label, how to answer by number, by key, the list button's label
    ui: dict[str, str] = Field(default_factory=dict)


class Ask(_Action):
    """An open question: the customer types or says the answer (`expect`: the slot's kind,
    or None for "tell me what you need")."""

    kind: Literal["ask"] = "ask"
    text: str
    language: str
    slot: str | None = None
    expect: SlotKind | None = None


class ClassifyIntent(_Action):
    kind: Literal["classify"] = "classify"
    request: str
    text: str
    language: str


class RequestKnowledge(_Action):
    kind: Literal["knowledge"] = "knowledge"
    request: str
    query: str
    language: str


class CallBackend(_Action):
    """A request for the caller to sign and send to the company's backend, then answer
    with BackendResponse (or Timeout past `timeout_s`). `attempt` counts from 1."""

    kind: Literal["call_backend"] = "call_backend"
    request: str
    url: str
    method: Literal["POST", "GET"]
    payload: dict[str, str]
    timeout_s: float
    attempt: int


class SetRouting(_Action):
    """What the contact will need if it goes to a person (so far)."""

    kind: Literal["routing"] = "routing"
    queue: str | None
    skills: list[str]
    priority: int | None


class RequireVerification(_Action):
    kind: Literal["verify"] = "verify"
    request: str
    level: Level


class TranscriptEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: datetime
    by: Literal["customer", "bot"]
    text: str


class HandOff(_Action):
    """The customer goes to a person, with all the bot learnt: the agent asks nothing
    again."""

    kind: Literal["handoff"] = "handoff"
    reason: str
    language: str
    transcript: list[TranscriptEntry]
    intent: str | None
    confidence: float | None
    slots: dict[str, Scalar]
    queue: str | None
    skills: list[str]
    priority: int | None
    assurance: Level


class EndConversation(_Action):
    """The bot is done. `deflected`: it solved the customer's need (with `article_id` when
    an answer from the knowledge base did)."""

    kind: Literal["end"] = "end"
    deflected: bool
    reason: str
    intent: str | None
    article_id: str | None


Action = Annotated[
    Say
    | PresentChoices
    | Ask
    | ClassifyIntent
    | RequestKnowledge
    | CallBackend
    | SetRouting
    | RequireVerification
    | HandOff
    | EndConversation,
    Field(discriminator="kind"),
]
CUSTOMER_FACING = (Say, PresentChoices, Ask)


# ---- state ----------------------------------------------------------------------------------

Waiting = Literal["customer", "intent", "knowledge", "backend", "verification", "done"]
# What the conversation waits for at its step: an answer to a slot question (ask), the
# customer's need (prompt), a pick among likely intents (clarify), whether an answer helped
# (confirm); "" when it waits for no one.
Phase = Literal["", "ask", "prompt", "clarify", "confirm"]
MAX_TRANSCRIPT = 200


class Context(BaseModel):
    """How a conversation starts: the channel, the customer's language (one of the flow's,
    else its first), the assurance the thread has, what the customer already said (it is
    classified before asking anything) and slots the caller knows (`Flow.context_slots`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    language: str | None = None
    assurance: Level = "none"
    message: str | None = None
    slots: dict[str, Scalar] = Field(default_factory=dict)


class State(BaseModel):
    """A conversation between turns: plain JSON (`model_dump(mode="json")`), stored in the
    thread's row and given back to `advance` as is."""

    model_config = ConfigDict(extra="forbid")

    flow_id: str
    flow_version: int
    channel: str
    language: str
    step: str
    waiting: Waiting = "customer"
    phase: Phase = ""
    attempts: int = 0
    request: str | None = None
    seq: int = 0
    deadline: datetime | None = None
    slots: dict[str, Scalar] = Field(default_factory=dict)
    intent: str | None = None
    confidence: float | None = None
    choices: list[ChoiceItem] = Field(default_factory=list)
    pending: str | None = None  # a customer message not yet classified
    last_message: str = ""
    article_id: str | None = None  # the last answer given from the knowledge base
    queue: str | None = None
    skills: list[str] = Field(default_factory=list)
    priority: int | None = None
    assurance: Level = "none"
    transcript: list[TranscriptEntry] = Field(default_factory=list)
    outcome: Literal["handoff", "end"] | None = None
    deflected: bool = False
    started_at: datetime
    updated_at: datetime
