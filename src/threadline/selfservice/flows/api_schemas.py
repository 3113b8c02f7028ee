"""The flows API's shapes (the definition itself is schemas.Flow, sent as JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from threadline.boundary import JsonInt
from threadline.selfservice.flows.schemas import Level

PreviewChannel = Literal["chat", "app", "sms", "whatsapp", "telegram", "messenger", "voice"]


class FlowSummary(BaseModel):
    id: str = Field(description="the flow's id, as endpoints name it in settings.bot.flow")
    name: str
    builtin: bool = Field(description="built in (read-only: copy it to edit)")
    latest: int | None = Field(description="the last version saved")
    published: int | None = Field(description="the version new conversations run")
    published_at: datetime | None = None
    updated_at: datetime | None = None


class VersionOut(BaseModel):
    number: int
    created_by: str | None
    created_at: datetime | None
    published: bool


class FlowDetail(FlowSummary):
    versions: list[VersionOut]
    version: int = Field(description="the version `definition` is")
    definition: dict[str, Any]


class DefinitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] = Field(
        description="the flow (schemas.Flow); its id and version are the resource's"
    )


class FlowIn(DefinitionIn):
    id: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="the new flow's id (else the definition's)",
    )


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: JsonInt = Field(ge=1)


class DiffOut(BaseModel):
    from_version: int
    to_version: int
    diff: str = Field(description="unified diff of the pretty JSON ('' when the same)")


class PreviewIn(BaseModel):
    """One turn of a trial conversation. Without `state`, a new one starts (with `text` as
    what the customer said first, if any); with it, `text` (or `choice`, a choice's id) is
    the customer's answer."""

    model_config = ConfigDict(extra="forbid")

    flow_id: str | None = Field(default=None, max_length=64)
    version: JsonInt | None = Field(default=None, ge=1, description="default: the latest saved")
    definition: dict[str, Any] | None = Field(
        default=None, description="an unsaved definition to try instead of a saved one"
    )
    state: dict[str, Any] | None = None
    text: str | None = Field(default=None, max_length=4096)
    choice: str | None = Field(default=None, max_length=100)
    language: Literal["en", "pt", "es", "ru", "el"] | None = None
    channel: PreviewChannel = "chat"
    assurance: Level = Field(default="none", description="what verifying the customer reaches")


class PreviewMessage(BaseModel):
    text: str
    choices: list[dict[str, str]] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict)


class PreviewOut(BaseModel):
    messages: list[PreviewMessage] = Field(description="what a messaging channel sends")
    twiml: str | None = Field(default=None, description="what the phone plays (voice)")
    machine: list[str] = Field(description="what was asked of the classifier, KB, backend")
    state: dict[str, Any] = Field(description="give it back with the next turn")
    step: str
    done: bool
    outcome: str | None = None
    handoff: dict[str, Any] | None = None
