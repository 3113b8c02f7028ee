"""A small asynchronous client for Twilio's Calls REST API (httpx): place a call, and redirect
or end a live one; and the Conference Participants API: add a participant to a conference
(by its SID or friendly name), hold, mute or coach one, and remove one.

It imports nothing from Threadline, so it could live as its own library. Errors tell whether
the request surely never reached Twilio (`TwilioUnreachable`), reached it and was answered
with an error (`TwilioApiError`), or may have reached it with the answer lost
(`TwilioNoAnswer`): a call is only ever placed again after the first two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_API_BASE = "https://api.twilio.com"


class TwilioError(Exception):
    pass


class TwilioUnreachable(TwilioError):
    """No request left this process (connection refused, DNS, connect timeout)."""


class TwilioNoAnswer(TwilioError):
    """The request may have been received; its answer never came."""


class TwilioApiError(TwilioError):
    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"HTTP {status}" + (f" (error {code})" if code else "") + f": {message}")
        self.status = status
        self.code = code

    @property
    def retryable(self) -> bool:
        return self.status == 429 or self.status >= 500


@dataclass(frozen=True, slots=True)
class CallResource:
    sid: str
    status: str  # queued|ringing|in-progress|completed|busy|failed|no-answer|canceled
    to: str
    from_: str


@dataclass(frozen=True, slots=True)
class ParticipantResource:
    """A conference participant as Twilio answers: its call, its conference and its state."""

    call_sid: str
    conference_sid: str
    status: str  # queued|connecting|ringing|connected|complete|failed
    hold: bool
    muted: bool
    coaching: bool
    call_sid_to_coach: str | None


@dataclass(frozen=True, slots=True)
class Account:
    """Whose calls: the account SID and its auth token (basic auth, as Twilio takes it)."""

    sid: str
    auth_token: str
    api_base: str = DEFAULT_API_BASE

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"Account(sid={self.sid!r}, api_base={self.api_base!r})"


class TwilioCalls:
    """The Calls API over a shared httpx client (its pool is reused)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def create(
        self,
        account: Account,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str,
        status_callback_events: Sequence[str] = ("answered", "completed"),
        timeout_s: int = 30,
        machine_detection: bool = False,
    ) -> CallResource:
        """Place a call: Twilio fetches `url` (TwiML) when it is answered and posts the
        call's progress to `status_callback` (by default when it is answered and when it
        ends, whichever way: completed, busy, no-answer, failed or canceled)."""
        form: list[tuple[str, str]] = [
            ("To", to),
            ("From", from_),
            ("Url", url),
            ("Method", "POST"),
            ("StatusCallback", status_callback),
            ("StatusCallbackMethod", "POST"),
            ("Timeout", str(timeout_s)),
        ]
        form.extend(("StatusCallbackEvent", event) for event in status_callback_events)
        if machine_detection:
            form.append(("MachineDetection", "Enable"))
        data = await self._post(account, "Calls.json", form)
        return _resource(data, to, from_)

    async def redirect(self, account: Account, call_sid: str, url: str) -> CallResource:
        """Make a live call fetch its next TwiML from `url` now."""
        data = await self._post(
            account, f"Calls/{call_sid}.json", [("Url", url), ("Method", "POST")]
        )
        return _resource(data, "", "")

    async def hang_up(self, account: Account, call_sid: str) -> CallResource:
        data = await self._post(account, f"Calls/{call_sid}.json", [("Status", "completed")])
        return _resource(data, "", "")

    # ------------------------------------------------------------ conference participants
    async def add_participant(
        self,
        account: Account,
        conference: str,
        *,
        from_: str,
        to: str,
        status_callback: str | None = None,
        status_callback_events: Sequence[str] = ("completed",),
        timeout_s: int = 20,
        options: Sequence[tuple[str, str]] = (),
    ) -> ParticipantResource:
        """Dial `to` into `conference` (its SID or friendly name; Twilio creates a conference
        of that name when none is in progress). `options`: more of the documented parameters
        (Muted, Coaching, CallSidToCoach, StartConferenceOnEnter, EndConferenceOnExit, Beep,
        ConferenceStatusCallback...). The call's progress goes to `status_callback`."""
        form: list[tuple[str, str]] = [("From", from_), ("To", to), ("Timeout", str(timeout_s))]
        if status_callback:
            form += [("StatusCallback", status_callback), ("StatusCallbackMethod", "POST")]
            form.extend(("StatusCallbackEvent", event) for event in status_callback_events)
        form.extend(options)
        path = f"Conferences/{quote(conference, safe='')}/Participants.json"
        return _participant(await self._post(account, path, form, key="call_sid"))

    async def update_participant(
        self,
        account: Account,
        conference_sid: str,
        call_sid: str,
        options: Sequence[tuple[str, str]],
    ) -> ParticipantResource:
        """Change a participant: Hold (with HoldUrl), Muted, Coaching, CallSidToCoach."""
        path = f"Conferences/{conference_sid}/Participants/{call_sid}.json"
        return _participant(await self._post(account, path, list(options), key="call_sid"))

    async def remove_participant(
        self, account: Account, conference_sid: str, call_sid: str
    ) -> None:
        """Take a participant out of the conference (its call ends); a participant that
        left already is not an error."""
        path = f"Conferences/{conference_sid}/Participants/{call_sid}.json"
        try:
            await self._send(account, "DELETE", path, None)
        except TwilioApiError as exc:
            if exc.status != 404:
                raise

    async def _post(
        self, account: Account, path: str, form: list[tuple[str, str]], key: str = "sid"
    ) -> dict[str, Any]:
        response = await self._send(account, "POST", path, form)
        data = _json(response)
        if not data.get(key):
            raise TwilioNoAnswer(f"HTTP {response.status_code} without a {key}")
        return data

    async def _send(
        self, account: Account, method: str, path: str, form: list[tuple[str, str]] | None
    ) -> httpx.Response:
        url = f"{account.api_base.rstrip('/')}/2010-04-01/Accounts/{account.sid}/{path}"
        try:
            response = await self._http.request(
                method,
                url,
                data=_pairs(form) if form is not None else None,
                auth=(account.sid, account.auth_token),
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TwilioUnreachable(f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            raise TwilioNoAnswer(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise _api_error(response)
        return response


def _pairs(form: list[tuple[str, str]]) -> dict[str, list[str]]:
    """httpx sends a list value as a repeated field (StatusCallbackEvent repeats)."""
    out: dict[str, list[str]] = {}
    for name, value in form:
        out.setdefault(name, []).append(value)
    return out


def _resource(data: dict[str, Any], to: str, from_: str) -> CallResource:
    return CallResource(
        sid=str(data["sid"]),
        status=str(data.get("status") or "queued"),
        to=str(data.get("to") or to),
        from_=str(data.get("from") or from_),
    )


def _participant(data: dict[str, Any]) -> ParticipantResource:
    coach = data.get("call_sid_to_coach")
    return ParticipantResource(
        call_sid=str(data["call_sid"]),
        conference_sid=str(data.get("conference_sid") or ""),
        status=str(data.get("status") or "queued"),
        hold=data.get("hold") is True,
        muted=data.get("muted") is True,
        coaching=data.get("coaching") is True,
        call_sid_to_coach=str(coach) if coach else None,
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _api_error(response: httpx.Response) -> TwilioApiError:
    data = _json(response)
    code = data.get("code")
    message = str(data.get("message") or response.reason_phrase or "error")[:300]
    return TwilioApiError(response.status_code, code if isinstance(code, int) else None, message)
