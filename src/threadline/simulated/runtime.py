"""The simulated providers of a demo installation, in Threadline's own process: the fake
Twilio, Meta Graph and Telegram APIs (mounted under /simulated, where the demo endpoints'
`api_base` points), the SMTP relay that captures the bank's mail, and the customer's side
of each channel as the phone, mail and voice pages drive it.

Everything a page does reaches Threadline the way the real provider would: the same
signed webhooks (Twilio's X-Twilio-Signature over the public URL, Meta's
X-Hub-Signature-256 over the body, Telegram's secret token), posted over HTTP to the
public base URL; mail through the built-in SMTP server. Nothing here touches the database.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import quote

import aiosmtplib
import httpx

from threadline.channels.telegram.adapter import webhook_secret
from threadline.config import Settings
from threadline.simulated import meta, telegram, twilio
from threadline.simulated.demo_world import (
    BANK_NUMBER,
    MAILBOX,
    MESSENGER_FIRST_PSID,
    TELEGRAM_FIRST_ID,
    simulated_base,
    telegram_base,
)
from threadline.simulated.http_server import serving
from threadline.simulated.smtp_relay import FakeRelay, Received
from threadline.simulated.twiml import Verb, parse_twiml

CHANNELS = ("sms", "whatsapp", "telegram", "messenger")


class SimulationError(ValueError):
    """What the customer asked cannot be done (an unknown call, no button of that name)."""


@dataclass
class Sent:
    """A message the customer sent from a page, kept for the page's conversation view."""

    channel: str
    address: str
    text: str
    status: int
    at: float = field(default_factory=time.time)


@dataclass
class Mail:
    """A mail the customer sent from the mail page."""

    sender: str
    subject: str
    text: str
    message_id: str
    at: float = field(default_factory=time.time)


