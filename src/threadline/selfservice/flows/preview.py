"""Trying a flow in the admin UI: one turn of the pure engine on a definition (saved or
not), with what the machine is asked done for real, as the bot does it: intents from the
organisation's classifier, answers from its knowledge base, backend calls through the
guarded client (refused, with the reason, where the URL may not go). Nothing is stored and
nothing is sent to a customer: the turn comes back rendered for the chosen channel."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from threadline.context import Context
from threadline.db import utcnow
from threadline.errors import Invalid
from threadline.selfservice.bot import backend
from threadline.selfservice.bot.classifier import IntentClassifier, ModelClassifier
from threadline.selfservice.bot.knowledge import KnowledgeBase, KnowledgeSource
from threadline.selfservice.bot.services import BotRuntime
from threadline.selfservice.flows import actions as act
from threadline.selfservice.flows.api_schemas import PreviewIn, PreviewMessage, PreviewOut
from threadline.selfservice.flows.engine import FlowMismatch, advance, start
from threadline.selfservice.flows.render import render_messages, render_voice, reply_input
from threadline.selfservice.flows.schemas import Flow
from threadline.webhooks.destinations import Refused

MAX_MACHINE_TURNS = 12  # a turn's chain of machine answers (classify, then answer, ...)
VOICE_ACTION = "/preview/voice"  # where the phone would post the caller's answer


async def run_preview(ctx: Context, org_id: str, flow: Flow, body: PreviewIn) -> PreviewOut:
    """One turn: start (no state) or advance with the tester's input, then the machine's
    work until the conversation waits for the customer (or ends)."""
    now = utcnow()
    machine: list[str] = []
    if body.state is None:
        context = act.Context(
            channel=body.channel, language=body.language, message=body.text, assurance="none"
        )
        state, actions = start(flow, context, now)
    else:
        state = _state(body.state)
        if state.step not in {s.id for s in flow.steps}:
            raise Invalid(f"state: step {state.step!r} is gone; start again", field="state")
        try:
            state, actions = advance(flow, state, _input(body, state), now)
        except FlowMismatch as exc:
            raise Invalid(f"state: {exc}; start again", field="state") from None
        except (KeyError, IndexError, TypeError, ValueError):  # a state no turn could leave
            raise Invalid(
                "state: not one this flow could be in; start again", field="state"
            ) from None
    said = list(actions)
    for _ in range(MAX_MACHINE_TURNS):
        asked = next((a for a in actions if isinstance(a, _MACHINE)), None)
        if asked is None or state.waiting == "done":
            break
        given = await _perform(ctx, org_id, body, asked, machine)
        state, actions = advance(flow, state, given, utcnow())
        said += actions
    return _out(body, state, said, machine)


_MACHINE = (act.ClassifyIntent, act.RequestKnowledge, act.CallBackend, act.RequireVerification)


def _state(data: dict[str, Any]) -> act.State:
    try:
        return act.State.model_validate(data)
    except ValidationError as exc:
        raise Invalid(f"state: not a conversation state ({exc.error_count()} errors)") from None


def _input(body: PreviewIn, state: act.State) -> act.Input:
    if body.choice is not None:
        return act.Choice(choice=body.choice)
    text = body.text or ""
    if body.channel == "voice":
        digits = text.strip()
        if digits and all(c in "0123456789*#" for c in digits) and len(digits) <= 40:
            return act.Digits(digits=digits)
        return act.Speech(text=text) if text.strip() else act.Timeout()
    return reply_input(body.channel, state.choices, text)


async def _perform(
    ctx: Context, org_id: str, body: PreviewIn, asked: Any, machine: list[str]
) -> act.Input:
    if isinstance(asked, act.ClassifyIntent):
        ranked = await _classifier(ctx).classify(org_id, asked.text, asked.language)
        top = ", ".join(f"{r.intent} {r.confidence:.2f}" for r in ranked[:3]) or "none"
        machine.append(f"intent: {top}")
        return act.IntentPrediction(request=asked.request, ranked=ranked)
    if isinstance(asked, act.RequestKnowledge):
        found = await _knowledge(ctx).answer(org_id, asked.query, asked.language)
        machine.append(f"knowledge: {found.title if found else 'nothing found'}")
        if found is None:
            return act.KnowledgeResult(request=asked.request, found=False)
        return act.KnowledgeResult(
            request=asked.request,
            found=True,
            article_id=found.article_id,
            title=found.title,
            text=found.text,
            url=found.url,
        )
    if isinstance(asked, act.CallBackend):
        return await _call(ctx, org_id, asked, machine)
    machine.append(f"verify: {asked.level} asked, {body.assurance} reached")
    return act.VerificationResult(request=asked.request, level=body.assurance)


async def _call(
    ctx: Context, org_id: str, asked: act.CallBackend, machine: list[str]
) -> act.BackendResponse:
    allow = ctx.settings.bot_backend_allow_private
    try:
        target = await backend.checked(asked.url, allow)
    except Refused as exc:
        machine.append(f"backend: {asked.method} {asked.url} refused: {exc}")
        return act.BackendResponse(request=asked.request, ok=False)
    key = backend.signing_key(ctx.settings.secret_key.get_secret_value(), org_id)
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as http:
        answer = await backend.send(http, key, asked, target)
    machine.append(f"backend: {asked.method} {asked.url} -> {answer.status or 'no answer'}")
    return answer


def _classifier(ctx: Context) -> IntentClassifier:
    bot = ctx.bot
    if isinstance(bot, BotRuntime):
        return bot.classifier
    return ModelClassifier(ctx.settings.intent_models_dir)


def _knowledge(ctx: Context) -> KnowledgeSource:
    bot = ctx.bot
    return bot.knowledge if isinstance(bot, BotRuntime) else KnowledgeBase(ctx)


def _out(body: PreviewIn, state: act.State, said: list[Any], machine: list[str]) -> PreviewOut:
    handoff = next((a for a in said if isinstance(a, act.HandOff)), None)
    if body.channel == "voice":
        messages = [
            PreviewMessage(
                text=a.text,
                choices=[{"id": c.id, "label": c.label} for c in getattr(a, "choices", [])],
            )
            for a in said
            if isinstance(a, act.Say | act.Ask | act.PresentChoices)
        ]
        twiml: str | None = render_voice(said, VOICE_ACTION)
    else:
        messages = [
            PreviewMessage(
                text=m.text,
                choices=[{"id": c.id, "label": c.label} for c in m.choices],
                payload=m.payload,
            )
            for m in render_messages(said, body.channel)
        ]
        twiml = None
    return PreviewOut(
        messages=messages,
        twiml=twiml,
        machine=machine,
        state=state.model_dump(mode="json"),
        step=state.step,
        done=state.waiting == "done",
        outcome=state.outcome,
        handoff=handoff.model_dump(mode="json", exclude={"transcript"}) if handoff else None,
    )
