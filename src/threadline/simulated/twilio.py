"""A fake Twilio: the Messages and Calls REST APIs as a real HTTP server on a free port, plus
the provider's side of the webhooks (inbound messages, voice webhooks, status callbacks),
signed the way Twilio signs them (`RequestValidator.compute_signature` over the URL it
calls).

Calls: `POST .../Calls.json` places a call (To, From, Url, StatusCallback, repeated
StatusCallbackEvent, Timeout, MachineDetection); `POST .../Calls/{CallSid}.json` with `Url`
redirects a live call (the fake then fetches the new TwiML from it, a signed POST, as Twilio
does), with `Twiml` replaces its TwiML, with `Status=completed` ends it. Tests play the far
end: `answer`, `finish` (completed, no-answer, busy, ...), `dial_outcome` (a <Dial action>).

Conferences: a TwiML `<Dial><Conference>` the fake fetched puts the call in the conference
of that name (its attributes: startConferenceOnEnter, endConferenceOnExit, statusCallback and
statusCallbackEvent); `POST .../Conferences/{ConferenceSid or FriendlyName}/Participants.json`
dials a participant in (From, To, StatusCallback, Muted, Coaching, CallSidToCoach,
StartConferenceOnEnter, EndConferenceOnExit, ConferenceStatusCallback...), `POST
.../Participants/{CallSid}.json` holds, mutes or coaches one and `DELETE` removes one, with
the participant JSON and error codes Twilio documents (20404, 16028). The conference posts its
status callbacks (conference-start/end, participant-join/leave/hold/unhold/mute/unmute/
modify) signed, with ConferenceSid, FriendlyName, SequenceNumber, CallSid, Hold, Muted,
Coaching. Tests play the participant's phone: `answer_participant`. With `answers_clients`
(the demo, whose agents have no real softphone) a participant dialled `To=client:...` picks
up at once, as the demo's `<Dial><Client>` is connected at once.

Recordings: `record(seconds)` keeps a recording of silence and gives its RecordingSid and
RecordingUrl (`.../Recordings/{RecordingSid}`, for a recording status callback); the media
is served as Twilio serves it, `{RecordingUrl}.mp3` or `.wav` (or the bare URL: WAV), with
basic auth. `recording_fetches` counts the requests for them.

Switch `fail_with` to an HTTP status to simulate an outage (500/503) or a refusal (400),
and `delay_s` to make it slow."""

from __future__ import annotations

import asyncio
import base64
import io
import time
import uuid
import wave
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from threadline.simulated.http_server import serving

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-twilio-auth-token"  # noqa: S105 - the simulated account's, public


@dataclass
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    media_urls: list[str] = field(default_factory=list)
    at: float = field(default_factory=time.time)  # when it was accepted (the demo's pages)


LIVE = ("queued", "initiated", "ringing", "in-progress")

# One MPEG-1 Layer III frame (128 kbit/s, 44.1 kHz, mono, no CRC) that decodes to silence:
# the header, then zeroed side information and main data; 1152 samples, 417 bytes.
_SILENT_MP3_FRAME = bytes.fromhex("fffb90c4") + bytes(413)
_MP3_FRAMES_PER_S = 44100 / 1152


def silent_mp3(seconds: float) -> bytes:
    """Playable MP3 audio of silence (browsers and ffprobe read it as such)."""
    return _SILENT_MP3_FRAME * max(1, round(seconds * _MP3_FRAMES_PER_S))


