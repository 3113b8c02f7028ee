"""Surveys after a contact: a durable consumer of `contact.resolved` decides whether to ask
(one survey per contact, one per customer every N days, not against their wish), asks on
the channel the customer used, in their language, and records the answers once each,
wherever they come from: the widget, a reply by message (`SurveyReplies`, which inbound
messages consult through ctx.surveys before they open a contact), or the email's page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import and_, func, or_, select

from threadline.auth.roles import Principal
from threadline.channels.outbox import enqueue_outbound, refusal
from threadline.context import CallSurvey, Context, KeypadTurn
from threadline.customers.models import Customer
from threadline.db import UnitOfWork, across_orgs, org_scope, utcnow
from threadline.errors import Conflict, Invalid, NotFound, ThreadlineError
from threadline.events.domain import ContactResolved, SurveyAnswered, SurveySent
from threadline.orgs.services import audit
from threadline.surveys import questions as q
from threadline.surveys.models import Survey, SurveySettings
from threadline.surveys.schemas import (
    AnswerIn,
    CesSummary,
    ChannelSummary,
    CsatSummary,
    SettingsIn,
    SettingsOut,
    SummaryOut,
)
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import append_event, lock_thread
from threadline.web.i18n import page_catalogue, pick_language

log = structlog.get_logger(__name__)

LINK_SALT = "threadline.survey-link"
TEXTS = "surveys"  # web/locales/surveys/<language>.json


def texts(language: str) -> dict[str, str]:
    return page_catalogue(TEXTS, language)


# ------------------------------------------------------------------ settings
def _defaults(org_id: str) -> SurveySettings:
    d = SettingsIn(enabled=False)
    return SurveySettings(org_id=org_id, **d.model_dump())


async def settings_of(session: Any, org_id: str) -> SurveySettings:
    found: SurveySettings | None = await session.get(SurveySettings, org_id)
    return found if found is not None else _defaults(org_id)


async def get_settings(ctx: Context, org_id: str) -> SettingsOut:
    async with ctx.db.sessions() as session:
        return SettingsOut.model_validate(await settings_of(session, org_id))


async def do_set_settings(ctx: Context, principal: Principal, body: SettingsIn) -> SettingsOut:
    """Replace the organisation's survey settings (audited)."""
    async with ctx.uow() as uow:
        row: SurveySettings | None = await uow.lock(SurveySettings, principal.org_id)
        if row is None:
            row = SurveySettings(org_id=principal.org_id)
            uow.session.add(row)
        for name, value in body.model_dump().items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        audit(
            uow.session,
            principal.org_id,
            principal.agent_id,
            "surveys.settings",
            "surveys",
            **body.model_dump(),
        )
        return SettingsOut.model_validate(row)


