"""The simulated providers' pages and APIs, mounted only when `demo_simulated` is on (the
demo's .env): the phone (`/simulated/phone`: SMS, WhatsApp, Telegram, Messenger), the mail
page (`/simulated/mail`), the voice page with a keypad (`/simulated/voice`), the fake
provider APIs the demo endpoints send through (`/simulated/twilio|meta|telegram`), and the
hold music. Every page says it is simulated. No authentication: a demo's customer side."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, EmailStr, Field

from threadline.channels.webhooks import active_endpoint
from threadline.config import Settings
from threadline.simulated.demo_world import (
    BANK_NUMBER,
    CARLOS_EMAIL,
    CARLOS_NAME,
    CARLOS_PHONE,
    DEMO_SITE_WIDGET,
    MAILBOX,
    MARTA_EMAIL,
    MARTA_NAME,
    PREFIX,
)
from threadline.simulated.runtime import Simulated, SimulationError
from threadline.verification.signed_identity import sign, signed_fields
from threadline.web.i18n import accepted_language, page_catalogue, pick_language

templates = Jinja2Templates(directory=Path(__file__).parents[1] / "web" / "templates")
router = APIRouter(prefix=PREFIX, include_in_schema=False)
LANGUAGES = ("en", "pt", "es", "ru", "el")
Channel = Literal["sms", "whatsapp", "telegram", "messenger"]
Text = Annotated[str, Field(min_length=1, max_length=1600)]
Name = Annotated[str, Field(min_length=1, max_length=80)]
Phone = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]


def install_simulated(app: FastAPI, settings: Settings) -> None:
    """Mount the simulated providers and their pages, when the settings ask for them."""
    if not settings.demo_simulated:
        return
    simulated = Simulated(settings)
    app.state.simulated = simulated
    app.include_router(router)
    app.mount(f"{PREFIX}/twilio", simulated.twilio.app)
    app.mount(f"{PREFIX}/meta", simulated.graph.app)


@asynccontextmanager
async def simulated_running(app: FastAPI) -> AsyncIterator[None]:
    """The SMTP relay and the Telegram Bot API listen while the app runs (when the
    providers are installed)."""
    simulated: Simulated | None = getattr(app.state, "simulated", None)
    if simulated is None:
        yield
        return
    async with simulated.running():
        yield


def _simulated(request: Request) -> Simulated:
    found: Simulated = request.app.state.simulated
    return found


def _page(request: Request, name: str, config: dict[str, Any]) -> Response:
    chosen = request.query_params.get("lang")
    language = (
        pick_language(chosen)
        if chosen in LANGUAGES
        else accepted_language(request.headers.get("accept-language"))
    )
    strings = page_catalogue("simulated", language)
    context = {
        "t": strings,
        "lang": language,
        "languages": LANGUAGES,
        "page": name,
        "config": {**config, "t": strings, "lang": language},
    }
    return templates.TemplateResponse(request, f"simulated_{name}.html", context)


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> Response:
    return _page(request, "index", {})


@router.get("/phone", response_class=HTMLResponse)
async def phone_page(request: Request) -> Response:
    defaults = {"phone": CARLOS_PHONE, "name": CARLOS_NAME, "bank": BANK_NUMBER}
    return _page(request, "phone", defaults)


@router.get("/mail", response_class=HTMLResponse)
async def mail_page(request: Request) -> Response:
    defaults = {"email": CARLOS_EMAIL, "name": CARLOS_NAME, "mailbox": MAILBOX}
    return _page(request, "mail", defaults)


@router.get("/voice", response_class=HTMLResponse)
async def voice_page(request: Request) -> Response:
    return _page(request, "voice", {"phone": CARLOS_PHONE, "bank": BANK_NUMBER})


@router.get("/api/site/identity")
async def site_identity(request: Request) -> Response:
    """What the demo site's server vouches for: Marta, signed in on the bank's site,
    signed with the demo widget's identity secret (docs/widget.md), as a company's backend
    computes it. The demo site passes it to `Threadline.identify`."""
    endpoint = await active_endpoint(request.app.state.ctx, "chat", DEMO_SITE_WIDGET)
    if endpoint is None or not endpoint.secret:
        return JSONResponse({"code": "not_found", "message": "no demo widget"}, status_code=404)
    fields = signed_fields(email=MARTA_EMAIL, phone=None, name=MARTA_NAME)
    identity = {"name": MARTA_NAME, "email": MARTA_EMAIL}
    return JSONResponse({**identity, "hash": sign(endpoint.secret, fields)})


@router.get("/hold-music")
async def hold_music() -> Response:
    """What the phone line's hold loop plays: the voice page shows it as text (no audio)."""
    return Response(status_code=204)