def silent_wav(seconds: float, rate: int = 8000) -> bytes:
    """16-bit mono PCM silence in a WAV file (Twilio's default recording format)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(bytes(2 * round(seconds * rate)))
    return out.getvalue()


@dataclass
class FakeCall:
    """A call the fake knows: placed through the Calls API (`outbound-api`) or come in
    through a voice webhook (`inbound`). `documents`: every TwiML the fake fetched for it,
    as (URL fetched, TwiML), or ("", TwiML) for TwiML given inline."""

    sid: str
    to: str
    from_: str
    direction: str
    status: str
    url: str | None = None
    status_callback: str | None = None
    status_callback_events: list[str] = field(default_factory=list)
    timeout_s: int | None = None
    machine_detection: str | None = None
    documents: list[tuple[str, str]] = field(default_factory=list)
    updates: list[dict[str, str]] = field(default_factory=list)

    @property
    def twiml(self) -> str | None:
        return self.documents[-1][1] if self.documents else None


@dataclass
class FakeParticipant:
    """One call in a conference, as the Participants API shows it."""

    call_sid: str
    conference_sid: str
    status: str = "connected"  # queued|connecting|ringing|connected|complete|failed
    muted: bool = False
    hold: bool = False
    coaching: bool = False
    call_sid_to_coach: str | None = None
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    hold_url: str | None = None
    created_with: dict[str, str] = field(default_factory=dict)
    updates: list[dict[str, str]] = field(default_factory=list)


@dataclass
class FakeConference:
    sid: str
    friendly_name: str
    status: str = "init"  # init|in-progress|completed
    status_callback: str | None = None
    status_callback_events: set[str] = field(default_factory=set)
    participants: dict[str, FakeParticipant] = field(default_factory=dict)
    sequence: int = 0
    callbacks: list[dict[str, str]] = field(default_factory=list)  # every one posted

    def live(self, call_sid: str) -> FakeParticipant | None:
        found = self.participants.get(call_sid)
        return found if found is not None and found.status == "connected" else None


def _flag(value: str | None, default: bool = False) -> bool:
    return default if value is None else value.strip().lower() == "true"


def _events(values: list[str]) -> set[str]:
    """A space-separated list, or a repeated field (both reach Twilio)."""
    return {word for value in values for word in value.split()}


# a conference's statusCallbackEvent word -> the StatusCallbackEvent values it asks for
_EVENT_WORDS = {
    "start": ("conference-start",),
    "end": ("conference-end",),
    "join": ("participant-join",),
    "leave": ("participant-leave",),
    "hold": ("participant-hold", "participant-unhold"),
    "mute": ("participant-mute", "participant-unmute"),
    "modify": ("participant-modify",),
}


def _problem(status: int, code: int, message: str) -> JSONResponse:
    body = {"code": code, "message": message, "status": status, "more_info": ""}
    return JSONResponse(body, status_code=status)


class FakeTwilio:
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[SentMessage] = []
        self.attempts = 0  # every Messages.json POST, accepted or not
        self.calls: dict[str, FakeCall] = {}
        self.call_attempts = 0  # every Calls.json POST, accepted or not
        self.fail_with: int | None = None
        self.delay_s = 0.0
        self.base_url = ""
        self.conferences: dict[str, FakeConference] = {}
        # the demo's agents have no real softphone: their client legs pick up at once
        self.answers_clients = False
        self._fetches: set[asyncio.Task[Any]] = set()
        self.recordings: dict[str, float] = {}  # RecordingSid -> duration in seconds
        self.recording_fetches = 0
        # an inbound MMS's media: MediaSid -> (bytes, type); each request for them counted
        self.media: dict[str, tuple[bytes, str]] = {}
        self.media_fetches = 0
        self.media_fail_with: int | None = None
        accounts = "/2010-04-01/Accounts/{sid}"
        self.app = Starlette(
            routes=[
                Route(accounts + "/Messages.json", self._create, methods=["POST"]),
                Route(accounts + "/Calls.json", self._create_call, methods=["POST"]),
                Route(accounts + "/Calls/{call_sid}.json", self._update_call, methods=["POST"]),
                Route(
                    accounts + "/Conferences/{conference}/Participants.json",
                    self._create_participant,
                    methods=["POST"],
                ),
                Route(
                    accounts + "/Conferences/{conference}/Participants/{call_sid}.json",
                    self._update_participant,
                    methods=["POST", "DELETE"],
                ),
                Route(accounts + "/Recordings/{media}", self._recording, methods=["GET"]),
                Route(
                    accounts + "/Messages/{message_sid}/Media/{media_sid}",
                    self._message_media,
                    methods=["GET"],
                ),
                Route("/mms-cdn/{media_sid}", self._media_copy, methods=["GET"]),
            ]
        )

    def _authorised(self, request: Request, sid: str) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return sid == self.account_sid and request.headers.get("authorization") == (
            f"Basic {expected}"
        )

    async def _create(self, request: Request) -> JSONResponse:
        self.attempts += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if not self._authorised(request, request.path_params["sid"]):
            return _problem(401, 20003, "Authenticate")
        if self.fail_with is not None:
            return _problem(self.fail_with, 21211 if self.fail_with < 500 else 20500, "failing")
        form = await request.form()
        to, from_, body = (str(form.get(name, "")) for name in ("To", "From", "Body"))
        if not to or not from_:
            return _problem(400, 21604, "A 'To' and a 'From' are required")
        message = SentMessage(
            sid="SM" + uuid.uuid4().hex,
            to=to,
            from_=from_,
            body=body,
            status_callback=str(form["StatusCallback"]) if "StatusCallback" in form else None,
            media_urls=[str(v) for v in form.getlist("MediaUrl")],
        )
        self.messages.append(message)
        return JSONResponse(
            {
                "sid": message.sid,
                "account_sid": self.account_sid,
                "to": to,
                "from": from_,
                "body": body,
                "status": "queued",
                "num_segments": "1",
            },
            status_code=201,
        )

    # ---------------------------------------------------------------- Recordings
    def record(self, seconds: float = 3.0) -> tuple[str, str]:
        """A finished recording: its RecordingSid and RecordingUrl (no extension)."""
        sid = "RE" + uuid.uuid4().hex
        self.recordings[sid] = seconds
        return sid, f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}"

    async def _recording(self, request: Request) -> Response:
        self.recording_fetches += 1
        if not self._authorised(request, request.path_params["sid"]):
            return _problem(401, 20003, "Authenticate")
        if self.fail_with is not None:
            return _problem(self.fail_with, 20500, "failing")
        sid, _, extension = str(request.path_params["media"]).partition(".")
        seconds = self.recordings.get(sid)
        if seconds is None or extension not in ("", "wav", "mp3", "json"):
            return _problem(404, 20404, "The requested resource was not found")
        if extension == "json":
            return JSONResponse(
                {"sid": sid, "duration": str(round(seconds)), "status": "completed"}
            )
        if extension == "mp3":
            return Response(silent_mp3(seconds), media_type="audio/mpeg")
        return Response(silent_wav(seconds), media_type="audio/x-wav")

    # ---------------------------------------------------------------- MMS media
    def add_media(self, data: bytes, content_type: str, message_sid: str = "") -> str:
        """A file of an inbound MMS: its MediaUrl (on the account's API host)."""
        media_sid = "ME" + uuid.uuid4().hex
        self.media[media_sid] = (data, content_type)
        message = message_sid or "MM" + uuid.uuid4().hex
        return (
            f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages/{message}"
            f"/Media/{media_sid}"
        )

    async def _message_media(self, request: Request) -> Response:
        """A MediaUrl, with HTTP basic auth for media on: a redirect to a short-lived copy
        (Twilio's answer), for the account's credentials only."""
        self.media_fetches += 1
        if not self._authorised(request, request.path_params["sid"]):
            return _problem(401, 20003, "Authenticate")
        if self.media_fail_with is not None:
            return _problem(self.media_fail_with, 20404, "failing")
        media_sid = request.path_params["media_sid"]
        if media_sid not in self.media:
            return _problem(404, 20404, "The requested resource was not found")
        copy = f"{self.base_url}/mms-cdn/{media_sid}?Expires={int(time.time()) + 300}"
        return Response(b"", status_code=307, headers={"Location": copy})

    async def _media_copy(self, request: Request) -> Response:
        found = self.media.get(request.path_params["media_sid"])
        if found is None:
            return Response(b"", status_code=404)
        return Response(found[0], media_type=found[1])

    # ---------------------------------------------------------------- Calls API
    async def _create_call(self, request: Request) -> JSONResponse:
        self.call_attempts += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if not self._authorised(request, request.path_params["sid"]):
            return _problem(401, 20003, "Authenticate")
        if self.fail_with is not None:
            return _problem(self.fail_with, 21210 if self.fail_with < 500 else 20500, "failing")
        form = await request.form()
        to, from_, url = (str(form.get(name, "")) for name in ("To", "From", "Url"))
        if not to:
            return _problem(400, 21201, "No 'To' number is specified")
        if not from_:
            return _problem(400, 21213, "No 'From' number is specified")
        if not url and "Twiml" not in form:
            return _problem(400, 21205, "Url parameter is required")
        timeout = str(form.get("Timeout", "60"))
        if not timeout.isdigit():
            return _problem(400, 21216, "Timeout must be an integer")
        call = FakeCall(
            sid="CA" + uuid.uuid4().hex,
            to=to,
            from_=from_,
            direction="outbound-api",
            status="queued",
            url=url or None,
            status_callback=str(form["StatusCallback"]) if "StatusCallback" in form else None,
            status_callback_events=[str(v) for v in form.getlist("StatusCallbackEvent")],
            timeout_s=int(timeout),
            machine_detection=str(form["MachineDetection"]) if "MachineDetection" in form else None,
        )
        if "Twiml" in form:
            call.documents.append(("", str(form["Twiml"])))
        self.calls[call.sid] = call
        return JSONResponse(self._call_resource(call), status_code=201)

    async def _update_call(self, request: Request) -> JSONResponse:
        if not self._authorised(request, request.path_params["sid"]):
            return _problem(401, 20003, "Authenticate")
        if self.fail_with is not None:
            return _problem(self.fail_with, 20500, "failing")
        call = self.calls.get(request.path_params["call_sid"])
        if call is None:
            return _problem(404, 20404, "The requested resource was not found")
        form = await request.form()
        update = {name: str(form[name]) for name in form}
        if call.status not in LIVE:
            return _problem(400, 21220, "Call is not in-progress. Cannot redirect.")
        call.updates.append(update)
        if update.get("Status") in ("completed", "canceled"):
            call.status = update["Status"]
        elif "Twiml" in update:
            call.documents.append(("", update["Twiml"]))
        elif "Url" in update:
            call.url = update["Url"]
            # Twilio answers the request, then fetches the new TwiML
            task = asyncio.create_task(self.fetch(call, update["Url"]))
            self._fetches.add(task)
            task.add_done_callback(self._fetches.discard)
        return JSONResponse(self._call_resource(call))

    def _call_resource(self, call: FakeCall) -> dict[str, Any]:
        return {
            "sid": call.sid,
            "account_sid": self.account_sid,
            "to": call.to,
            "from": call.from_,
            "status": call.status,
            "direction": call.direction,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{call.sid}.json",
        }

    def _call_params(self, call: FakeCall, **extra: str) -> dict[str, str]:
        return {
            "CallSid": call.sid,
            "AccountSid": self.account_sid,
            "From": call.from_,
            "To": call.to,
            "CallStatus": call.status,
            "Direction": call.direction,
            "ApiVersion": "2010-04-01",
            **extra,
        }

    async def fetch(self, call: FakeCall, url: str, **extra: str) -> httpx.Response:
        """Fetch a call's next TwiML, as Twilio does: a signed POST of the call's fields."""
        response = await self.post_signed(url, self._call_params(call, **extra))
        call.documents.append((url, response.text))
        if "<Conference" in response.text:
            await self._follow_twiml(call, response.text)
        return response

    # ---------------------------------------------------------------- conferences
    def conference_named(self, name: str) -> FakeConference | None:
        """The conference of that friendly name that has not ended."""
        for conference in self.conferences.values():
            if conference.friendly_name == name and conference.status != "completed":
                return conference
        return None

    def conference_of(self, call_sid: str) -> FakeConference | None:
        for conference in self.conferences.values():
            if conference.status != "completed" and conference.live(call_sid):
                return conference
        return None

    def _open_conference(self, name: str) -> FakeConference:
        conference = self.conference_named(name)
        if conference is None:
            conference = FakeConference("CF" + uuid.uuid4().hex, name)
            self.conferences[conference.sid] = conference
        return conference

    async def _follow_twiml(self, call: FakeCall, document: str) -> None:
        """A fetched <Dial><Conference> puts the call in that conference."""
        try:
            root = ElementTree.fromstring(document)  # noqa: S314 - our app's TwiML
        except ElementTree.ParseError:
            return
        node = root.find("Dial/Conference")
        if node is None:
            return
        conference = self._open_conference((node.text or "").strip())
        if node.get("statusCallback") and conference.status_callback is None:
            conference.status_callback = node.get("statusCallback")
            conference.status_callback_events = _events([node.get("statusCallbackEvent", "")])
        participant = FakeParticipant(
            call.sid,
            conference.sid,
            start_conference_on_enter=_flag(node.get("startConferenceOnEnter"), True),
            end_conference_on_exit=_flag(node.get("endConferenceOnExit")),
        )
        await self._join(conference, participant)

    async def _join(self, conference: FakeConference, participant: FakeParticipant) -> None:
        participant.status = "connected"
        conference.participants[participant.call_sid] = participant
        await self.conference_event(conference, "participant-join", participant)
        if conference.status == "init" and participant.start_conference_on_enter:
            conference.status = "in-progress"
            await self.conference_event(conference, "conference-start")

    async def conference_event(
        self,
        conference: FakeConference,
        event: str,
        participant: FakeParticipant | None = None,
        *,
        sequence: int | None = None,
    ) -> httpx.Response | None:
        """Post one status callback of the conference (if it asked for that event), signed;
        pass the `sequence` of an earlier one to play Twilio's retry of it."""
        asked = {
            e for word in conference.status_callback_events for e in _EVENT_WORDS.get(word, ())
        }
        if not conference.status_callback or event not in asked:
            return None
        if sequence is None:
            conference.sequence += 1
            sequence = conference.sequence
        params = {
            "AccountSid": self.account_sid,
            "ConferenceSid": conference.sid,
            "FriendlyName": conference.friendly_name,
            "StatusCallbackEvent": event,
            "SequenceNumber": str(sequence),
            "Timestamp": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
        }
        if participant is not None:
            params |= {
                "CallSid": participant.call_sid,
                "Hold": str(participant.hold).lower(),
                "Muted": str(participant.muted).lower(),
                "Coaching": str(participant.coaching).lower(),
                "StartConferenceOnEnter": str(participant.start_conference_on_enter).lower(),
                "EndConferenceOnExit": str(participant.end_conference_on_exit).lower(),
            }
            if participant.call_sid_to_coach:
                params["CallSidToCoach"] = participant.call_sid_to_coach
        conference.callbacks.append(params)
        return await self.post_signed(conference.status_callback, params)

    def _participant_json(self, p: FakeParticipant) -> dict[str, Any]:
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        return {
            "account_sid": self.account_sid,
            "call_sid": p.call_sid,
            "conference_sid": p.conference_sid,
            "label": None,
            "call_sid_to_coach": p.call_sid_to_coach,
            "coaching": p.coaching,
            "date_created": now,
            "date_updated": now,
            "end_conference_on_exit": p.end_conference_on_exit,
            "muted": p.muted,
            "hold": p.hold,
            "start_conference_on_enter": p.start_conference_on_enter,
            "status": p.status,
            "queue_time": "0",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Conferences/{p.conference_sid}"
            f"/Participants/{p.call_sid}.json",
        }

    async def _create_participant(self, request: Request) -> JSONResponse:
        if not self._authorised(request, request.path_params["sid"]):
            return _problem(401, 20003, "Authenticate")
        if self.fail_with is not None:
            return _problem(self.fail_with, 20500, "failing")
        form = await request.form()
        values = {name: str(form[name]) for name in form}
        to, from_ = values.get("To", ""), values.get("From", "")
        if not to:
            return _problem(400, 21201, "No 'To' number is specified")
        if not from_:
            return _problem(400, 21213, "No 'From' number is specified")
        key = request.path_params["conference"]
        if key.startswith("CF"):
            conference = self.conferences.get(key)
            if conference is None or conference.status == "completed":
                return _problem(404, 20404, "The requested resource was not found")
        else:
            conference = self._open_conference(key)
        coach = values.get("CallSidToCoach")
        coaching = _flag(values.get("Coaching"), bool(coach))
        if coaching and (not coach or conference.live(coach) is None):
            return _problem(400, 16028, "Participant to be whispered is not present")
        if "ConferenceStatusCallback" in values and conference.status_callback is None:
            conference.status_callback = values["ConferenceStatusCallback"]
            conference.status_callback_events = _events(
                [str(v) for v in form.getlist("ConferenceStatusCallbackEvent")]
            )
        call = FakeCall(
            sid="CA" + uuid.uuid4().hex,
            to=to,
            from_=from_,
            direction="outbound-api",
            status="queued",
            status_callback=values.get("StatusCallback"),
            status_callback_events=sorted(
                _events([str(v) for v in form.getlist("StatusCallbackEvent")]) or {"completed"}
            ),
            timeout_s=int(values.get("Timeout", "60"))
            if values.get("Timeout", "60").isdigit()
            else 60,
        )
        self.calls[call.sid] = call
        participant = FakeParticipant(
            call.sid,
            conference.sid,
            status="queued",
            muted=_flag(values.get("Muted")),
            coaching=coaching,
            call_sid_to_coach=coach if coaching else None,
            start_conference_on_enter=_flag(values.get("StartConferenceOnEnter"), True),
            end_conference_on_exit=_flag(values.get("EndConferenceOnExit")),
            created_with=values,
        )
        conference.participants[call.sid] = participant
        if self.answers_clients and to.startswith("client:"):
            self._later(self.answer_participant(call.sid))  # after Twilio's answer
        return JSONResponse(self._participant_json(participant), status_code=201)

    async def answer_participant(self, call_sid: str) -> None:
        """The phone of a participant dialled through the Participants API picks up: it
        joins its conference."""
        conference = next(c for c in self.conferences.values() if call_sid in c.participants)
        self.calls[call_sid].status = "in-progress"
        await self._join(conference, conference.participants[call_sid])

    async def _update_participant(self, request: Request) -> Response:
        if not self._authorised(request, request.path_params["sid"]):
            return _problem(401, 20003, "Authenticate")
        if self.fail_with is not None:
            return _problem(self.fail_with, 20500, "failing")
        conference = self.conferences.get(request.path_params["conference"])
        participant = conference.live(request.path_params["call_sid"]) if conference else None
        if conference is None or participant is None:
            return _problem(404, 20404, "The requested resource was not found")
        if request.method == "DELETE":
            participant.status = "complete"
            self.calls[participant.call_sid].status = "completed"
            self._later(self.conference_event(conference, "participant-leave", participant))
            return Response(status_code=204)
        form = await request.form()
        update = {name: str(form[name]) for name in form}
        participant.updates.append(update)
        events: list[str] = []
        if "Hold" in update and _flag(update["Hold"]) != participant.hold:
            participant.hold = _flag(update["Hold"])
            participant.hold_url = update.get("HoldUrl")
            events.append("participant-hold" if participant.hold else "participant-unhold")
        if "Muted" in update and _flag(update["Muted"]) != participant.muted:
            participant.muted = _flag(update["Muted"])
            events.append("participant-mute" if participant.muted else "participant-unmute")
        if "Coaching" in update or "CallSidToCoach" in update:
            coach = update.get("CallSidToCoach") or participant.call_sid_to_coach
            coaching = _flag(update.get("Coaching"), bool(update.get("CallSidToCoach")))
            if coaching and (not coach or conference.live(coach) is None):
                return _problem(400, 16028, "Participant to be whispered is not present")
            participant.coaching, participant.call_sid_to_coach = (
                coaching,
                coach if coaching else None,
            )
            events.append("participant-modify")
        for event in events:  # Twilio answers, then posts the conference's callbacks
            self._later(self.conference_event(conference, event, participant))
        return JSONResponse(self._participant_json(participant))

    def _later(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._fetches.add(task)
        task.add_done_callback(self._fetches.discard)

    async def settle(self) -> None:
        """Wait for the TwiML fetches that redirects started."""
        while self._fetches:
            await asyncio.gather(*self._fetches, return_exceptions=True)

    async def answer(self, call: FakeCall, answered_by: str | None = None) -> httpx.Response:
        """The callee picks up: the `answered` status callback (if asked for), then the
        TwiML fetched from the call's Url (with AnsweredBy when machine detection is on)."""
        call.status = "in-progress"
        extra = {"AnsweredBy": answered_by} if answered_by and call.machine_detection else {}
        if call.status_callback and "answered" in call.status_callback_events:
            await self.post_signed(
                call.status_callback,
                self._call_params(call, CallbackSource="call-progress-events", **extra),
            )
        assert call.url, "the call was placed without a Url"
        return await self.fetch(call, call.url, **extra)

    async def finish(
        self, call: FakeCall, status: str = "completed", duration_s: int | None = None
    ) -> httpx.Response:
        """The call ends (completed, no-answer, busy, failed, canceled): its final status
        callback, which Twilio always sends. Call again to play a provider retry."""
        call.status = status
        extra = {"CallbackSource": "call-progress-events"}
        if duration_s is not None:
            extra["CallDuration"] = str(duration_s)
        assert call.status_callback, "the call was placed without a StatusCallback"
        return await self.post_signed(call.status_callback, self._call_params(call, **extra))

    async def dial_outcome(
        self,
        call: FakeCall,
        action: str,
        dial_status: str,
        duration_s: int = 0,
        dial_call_sid: str | None = None,
    ) -> httpx.Response:
        """A <Dial> ended: Twilio posts its outcome to the Dial's action URL (pass the same
        `dial_call_sid` again to play a retry)."""
        extra = {
            "DialCallStatus": dial_status,
            "DialCallSid": dial_call_sid or "CA" + uuid.uuid4().hex,
            "DialCallDuration": str(duration_s),
        }
        return await self.fetch(call, action, **extra)

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, dict(params)))

    async def post_signed(
        self, url: str, params: Mapping[str, str], *, token: str | None = None
    ) -> httpx.Response:
        """POST a webhook as Twilio does: a form, signed over the exact URL called."""
        signer = RequestValidator(token or self.auth_token)
        signature = signer.compute_signature(url, dict(params))
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(
                url, data=dict(params), headers={"X-Twilio-Signature": signature}
            )

    async def call_webhook(
        self,
        url: str,
        call_sid: str,
        from_: str,
        to: str,
        status: str = "in-progress",
        **extra: str,
    ) -> httpx.Response:
        """A voice webhook as Twilio posts it during a call (incoming call, Gather action,
        Redirect, status callback): the call's fields plus `extra` (Digits, SpeechResult,
        CallDuration, RecordingUrl, ...), signed over the exact URL called. The fake learns
        the call, so the Calls API can redirect it."""
        call = self.calls.setdefault(
            call_sid, FakeCall(call_sid, to=to, from_=from_, direction="inbound", status=status)
        )
        call.status = status
        params = {
            "CallSid": call_sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "To": to,
            "CallStatus": status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            **extra,
        }
        return await self.post_signed(url, params)

    async def report(
        self, message: SentMessage, status: str, error_code: str | None = None
    ) -> httpx.Response:
        """The status callback Twilio posts for a message it accepted."""
        assert message.status_callback, "the message was sent without a StatusCallback"
        params = {
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "AccountSid": self.account_sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": message.to,
            "From": message.from_,
        }
        if error_code:
            params["ErrorCode"] = error_code
        return await self.post_signed(message.status_callback, params)


@asynccontextmanager
async def running_fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    async with serving(fake.app) as base_url:
        fake.base_url = base_url
        yield fake