# ------------------------------------------------------------------ deciding and asking
async def on_resolved(ctx: Context, uow: UnitOfWork, event: ContactResolved) -> None:
    """A contact was resolved: survey its customer, or record why not (once per contact)."""
    with org_scope(event.org_id):
        session = uow.session
        asked = await session.scalar(select(Survey).where(Survey.contact_id == event.contact_id))
        if asked is not None:
            if asked.reason is None and event.reason:
                asked.reason = event.reason  # a call's survey is asked before the wrap-up
            return
        settings = await settings_of(session, event.org_id)
        if not settings.enabled:
            return  # nothing to record: the organisation does not survey
        customer = await session.get(Customer, event.customer_id)
        while customer is not None and customer.merged_into_id:
            customer = await session.get(Customer, customer.merged_into_id)
        if customer is None:
            return
        thread = await lock_thread(uow, event.org_id, event.thread_id)
        if await session.scalar(select(Survey.id).where(Survey.contact_id == event.contact_id)):
            return  # a call's keypad survey, started under the same lock a moment ago
        now = utcnow()
        survey = Survey(
            org_id=event.org_id,
            contact_id=event.contact_id,
            thread_id=thread.id,
            customer_id=customer.id,
            queue_id=event.queue_id,
            agent_id=event.agent_id,
            reason=event.reason,
            channel=event.channel,
            language=pick_language(customer.language or thread.language),
            questions=list(settings.questions) or ["csat"],
            comment_asked=settings.comment,
            step=(settings.questions or ["csat"])[0],
            created_at=now,
        )
        session.add(survey)
        why = q.why_not(
            q.Policy(settings.enabled, frozenset(settings.channels), settings.every_days),
            event.channel,
            handled_by_agent=event.agent_id is not None and event.from_status == "assigned",
            opted_out=q.opted_out(customer.attributes, event.channel),
            last_sent_at=await _last_sent(session, customer.id),
            now=now,
        )
        if why is None and event.channel in q.BY_KEYPAD:
            # asked while the caller was still on the line (then its row exists), or never
            why = "the caller was no longer on the line for the keypad survey"
        if why is None:
            why = await _send_first(ctx, uow, thread, survey, settings)
        if why is not None:
            survey.status, survey.step, survey.skip_reason = "skipped", "done", why[:300]
            log.info("surveys.skipped", contact_id=event.contact_id, reason=why)
            return
        survey.sent_at = now
        hours = settings.link_days * 24 if survey.channel in q.BY_LINK else settings.reply_hours
        survey.expires_at = now + timedelta(hours=hours)
        uow.emit(
            SurveySent(
                org_id=survey.org_id,
                survey_id=survey.id,
                contact_id=survey.contact_id,
                thread_id=survey.thread_id,
                customer_id=survey.customer_id,
                channel=survey.channel,
                questions=list(survey.questions),
                language=survey.language,
            )
        )


async def _last_sent(session: Any, customer_id: str) -> datetime | None:
    found: datetime | None = await session.scalar(
        select(func.max(Survey.sent_at)).where(Survey.customer_id == customer_id)
    )
    return found


async def _send_first(
    ctx: Context, uow: UnitOfWork, thread: Thread, survey: Survey, settings: SurveySettings
) -> str | None:
    """Ask the first question (on a screen, by message, or the email's link); why it could
    not go out, or None."""
    await uow.session.flush()  # the survey's id, for its buttons and link
    if survey.channel in q.ON_SCREEN:
        _ask_on_screen(uow, thread, survey)
        return None
    extra: dict[str, Any] = {}
    why = await refusal(ctx, uow.session, thread, survey.channel)
    if why is not None and survey.channel == "whatsapp" and settings.whatsapp_template:
        # outside the 24-hour window: the approved template asks instead of the buttons
        language = q.WHATSAPP_LANGUAGES.get(survey.language, "en")
        extra = {"template": {"name": settings.whatsapp_template, "language": language}}
    elif why is not None:
        return why
    if survey.channel in q.BY_LINK:
        body = _email_body(ctx, survey, settings.link_days)
    else:
        body = _question_text(survey, survey.step)
        if not extra:
            extra = q.buttons(survey.step, texts(survey.language), survey.channel)
    return await _say(ctx, uow, thread, survey, body, extra)


def _ask_on_screen(uow: UnitOfWork, thread: Thread, survey: Survey) -> None:
    """The widget draws the question's buttons from `data.survey`."""
    words = texts(survey.language)
    append_event(
        uow,
        thread,
        kind="message",
        channel=survey.channel,
        author_type="system",
        author_name=words["author"],
        body=words[f"{survey.step}_question"],
        contact_id=survey.contact_id,
        data={"survey": screen_view(survey)},
    )


def screen_view(survey: Survey) -> dict[str, Any]:
    """What the widget needs to ask every question itself, in the survey's language."""
    words = texts(survey.language)
    return {
        "id": survey.id,
        "questions": list(survey.questions),
        "comment": survey.comment_asked,
        "texts": {
            **{k: words[f"{k}_question"] for k in q.KINDS},
            **{f"{k}_low": words[f"{k}_1"] for k in q.KINDS},
            **{f"{k}_high": words[f"{k}_{q.SCALES[k]}"] for k in q.KINDS},
        },
        "scales": dict(q.SCALES),
    }


