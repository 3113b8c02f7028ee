"""Surveys' routes: the admin's settings, today's figures for supervisors, the widget's
answers (by the visitor's token), the page an email's signed link opens, and the admin's
page /admin/surveys over the settings and figures."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from threadline.auth.dependencies import Admin, Ctx, Supervisor
from threadline.channels.chat.services import get_widget, visitor_from_header
from threadline.context import Context
from threadline.db import utcnow
from threadline.errors import PROBLEM_RESPONSES, Conflict, Invalid, NotFound
from threadline.ratelimit import rate_limited
from threadline.surveys import services
from threadline.surveys.models import Survey
from threadline.surveys.questions import SCALES
from threadline.surveys.schemas import (
    ALL_CHANNELS,
    AnswerIn,
    SettingsIn,
    SettingsOut,
    SummaryOut,
    SurveyOut,
)
from threadline.web.customer_api import CustomerRoute
from threadline.web.i18n import accepted_language, pick_language
from threadline.web.pages import admin_page

router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"], responses=PROBLEM_RESPONSES)


@router.get("/settings", response_model=SettingsOut)
async def get_settings(principal: Admin, ctx: Ctx) -> SettingsOut:
    """The organisation's survey settings (off until an admin turns them on)."""
    return await services.get_settings(ctx, principal.org_id)


@router.put("/settings", response_model=SettingsOut)
async def put_settings(body: SettingsIn, principal: Admin, ctx: Ctx) -> SettingsOut:
    """Replace the survey settings: on or off, channels, questions, the comment, at most
    one survey per customer every `every_days` days, how long answers are taken."""
    return await services.do_set_settings(ctx, principal, body)


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Invalid(f"`{name}` needs a time zone (e.g. 2026-12-06T00:00:00Z)")
    return value


@router.get("/summary", response_model=SummaryOut, response_model_by_alias=True)
async def summary(
    principal: Supervisor,
    ctx: Ctx,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: Annotated[datetime | None, Query()] = None,
) -> SummaryOut:
    """CSAT (share of 4-5) and CES (mean) of the answers in [from, to); by default today
    (UTC) until now."""
    now = utcnow()
    start = _aware(from_, "from") or datetime.combine(now.date(), time(0), tzinfo=UTC)
    end = _aware(to, "to") or now
    return await services.summary(ctx, principal.org_id, start, end)


# ---------------------------------------------------------------- the widget
widget_router = APIRouter(
    prefix="/api/v1/widget/{key}/surveys",
    tags=["chat widget"],
    responses=PROBLEM_RESPONSES,
    route_class=CustomerRoute,
)


@widget_router.post(
    "/{survey_id}/answers",
    response_model=SurveyOut,
    dependencies=[Depends(rate_limited("customer_write"))],
)
async def answer(
    key: str,
    survey_id: str,
    body: AnswerIn,
    ctx: Ctx,
    authorization: Annotated[str | None, Header(max_length=1000)] = None,
) -> SurveyOut:
    """The visitor answers their survey (a question at a time, or all at once; a comment
    with the last answer). Sending an answer again changes nothing."""
    widget = await get_widget(ctx, key)
    await services.known_survey(ctx, widget.org_id, survey_id)  # an unknown id is 404 to all
    session = await visitor_from_header(ctx, key, authorization)
    survey = await services.do_answer(
        ctx,
        session.endpoint.org_id,
        survey_id,
        body,
        customer_id=session.customer_id,
        source="widget",
    )
    return SurveyOut.model_validate(survey)


# ---------------------------------------------------------------- the email's page
page_router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parents[1] / "web" / "templates")
NO_STORE = {"Cache-Control": "no-store"}


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def _page(request: Request, survey: Survey | None, status: int = 200, **values: Any) -> Response:
    header = request.headers.get("accept-language")
    language = survey.language if survey is not None else accepted_language(header)
    language = pick_language(request.query_params.get("lang") or language)
    context = {
        "lang": language,
        "t": services.texts(language),
        "survey": survey,
        "scales": SCALES,
        **values,
    }
    return templates.TemplateResponse(
        request, "survey.html", context, status_code=status, headers=NO_STORE
    )


async def _linked(request: Request, token: str) -> Survey | None:
    ctx = _ctx(request)
    survey_id = services.survey_of_link(ctx, token)
    survey = await services.survey_by_id(ctx, survey_id) if survey_id else None
    if survey is None or survey.status == "skipped":
        return None
    if survey.status == "sent" and survey.expires_at is not None and survey.expires_at <= utcnow():
        return None
    return survey


@page_router.get("/survey/{token}", response_class=HTMLResponse)
async def survey_page(request: Request, token: str) -> Response:
    """The survey an email links to: every question on one phone-sized page."""
    survey = await _linked(request, token)
    if survey is None:
        return _page(request, None, 404, state="expired")
    return _page(request, survey, state="answered" if survey.status == "answered" else "open")


@page_router.post(
    "/survey/{token}",
    response_class=HTMLResponse,
    dependencies=[Depends(rate_limited("customer_write"))],
)
async def survey_submit(
    request: Request,
    token: str,
    csat: Annotated[str | None, Form(max_length=2)] = None,
    ces: Annotated[str | None, Form(max_length=2)] = None,
    comment: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    survey = await _linked(request, token)
    if survey is None:
        return _page(request, None, 404, state="expired")
    if survey.status == "answered":
        return _page(request, survey, state="answered")
    given = {"csat": csat, "ces": ces}
    missing = [k for k in survey.questions if not (given.get(k) or "").strip()]
    try:
        body = AnswerIn.model_validate(
            {**{k: int(v) for k, v in given.items() if v and v.strip()}, "comment": comment}
        )
    except (ValueError, ValidationError):
        return _page(request, survey, 422, state="open", error="missing")
    if missing:
        return _page(request, survey, 422, state="open", error="missing")
    try:
        done = await services.do_answer(
            _ctx(request), survey.org_id, survey.id, body, customer_id=None, source="email"
        )
    except (NotFound, Conflict):
        return _page(request, None, 404, state="expired")
    except Invalid:
        return _page(request, survey, 422, state="open", error="missing")
    return _page(request, done, state="thanks")


# ---------------------------------------------------------------- the admin's page
ADMIN_TEXTS = "surveys_admin"  # web/locales/surveys_admin/<language>.json


@page_router.get("/admin/surveys", response_class=HTMLResponse)
async def admin_surveys(request: Request) -> Response:
    """The surveys' settings and today's figures (over the API above): /login for nobody,
    403 for a non-admin."""
    return await admin_page(
        request,
        "admin_surveys",
        strings_of=ADMIN_TEXTS,
        context={"channels": list(ALL_CHANNELS)},
    )
