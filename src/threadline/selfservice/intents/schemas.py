"""The intents admin API's shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

TrainingState = Literal["queued", "training", "evaluating", "done", "failed"]


class IntentRow(BaseModel):
    intent: str
    examples: int | None = Field(description="labelled examples of it in the training data")
    f1: float | None = Field(description="F1 on the held-out part (none: too few to hold out)")


class EvaluationOut(BaseModel):
    """Measured on a held-out part of the examples, by a model trained without it."""

    held_out: int = Field(description="examples held out (0: too few to evaluate)")
    accuracy: float | None = None
    macro_f1: float | None = None
    answered: float | None = Field(
        None, description="share of the held-out examples at or above the clarify threshold"
    )
    threshold: float | None = None


class TrainingOut(BaseModel):
    id: str
    state: TrainingState
    step: str = Field(description="what it is doing now (empty when queued or finished)")
    progress: float = Field(ge=0, le=1)
    examples: int
    intents: int
    reason: str | None = Field(None, description="why it failed")
    created_at: datetime
    finished_at: datetime | None = None
    evaluation: EvaluationOut | None = None


class ModelOut(BaseModel):
    source: Literal["organisation", "default"] = Field(
        description="the organisation's own model, or the shared default"
    )
    trained_at: datetime
    trained_by: str | None = None
    examples: int | None = None
    intents: int
    threshold: float | None = None
    evaluation: EvaluationOut | None = None
    per_intent: list[IntentRow]


class IntentsOut(BaseModel):
    """The model the bot uses now (none: the bot gets no intents) and the latest training."""

    model: ModelOut | None
    training: TrainingOut | None
    can_train: bool = Field(
        description="whether this server keeps intent models (THREADLINE_INTENT_MODELS_DIR)"
    )


class TryIn(BaseModel):
    text: str = Field(min_length=1, max_length=500)


class Alternative(BaseModel):
    intent: str
    confidence: float


class TryOut(BaseModel):
    intent: str
    confidence: float
    would_clarify: bool = Field(description="below the threshold the bot asks instead")
    alternatives: list[Alternative]
