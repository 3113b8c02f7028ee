"""A small asynchronous client for Twilio's Messages REST API (httpx).

It imports nothing from Threadline, so it could live as its own library. Errors tell
whether the request surely never reached Twilio (`TwilioUnreachable`), reached it and was
answered with an error (`TwilioApiError`), or may have reached it with the answer lost
(`TwilioNoAnswer`): only the first two are safe to retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

DEFAULT_API_BASE = "https://api.twilio.com"


class TwilioError(Exception):
    pass


class TwilioUnreachable(TwilioError):
    """No request left this process (connection refused, DNS, connect timeout)."""


class TwilioNoAnswer(TwilioError):
    """The request may have been received; its answer never came."""


class TwilioApiError(TwilioError):
    """Twilio answered with an error; `retry_after` is its Retry-After header, as sent."""

    def __init__(
        self, status: int, code: int | None, message: str, retry_after: str | None = None
    ) -> None:
        super().__init__(f"HTTP {status}" + (f" (error {code})" if code else "") + f": {message}")
        self.status = status
        self.code = code
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status == 429 or self.status >= 500


@dataclass(frozen=True, slots=True)
class MessageResource:
    sid: str
    status: str
    to: str
    from_: str


class TwilioClient:
    """Calls the Messages API over a shared httpx client (its pool is reused)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def create_message(
        self,
        *,
        account_sid: str,
        auth_token: str,
        to: str,
        from_: str,
        body: str,
        status_callback: str | None = None,
        media_urls: Sequence[str] = (),
        api_base: str = DEFAULT_API_BASE,
    ) -> MessageResource:
        url = f"{api_base.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        form: list[tuple[str, str]] = [("To", to), ("From", from_), ("Body", body)]
        if status_callback:
            form.append(("StatusCallback", status_callback))
        form.extend(("MediaUrl", media) for media in media_urls)
        try:
            response = await self._http.post(
                url,
                content=urlencode(form),  # a list of pairs: MediaUrl may repeat
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                auth=(account_sid, auth_token),
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TwilioUnreachable(f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            raise TwilioNoAnswer(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise _api_error(response)
        data = _json(response)
        if not data.get("sid"):
            raise TwilioNoAnswer(f"HTTP {response.status_code} without a message sid")
        return MessageResource(
            sid=str(data.get("sid", "")),
            status=str(data.get("status", "queued")),
            to=str(data.get("to", to)),
            from_=str(data.get("from", from_)),
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
    return TwilioApiError(
        response.status_code,
        code if isinstance(code, int) else None,
        message,
        response.headers.get("retry-after"),
    )