# ---- the customer's side, as JSON for the pages' scripts -------------------------------------


class PhoneIn(BaseModel):
    channel: Channel
    phone: Phone
    name: Name


class MessageIn(PhoneIn):
    text: Text


class TapIn(PhoneIn):
    message_id: str = Field(min_length=1, max_length=200)
    label: str = Field(min_length=1, max_length=100)


class MailIn(BaseModel):
    email: EmailStr
    name: str = Field(default="", max_length=80)
    subject: str = Field(min_length=1, max_length=200)
    text: Text
    in_reply_to: str | None = Field(default=None, max_length=500)


class CallIn(BaseModel):
    phone: Phone


class KeysIn(BaseModel):
    document: int = Field(ge=0)
    digits: str = Field(default="", pattern=r"^[0-9*#]{0,20}$")
    speech: str = Field(default="", max_length=300)


class StepIn(BaseModel):
    document: int = Field(ge=0)


def _refused(exc: SimulationError) -> JSONResponse:
    return JSONResponse({"code": "simulation", "message": str(exc)}, status_code=409)


@router.post("/api/phone/messages")
async def phone_send(body: MessageIn, request: Request) -> Response:
    sent = await _simulated(request).send(body.channel, body.phone, body.name, body.text)
    return JSONResponse({"status": sent.status}, status_code=201 if sent.status < 300 else 502)


@router.post("/api/phone/taps")
async def phone_tap(body: TapIn, request: Request) -> Response:
    try:
        sent = await _simulated(request).tap(
            body.channel, body.phone, body.name, body.message_id, body.label
        )
    except SimulationError as exc:
        return _refused(exc)
    return JSONResponse({"status": sent.status}, status_code=201 if sent.status < 300 else 502)


@router.get("/api/phone/conversation")
async def phone_conversation(channel: Channel, phone: Phone, name: Name, request: Request) -> Any:
    return {"lines": _simulated(request).conversation(channel, phone, name)}


@router.post("/api/mail/messages")
async def mail_send(body: MailIn, request: Request) -> Response:
    try:
        await _simulated(request).send_mail(
            str(body.email), body.name, body.subject, body.text, body.in_reply_to
        )
    except SimulationError as exc:
        return _refused(exc)
    except OSError as exc:  # the SMTP server refused or is not there
        return JSONResponse({"code": "smtp", "message": str(exc)}, status_code=502)
    return JSONResponse({"status": "sent"}, status_code=201)


@router.get("/api/mail/mailbox")
async def mailbox(email: EmailStr, request: Request) -> Any:
    return {"lines": _simulated(request).mailbox(str(email))}


@router.post("/api/voice/calls")
async def voice_call(body: CallIn, request: Request) -> Any:
    simulated = _simulated(request)
    return simulated.describe(await simulated.call(body.phone))


@router.get("/api/voice/calls")
async def voice_calls(phone: Phone, request: Request) -> Any:
    return {"calls": _simulated(request).calls_for(phone)}


async def _voice_step(request: Request, work: Any) -> Response:
    simulated = _simulated(request)
    try:
        call = await work(simulated)
    except SimulationError as exc:
        return _refused(exc)
    return JSONResponse(simulated.describe(call))


@router.post("/api/voice/calls/{sid}/keys")
async def voice_keys(sid: str, body: KeysIn, request: Request) -> Response:
    return await _voice_step(
        request, lambda s: s.press(sid, body.document, body.digits, body.speech)
    )


@router.post("/api/voice/calls/{sid}/next")
async def voice_next(sid: str, body: StepIn, request: Request) -> Response:
    return await _voice_step(request, lambda s: s.advance(sid, body.document))


@router.post("/api/voice/calls/{sid}/answer")
async def voice_answer(sid: str, request: Request) -> Response:
    return await _voice_step(request, lambda s: s.answer(sid))


@router.post("/api/voice/calls/{sid}/hangup")
async def voice_hangup(sid: str, request: Request) -> Response:
    return await _voice_step(request, lambda s: s.hang_up(sid))
