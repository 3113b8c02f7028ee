"""The intents admin API: admins upload labelled examples (CSV), which trains their
organisation's model in the background; they follow the training, see the model in use with
its held-out evaluation, and try a sentence against it."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from threadline.auth.dependencies import Admin
from threadline.errors import PROBLEM_RESPONSES, Invalid, NotFound
from threadline.selfservice.intents import services
from threadline.selfservice.intents.schemas import (
    Alternative,
    IntentsOut,
    ModelOut,
    TrainingOut,
    TryIn,
    TryOut,
)
from threadline.selfservice.intents.services import IntentTrainer, Training

router = APIRouter(prefix="/api/v1/intents", tags=["intents"], responses=PROBLEM_RESPONSES)


def trainer(request: Request) -> IntentTrainer:
    found: IntentTrainer = request.app.state.intent_trainer
    return found


def _training(job: Training | None) -> TrainingOut | None:
    if job is None:
        return None
    return TrainingOut.model_validate(job, from_attributes=True)


@router.get("", response_model=IntentsOut)
async def overview(request: Request, principal: Admin) -> IntentsOut:
    """The model the organisation's bot uses now and its latest training on this server."""
    found = trainer(request)
    model = found.model(principal.org_id)
    return IntentsOut(
        model=ModelOut.model_validate(model) if model else None,
        training=_training(found.latest(principal.org_id)),
        can_train=found.root is not None,
    )


@router.post(
    "/trainings",
    response_model=TrainingOut,
    status_code=202,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def start_training(request: Request, principal: Admin) -> TrainingOut:
    """Train the organisation's model on a CSV (UTF-8, a header row `text,category`, up to
    5 MB): it runs in the background (follow it at /trainings/latest) and replaces the model
    in use only once it is complete. A bad file is refused with the reason and its line."""
    raw = bytearray()
    async for chunk in request.stream():  # read no further than the limit
        raw += chunk
        if len(raw) > services.MAX_UPLOAD_BYTES:
            raise Invalid("the CSV is over 5 MB: upload fewer examples")
    rows = await asyncio.to_thread(services.parse_examples, bytes(raw))  # 5 MB: off the loop
    job = trainer(request).do_start(principal, rows)
    return TrainingOut.model_validate(job, from_attributes=True)


@router.get("/trainings/latest", response_model=TrainingOut)
async def latest_training(request: Request, principal: Admin) -> TrainingOut:
    """The organisation's latest training on this server: its state, step and progress."""
    found = _training(trainer(request).latest(principal.org_id))
    if found is None:
        raise NotFound("no training has been started here")
    return found


@router.post("/try", response_model=TryOut)
async def try_text(body: TryIn, request: Request, principal: Admin) -> TryOut:
    """What the bot would make of a sentence with the model in use now."""
    predicted = await trainer(request).try_text(principal.org_id, body.text)
    if predicted is None:
        raise NotFound("no intent model: upload examples to train one")
    return TryOut(
        intent=predicted.intent,
        confidence=round(predicted.confidence, 4),
        would_clarify=predicted.clarify,
        alternatives=[
            Alternative(intent=i, confidence=round(c, 4)) for i, c in predicted.alternatives
        ],
    )