class Simulated:
    """The simulated providers and the customer's side of every channel (one per app)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self.twilio = twilio.FakeTwilio()
        self.twilio.answers_clients = True  # the agents' softphones (the demo has none)
        self.graph = meta.FakeGraph()
        self.telegram = telegram.FakeTelegram()
        self.twilio.base_url = simulated_base(self.base_url, "twilio")
        self.graph.base_url = simulated_base(self.base_url, "meta")
        self.telegram.base_url = telegram_base(settings.demo_telegram_port)
        self.telegram.webhook_secret = webhook_secret(telegram.BOT_TOKEN, telegram.BOT_USERNAME)
        self.relay = FakeRelay(settings.demo_relay_port)
        self.sent: list[Sent] = []
        self.mails: list[Mail] = []
        self._ids = itertools.count(1)
        self._telegram_ids: dict[str, int] = {}
        self._psids: dict[str, str] = {}

    # ---- lifecycle ---------------------------------------------------------------------
    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The relay (its own thread) and the Telegram Bot API (its own port) listen."""
        self.relay.start()
        try:
            port = self.settings.demo_telegram_port
            async with serving(self.telegram.app, port=port):
                yield
        finally:
            self.relay.stop()

    # ---- the phone: SMS, WhatsApp, Telegram, Messenger ---------------------------------
    def address(self, channel: str, phone: str, name: str) -> str:
        """The customer's address on a channel: the phone number (SMS), its digits
        (WhatsApp's wa_id), or the id Telegram and Messenger give this name."""
        if channel == "sms":
            return phone
        if channel == "whatsapp":
            return "".join(ch for ch in phone if ch.isdigit())
        if channel == "telegram":
            ids = self._telegram_ids
            return str(ids.setdefault(name, TELEGRAM_FIRST_ID + len(ids)))
        if channel == "messenger":
            psid = self._psids.setdefault(name, str(MESSENGER_FIRST_PSID + len(self._psids)))
            first, _, last = name.partition(" ")
            self.graph.profiles[psid] = {"first_name": first, "last_name": last}
            return psid
        raise SimulationError(f"channel: one of {', '.join(CHANNELS)}")

    async def send(self, channel: str, phone: str, name: str, text: str) -> Sent:
        """The customer writes `text` on `channel`: the provider's signed webhook."""
        address = self.address(channel, phone, name)
        mid = f"{next(self._ids)}{uuid.uuid4().hex[:12]}"
        if channel == "sms":
            params = {
                "MessageSid": "SM" + mid,
                "SmsSid": "SM" + mid,
                "AccountSid": twilio.ACCOUNT_SID,
                "From": address,
                "To": BANK_NUMBER,
                "Body": text,
                "NumMedia": "0",
            }
            response = await self.twilio.post_signed(self._sms_url(), params)
        elif channel == "whatsapp":
            payload = meta.whatsapp_message("wamid.sim" + mid, address, name=name, body=text)
            response = await self.graph.notify(self._url("whatsapp", meta.PHONE_NUMBER_ID), payload)
        elif channel == "messenger":
            payload = meta.messenger_message("m_sim" + mid, address, text)
            response = await self.graph.notify(self._url("messenger", meta.PAGE_ID), payload)
        else:
            update = self.telegram.private_message(
                text, user_id=int(address), **_telegram_names(name), language_code=None
            )
            response = await self.telegram.post_update(update, self._telegram_url())
        return self._log(channel, address, text, response)

    async def tap(self, channel: str, phone: str, name: str, message_id: str, label: str) -> Sent:
        """The customer taps the button `label` of the bank's message `message_id`."""
        address = self.address(channel, phone, name)
        mid = f"{next(self._ids)}{uuid.uuid4().hex[:12]}"
        if channel == "telegram":
            sent = next(
                (m for m in self.telegram.messages if str(m.message_id) == message_id), None
            )
            if sent is None or not any(b["text"] == label for b in sent.buttons()):
                raise SimulationError("no such button")
            update = self.telegram.tap(
                sent, label, user_id=int(address), **_first_name(name), language_code=None
            )
            response = await self.telegram.post_update(update, self._telegram_url())
        elif channel == "messenger":
            graph_sent = self._graph_message(message_id)
            titles = [q["title"] for q in graph_sent.payload["message"].get("quick_replies", [])]
            if label not in titles:
                raise SimulationError("no such button")
            payload = meta.messenger_quick_reply("m_sim" + mid, address, graph_sent, label)
            response = await self.graph.notify(self._url("messenger", meta.PAGE_ID), payload)
        elif channel == "whatsapp":
            choice = next(
                (c for c in _whatsapp_choices(self._graph_message(message_id)) if c[1] == label),
                None,
            )
            if choice is None:
                raise SimulationError("no such button")
            kind = "button_reply" if choice[2] == "button" else "list_reply"
            reply: dict[str, Any] = {"type": kind, kind: {"id": choice[0], "title": choice[1]}}
            payload = meta.whatsapp_message(
                "wamid.sim" + mid, address, "interactive", name=name, **reply
            )
            response = await self.graph.notify(self._url("whatsapp", meta.PHONE_NUMBER_ID), payload)
        else:
            raise SimulationError("SMS has no buttons: type the number of the choice")
        return self._log(channel, address, label, response)

    def conversation(self, channel: str, phone: str, name: str) -> list[dict[str, Any]]:
        """What the customer's phone shows on `channel`: what they sent and what the bank
        sent them through the simulated provider, oldest first, with any buttons."""
        address = self.address(channel, phone, name)
        lines: list[dict[str, Any]] = [
            {"from": "me", "text": s.text, "at": s.at, "ok": s.status < 300}
            for s in self.sent
            if s.channel == channel and s.address == address
        ]
        lines += self._received(channel, address)
        return sorted(lines, key=lambda line: float(line["at"]))

    def _received(self, channel: str, address: str) -> list[dict[str, Any]]:
        if channel == "sms":
            return [
                {"from": "bank", "id": m.sid, "text": m.body, "at": m.at, "buttons": []}
                for m in self.twilio.messages
                if m.to == address
            ]
        if channel == "telegram":
            return [
                {
                    "from": "bank",
                    "id": str(m.message_id),
                    "text": m.text,
                    "at": m.at,
                    "buttons": [b["text"] for b in m.buttons()],
                    "file": m.file_url,
                }
                for m in self.telegram.messages
                if str(m.chat_id) == address
            ]
        lines = []
        for m in self.graph.messages:
            payload = m.payload
            to = payload.get("to") or (payload.get("recipient") or {}).get("id")
            is_whatsapp = payload.get("messaging_product") == "whatsapp"
            if str(to) != address or is_whatsapp != (channel == "whatsapp"):
                continue
            text, buttons = _graph_text(m)
            lines.append({"from": "bank", "id": m.id, "text": text, "at": m.at, "buttons": buttons})
        return lines

    def _graph_message(self, message_id: str) -> meta.SentMessage:
        found = next((m for m in self.graph.messages if m.id == message_id), None)
        if found is None:
            raise SimulationError("no such message")
        return found

    def _log(self, channel: str, address: str, text: str, response: httpx.Response) -> Sent:
        sent = Sent(channel, address, text, response.status_code)
        self.sent.append(sent)
        return sent

    def _url(self, channel: str, key: str) -> str:
        return f"{self.base_url}/webhooks/{channel}/{quote(key, safe='')}"

    def _sms_url(self) -> str:
        return f"{self.base_url}/webhooks/sms/twilio/{quote(BANK_NUMBER, safe='')}"

    def _telegram_url(self) -> str:
        return self._url("telegram", telegram.BOT_USERNAME)

    # ---- mail ------------------------------------------------------------------------------
    async def send_mail(
        self, sender: str, name: str, subject: str, text: str, in_reply_to: str | None
    ) -> Mail:
        """The customer mails the bank's mailbox, through Threadline's built-in SMTP server
        (`in_reply_to`: the Message-ID of the bank's mail answered)."""
        port = self.settings.email_smtp_port
        if port is None:
            raise SimulationError("the built-in SMTP server is off (THREADLINE_EMAIL_SMTP_PORT)")
        message = EmailMessage()
        message["From"] = f"{name} <{sender}>" if name else sender
        message["To"] = MAILBOX
        message["Subject"] = subject
        message["Date"] = format_datetime(_now())
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "example.com")
        if in_reply_to:
            message["In-Reply-To"] = in_reply_to
            message["References"] = in_reply_to
        message.set_content(text)
        await aiosmtplib.send(
            message, hostname=self.settings.email_smtp_host, port=port, start_tls=False, timeout=10
        )
        mail = Mail(sender, subject, text, str(message["Message-ID"]))
        self.mails.append(mail)
        return mail

    def mailbox(self, address: str) -> list[dict[str, Any]]:
        """The customer's mailbox: what they sent the bank and what the relay delivered to
        them, oldest first."""
        wanted = address.strip().lower()
        lines: list[dict[str, Any]] = [
            {
                "from": "me",
                "subject": m.subject,
                "text": m.text,
                "at": m.at,
                "message_id": m.message_id,
            }
            for m in self.mails
            if m.sender.lower() == wanted
        ]
        for index, received in enumerate(self.relay.messages):
            if wanted not in (r.lower() for r in received.rcpt_tos):
                continue
            parsed = received.message
            body = parsed.get_body(preferencelist=("plain", "html"))
            lines.append(
                {
                    "from": "bank",
                    "sender": str(parsed["From"] or ""),
                    "subject": str(parsed["Subject"] or ""),
                    "text": body.get_content() if body is not None else "",
                    "at": _relay_time(received, index),
                    "message_id": str(parsed["Message-ID"] or ""),
                }
            )
        return sorted(lines, key=lambda line: float(line["at"]))

    # ---- voice -----------------------------------------------------------------------------
    def _voice_url(self, suffix: str = "") -> str:
        return f"{self.base_url}/webhooks/voice/twilio/{quote(BANK_NUMBER, safe='')}{suffix}"

    async def call(self, caller: str) -> twilio.FakeCall:
        """The customer dials the bank: Twilio's incoming-call webhook."""
        sid = "CA" + uuid.uuid4().hex
        url = self._voice_url()
        response = await self.twilio.call_webhook(url, sid, caller, BANK_NUMBER, "ringing")
        call = self.twilio.calls[sid]
        call.status = "in-progress"
        call.documents.append((url, response.text))
        return call

    def calls_for(self, caller: str) -> list[dict[str, Any]]:
        """The calls of this phone: the ones it made and the ones ringing it."""
        shown = []
        for call in self.twilio.calls.values():
            mine = call.from_ == caller if call.direction == "inbound" else call.to == caller
            if mine:
                shown.append(self.describe(call))
        return shown

    def describe(self, call: twilio.FakeCall) -> dict[str, Any]:
        verbs = parse_twiml(call.twiml) if call.twiml else []
        return {
            "sid": call.sid,
            "direction": call.direction,
            "status": call.status,
            "document": len(call.documents),
            "verbs": [v.as_dict() for v in verbs],
            "on_hold": self._on_hold(call.sid),
        }

    def _on_hold(self, sid: str) -> bool:
        """Whether the agent put this caller on hold in the call's conference."""
        conference = self.twilio.conference_of(sid)
        participant = conference.live(sid) if conference else None
        return bool(participant and participant.hold)

    def _live(self, sid: str) -> twilio.FakeCall:
        call = self.twilio.calls.get(sid)
        if call is None:
            raise SimulationError("no such call")
        if call.status not in twilio.LIVE:
            raise SimulationError("the call has ended")
        return call

    async def press(self, sid: str, document: int, digits: str, speech: str) -> twilio.FakeCall:
        """The caller answers the current <Gather>: keys, or words (SpeechResult)."""
        call = self._live(sid)
        gather = self._current_verb(call, document, "Gather")
        extra = {"Digits": digits} if digits else {"SpeechResult": speech, "Confidence": "0.9"}
        await self.twilio.fetch(call, _absolute(self.base_url, gather.url), **extra)
        return call

    async def advance(self, sid: str, document: int) -> twilio.FakeCall:
        """The current document played to its end: follow its <Redirect> (or, when a
        <Gather> heard nothing, the <Redirect> after it), as Twilio does."""
        call = self._live(sid)
        redirect = self._current_verb(call, document, "Redirect")
        await self.twilio.fetch(call, _absolute(self.base_url, redirect.url))
        return call

    async def answer(self, sid: str) -> twilio.FakeCall:
        """The customer picks up a call the bank placed (a callback)."""
        call = self._live(sid)
        if call.direction != "outbound-api" or call.status == "in-progress":
            raise SimulationError("this call is not ringing")
        await self.twilio.answer(call)
        return call

    async def hang_up(self, sid: str) -> twilio.FakeCall:
        """The customer hangs up: the final status callback (inbound calls: the number's
        status URL, as the number is configured at Twilio)."""
        call = self._live(sid)
        if call.direction == "outbound-api" and call.status != "in-progress":
            await self.twilio.finish(call, "no-answer")  # declined while ringing
        elif call.direction == "outbound-api":
            await self.twilio.finish(call, "completed", duration_s=30)
        else:
            await self.twilio.call_webhook(
                self._voice_url("/status"),
                sid,
                call.from_,
                call.to,
                "completed",
                CallDuration="30",
            )
        return call

    def _current_verb(self, call: twilio.FakeCall, document: int, name: str) -> Verb:
        if document != len(call.documents):
            raise SimulationError("the call has moved on")
        found = next((v for v in parse_twiml(call.twiml or "") if v.name == name and v.url), None)
        if found is None:
            raise SimulationError(f"no <{name}> in the call's current TwiML")
        return found