def _question_text(survey: Survey, kind: str) -> str:
    words = texts(survey.language)
    return f"{words[f'{kind}_question']}\n{q.scale_line(words, kind)}"


def survey_link(ctx: Context, survey_id: str) -> str:
    token = _serializer(ctx).dumps(survey_id)
    return f"{ctx.settings.base_url.rstrip('/')}/survey/{token}"


def _serializer(ctx: Context) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.settings.secret_key.get_secret_value(), salt=LINK_SALT)


def _email_body(ctx: Context, survey: Survey, days: int) -> str:
    words = texts(survey.language)
    expiry = words["email_expiry"].format(days=days)
    return f"{words['email_intro']}\n\n{survey_link(ctx, survey.id)}\n\n{expiry}"


async def _say(
    ctx: Context,
    uow: UnitOfWork,
    thread: Thread,
    survey: Survey,
    body: str,
    extra: Mapping[str, Any] | None = None,
) -> str | None:
    """A survey message on a provider channel, through the outbox; why not, or None."""
    event = append_event(
        uow,
        thread,
        kind="message",
        channel=survey.channel,
        author_type="system",
        author_name=texts(survey.language)["author"],
        body=body,
        contact_id=survey.contact_id,
        data={"survey": {"id": survey.id, "step": survey.step}, **(extra or {})},
    )
    try:
        await enqueue_outbound(ctx, uow, thread, event)
    except ThreadlineError as exc:  # checked just before: only a race gets here
        log.warning("surveys.not_sent", survey_id=survey.id, reason=str(exc))
        return str(exc)
    return None


# ------------------------------------------------------------------ answers
async def _record(
    uow: UnitOfWork,
    thread: Thread,
    survey: Survey,
    answers: Mapping[str, int],
    comment: str | None,
    *,
    source: str,
) -> list[str]:
    """Store the answers not stored yet (a retry stores nothing twice); the kinds newly
    answered. The thread's row lock is held (it is taken before the survey's)."""
    new = [k for k, v in answers.items() if getattr(survey, k) is None and v is not None]
    if not new:
        return []
    now = utcnow()
    for kind in new:
        setattr(survey, kind, answers[kind])
    comment = (comment or "").strip() or None
    if comment is not None and survey.comment is None and survey.comment_asked:
        survey.comment = comment
    else:
        comment = None
    survey.step = q.next_step(survey.questions, {k: getattr(survey, k) for k in q.KINDS})
    if survey.step == "done":
        survey.status, survey.answered_at = "answered", now
    append_event(
        uow,
        thread,
        kind="survey",
        channel=survey.channel,
        author_type="customer",
        author_id=survey.customer_id,
        body=comment,
        contact_id=survey.contact_id,
        data={"survey_id": survey.id, "source": source, **{k: answers[k] for k in new}},
    )
    for kind in new:
        uow.emit(
            SurveyAnswered(
                org_id=survey.org_id,
                survey_id=survey.id,
                thread_id=survey.thread_id,
                contact_id=survey.contact_id,
                customer_id=survey.customer_id,
                kind=kind,
                score=answers[kind],
                comment=comment if kind == new[-1] else None,
                queue_id=survey.queue_id,
                channel=survey.channel,
                agent_id=survey.agent_id,
                reason=survey.reason,
                answered_at=now,
            )
        )
    return new


