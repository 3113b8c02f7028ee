"""A small asynchronous client for Twilio's Calls REST API (httpx): place a call, and redirect
or end a live one.

It imports nothing from Threadline, so it could live as its own library. Errors tell whether
the request surely never reached Twilio (`TwilioUnreachable`), reached it and was answered
with an error (`TwilioApiError`), or may have reached it with the answer lost
(`TwilioNoAnswer`): a call is only ever placed again after the first two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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

    async def _post(
        self, account: Account, path: str, form: list[tuple[str, str]]
    ) -> dict[str, Any]:
        url = f"{account.api_base.rstrip('/')}/2010-04-01/Accounts/{account.sid}/{path}"
        try:
            response = await self._http.post(
                url, data=_pairs(form), auth=(account.sid, account.auth_token)
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TwilioUnreachable(f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            raise TwilioNoAnswer(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise _api_error(response)
        data = _json(response)
        if not data.get("sid"):
            raise TwilioNoAnswer(f"HTTP {response.status_code} without a call sid")
        return data


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