def _now() -> datetime:
    return datetime.now(UTC)


def _absolute(base_url: str, url: str) -> str:
    """TwiML's URLs are relative to the document's or absolute; ours are absolute paths."""
    return url if url.startswith(("http://", "https://")) else f"{base_url}{url}"


def _relay_time(received: Received, index: int) -> float:
    return received.at + index * 1e-6  # same-second deliveries keep their order


def _telegram_names(name: str) -> dict[str, Any]:
    first, _, last = name.strip().partition(" ")
    return {"first_name": first or "Customer", "last_name": last or None, "username": None}


def _first_name(name: str) -> dict[str, Any]:
    return {"first_name": name.strip().partition(" ")[0] or "Customer"}


def _whatsapp_choices(sent: meta.SentMessage) -> list[tuple[str, str, str]]:
    """An interactive message's choices as (id, title, "button" | "list")."""
    interactive = sent.payload.get("interactive") or {}
    action = interactive.get("action") or {}
    choices = [
        (str(b["reply"]["id"]), str(b["reply"]["title"]), "button")
        for b in action.get("buttons", [])
        if isinstance(b, dict) and "reply" in b
    ]
    for section in action.get("sections", []):
        choices += [(str(r["id"]), str(r["title"]), "list") for r in section.get("rows", [])]
    return choices


def _graph_text(sent: meta.SentMessage) -> tuple[str, list[str]]:
    """A Graph send as the phone shows it: its text and its buttons' titles."""
    payload = sent.payload
    if payload.get("messaging_product") == "whatsapp":
        kind = payload.get("type", "text")
        if kind == "text":
            return str(payload["text"].get("body", "")), []
        if kind == "interactive":
            body = (payload["interactive"].get("body") or {}).get("text", "")
            return str(body), [title for _id, title, _k in _whatsapp_choices(sent)]
        media = payload.get(kind) or {}
        return str(media.get("caption") or media.get("link") or kind), []
    message = payload.get("message") or {}
    buttons = [str(q["title"]) for q in message.get("quick_replies", [])]
    if message.get("text"):
        return str(message["text"]), buttons
    attachment = (message.get("attachment") or {}).get("payload") or {}
    return str(attachment.get("url", "")), buttons