async def do_answer(
    ctx: Context,
    org_id: str,
    survey_id: str,
    body: AnswerIn,
    *,
    customer_id: str | None,
    source: str,
) -> Survey:
    """Answers from the widget (its visitor must be the survey's customer) or the email's
    page (the signed link stands for the customer). Idempotent: what is stored stays."""
    with org_scope(org_id):
        async with ctx.uow() as uow:
            # the thread's lock first, as an inbound reply takes them: read its id plainly
            found = (
                await uow.session.execute(
                    select(Survey.thread_id, Survey.customer_id, Survey.status).where(
                        Survey.id == survey_id, Survey.org_id == org_id
                    )
                )
            ).first()
            if found is None or found.status == "skipped":
                raise NotFound("no such survey")
            if customer_id is not None and found.customer_id != customer_id:
                raise NotFound("no such survey")
            thread = await lock_thread(uow, org_id, found.thread_id)
            survey = await uow.lock_existing(Survey, survey_id)
            try:
                answers = q.checked_answers(survey.questions, body.model_dump(exclude={"comment"}))
            except ValueError as exc:
                raise Invalid(str(exc)) from None
            if not answers and body.comment:
                raise Invalid("a comment is sent with the answer it follows")
            if survey.status == "sent" and _expired(survey, utcnow()):
                raise Conflict("this survey has expired", reason="survey_expired")
            await _record(uow, thread, survey, answers, body.comment, source=source)
            return survey


def _expired(survey: Survey, now: datetime) -> bool:
    return survey.expires_at is not None and survey.expires_at <= now


async def known_survey(ctx: Context, org_id: str, survey_id: str) -> None:
    """NotFound unless the organisation has sent this survey."""
    async with ctx.db.sessions() as session:
        found = await session.scalar(
            select(Survey.id).where(
                Survey.id == survey_id, Survey.org_id == org_id, Survey.status != "skipped"
            )
        )
    if found is None:
        raise NotFound("no such survey")


def survey_of_link(ctx: Context, token: str, max_days: int = 60) -> str | None:
    """The survey a page link names, or None when it is forged or older than any link may
    live (each survey's own expiry is checked against its row)."""
    try:
        found = _serializer(ctx).loads(token, max_age=max_days * 86400)
    except BadSignature:
        return None
    return found if isinstance(found, str) else None


async def survey_by_id(ctx: Context, survey_id: str) -> Survey | None:
    with across_orgs():  # the signed link says which survey, hence whose
        async with ctx.db.sessions() as session:
            found: Survey | None = await session.get(Survey, survey_id)
    return found


# ------------------------------------------------------------------ replies by message
class SurveyReplies:
    """ctx.surveys: asked by inbound messages (channels/inbound.py), before a message opens
    a contact, whether it answers the thread's pending survey."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def take_reply(self, uow: UnitOfWork, thread: Thread, entry: ThreadEvent) -> bool:
        """True when the customer's message `entry` answered (or missed the scale of) the
        survey waiting on this thread and channel: it opens no contact. Call in the
        ingest's transaction, inside the thread's row lock."""
        if thread.status != "resolved":
            return False  # a survey waits only on a thread whose contact was resolved
        now = utcnow()
        survey_id = await uow.session.scalar(
            select(Survey.id)
            .where(
                Survey.thread_id == thread.id,
                Survey.status == "sent",
                Survey.channel == entry.channel,
                Survey.expires_at > now,
            )
            .order_by(Survey.sent_at.desc())
            .limit(1)
        )
        survey = await uow.lock(Survey, survey_id) if survey_id is not None else None
        if survey is None or survey.status != "sent" or survey.channel not in q.BY_MESSAGE:
            return False  # the widget answers with its buttons, the email on its page
        data = entry.data or {}
        # the button's id: WhatsApp's reply id, Messenger's quick-reply payload, Telegram's
        # callback data (whichever the adapter stored)
        button = data.get("reply_id") or data.get("quick_reply") or data.get("callback_data")
        reply = q.read_reply(survey.step, entry.body, str(button) if button else None)
        if reply is None:
            return False
        entry.data = {**(entry.data or {}), "survey_id": survey.id}
        if not reply.valid:
            await self._ask(uow, thread, survey, survey.step)
            return True
        await _record(uow, thread, survey, {reply.kind: reply.score}, None, source="message")
        if survey.step != "done":
            await self._ask(uow, thread, survey, survey.step)
        else:
            await _say(self._ctx, uow, thread, survey, texts(survey.language)["thanks"])
        return True

    async def start_call(self, call: CallSurvey) -> KeypadTurn | None:
        """The keypad survey of a call whose agent leg ended with the caller on the line:
        decided by the same rules as every channel, once per contact (the thread's lock,
        then the contact's unique survey row)."""
        with org_scope(call.org_id):
            async with self._ctx.uow() as uow:
                session = uow.session
                thread = await lock_thread(uow, call.org_id, call.thread_id)
                asked = await session.scalar(
                    select(Survey).where(Survey.contact_id == call.contact_id)
                )
                if asked is not None:  # a retried webhook: where the survey is now
                    if asked.status != "sent" or asked.channel not in q.BY_KEYPAD:
                        return None
                    return _keypad_turn(asked)
                settings = await settings_of(session, call.org_id)
                if not settings.enabled:
                    return None
                customer = await session.get(Customer, call.customer_id)
                while customer is not None and customer.merged_into_id:
                    customer = await session.get(Customer, customer.merged_into_id)
                if customer is None:
                    return None
                now = utcnow()
                questions = list(settings.questions) or ["csat"]
                survey = Survey(
                    org_id=call.org_id,
                    contact_id=call.contact_id,
                    thread_id=thread.id,
                    customer_id=customer.id,
                    queue_id=call.queue_id,
                    agent_id=call.agent_id,
                    channel="voice",
                    language=pick_language(call.language),
                    questions=questions,
                    comment_asked=False,  # no comment by keypad
                    step=questions[0],
                    created_at=now,
                )
                session.add(survey)
                why = q.why_not(
                    q.Policy(settings.enabled, frozenset(settings.channels), settings.every_days),
                    "voice",
                    handled_by_agent=True,
                    opted_out=q.opted_out(customer.attributes, "voice"),
                    last_sent_at=await _last_sent(session, customer.id),
                    now=now,
                )
                if why is not None:
                    survey.status, survey.step, survey.skip_reason = "skipped", "done", why
                    log.info("surveys.skipped", contact_id=call.contact_id, reason=why)
                    return None
                survey.sent_at = now
                survey.expires_at = now + timedelta(hours=settings.reply_hours)
                await session.flush()
                uow.emit(
                    SurveySent(
                        org_id=survey.org_id,
                        survey_id=survey.id,
                        contact_id=survey.contact_id,
                        thread_id=survey.thread_id,
                        customer_id=survey.customer_id,
                        channel=survey.channel,
                        questions=list(survey.questions),
                        language=survey.language,
                    )
                )
                return _keypad_turn(survey)

    async def take_keys(
        self, org_id: str, contact_id: str, kind: str, digits: str
    ) -> KeypadTurn | None:
        """A key for question `kind`: stored when it is on the scale and the question has
        no answer yet (a retried webhook stores nothing), then the next turn."""
        with org_scope(org_id):
            async with self._ctx.uow() as uow:
                found = (
                    await uow.session.execute(
                        select(Survey.id, Survey.thread_id).where(
                            Survey.contact_id == contact_id,
                            Survey.org_id == org_id,
                            Survey.channel.in_(q.BY_KEYPAD),
                            Survey.status != "skipped",
                        )
                    )
                ).first()
                if found is None:
                    return None
                thread = await lock_thread(uow, org_id, found.thread_id)
                survey = await uow.lock_existing(Survey, found.id)
                score = q.read_key(kind, digits)
                if score is not None and kind in survey.questions and survey.status == "sent":
                    await _record(uow, thread, survey, {kind: score}, None, source="keypad")
                return _keypad_turn(survey)

    async def _ask(self, uow: UnitOfWork, thread: Thread, survey: Survey, kind: str) -> None:
        extra = q.buttons(kind, texts(survey.language), survey.channel)
        await _say(self._ctx, uow, thread, survey, _question_text(survey, kind), extra)


def _keypad_turn(survey: Survey) -> KeypadTurn:
    """The question the survey is at, as the caller hears it, or the thank-you."""
    words = texts(survey.language)
    kind = survey.step
    if kind not in q.SCALES:
        return KeypadTurn("done", words["thanks"], survey.language)
    text = f"{words[f'{kind}_question']} {words[f'keys_{kind}']}"
    return KeypadTurn(kind, text, survey.language, q.SCALES[kind])


# ------------------------------------------------------------------ reading
def _share(values: list[int], good: range) -> float | None:
    return round(sum(1 for v in values if v in good) / len(values), 4) if values else None


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _scores(csat: list[int], ces: list[int]) -> tuple[CsatSummary, CesSummary]:
    return (
        CsatSummary(
            responses=len(csat), mean=_mean(csat), satisfied_share=_share(csat, range(4, 6))
        ),
        CesSummary(responses=len(ces), mean=_mean(ces), easy_share=_share(ces, range(5, 8))),
    )


async def summary(ctx: Context, org_id: str, start: datetime, end: datetime) -> SummaryOut:
    """Surveys sent in [start, end) and the answers that came in then, overall and per
    channel (until the reports read `survey.answered`)."""
    if end <= start:
        raise Invalid("`to` must be after `from`")
    if end - start > timedelta(days=366):
        raise Invalid("ask for a year at most")
    async with ctx.db.sessions() as session:
        sent = dict(
            (channel, n)
            for channel, n in await session.execute(
                select(Survey.channel, func.count())
                .where(Survey.org_id == org_id, Survey.sent_at >= start, Survey.sent_at < end)
                .group_by(Survey.channel)
            )
        )
        rows = list(
            await session.execute(
                select(Survey.channel, Survey.status, Survey.csat, Survey.ces).where(
                    Survey.org_id == org_id,
                    Survey.status != "skipped",
                    _answered_between(start, end),
                )
            )
        )
    channels = sorted(set(sent) | {r.channel for r in rows})
    per: list[ChannelSummary] = []
    for channel in channels:
        mine = [r for r in rows if r.channel == channel]
        csat, ces = _scores([r.csat for r in mine if r.csat], [r.ces for r in mine if r.ces])
        answered = sum(1 for r in mine if r.status == "answered")
        per.append(
            ChannelSummary(
                channel=channel, sent=sent.get(channel, 0), answered=answered, csat=csat, ces=ces
            )
        )
    csat, ces = _scores([r.csat for r in rows if r.csat], [r.ces for r in rows if r.ces])
    return SummaryOut(
        from_=start,
        to=end,
        sent=sum(sent.values()),
        answered=sum(p.answered for p in per),
        csat=csat,
        ces=ces,
        by_channel=per,
    )


def _answered_between(start: datetime, end: datetime) -> Any:
    """A survey with an answer in the period: its first answer is on its thread's timeline,
    its last sets `answered_at`; a partly answered one counts by when it was sent."""
    return or_(
        and_(Survey.answered_at >= start, Survey.answered_at < end),
        and_(
            Survey.answered_at.is_(None),
            Survey.sent_at >= start,
            Survey.sent_at < end,
            or_(Survey.csat.is_not(None), Survey.ces.is_not(None)),
        ),
    )


def register(ctx: Context) -> SurveyReplies:
    """Surveys' place in the application: called once by build_context."""

    async def consume(uow: UnitOfWork, event: ContactResolved) -> None:
        await on_resolved(ctx, uow, event)

    ctx.handlers.consumer("surveys", consume, [ContactResolved])
    return SurveyReplies(ctx)
