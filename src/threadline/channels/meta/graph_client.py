"""A small asynchronous client for Meta's Graph API (httpx): a JSON POST or a GET with a
bearer token. It imports nothing from Threadline.

Errors tell whether the request surely never reached Meta (`GraphUnreachable`), was answered
with an error (`GraphApiError`), or may have reached it with the answer lost
(`GraphNoAnswer`): only the first two are safe to retry."""

from __future__ import annotations

from typing import Any

import httpx

DEFAULT_API_BASE = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"


class GraphError(Exception):
    pass


class GraphUnreachable(GraphError):
    """No request left this process (connection refused, DNS, connect timeout)."""


class GraphNoAnswer(GraphError):
    """The request may have been received; its answer never came (or made no sense)."""


# Graph error codes that mean "slow down" whatever the HTTP status (often 400): app, user
# and page call limits (4, 17, 32, 613), WhatsApp's business-account and throughput limits
# (80007, 130429), its spam and per-recipient pair limits (131048, 131056).
THROTTLED = frozenset({4, 17, 32, 613, 80007, 130429, 131048, 131056})


class GraphApiError(GraphError):
    """Meta answered with an error; `retry_after` is a Retry-After header, as sent."""

    def __init__(
        self, status: int, code: int | None, message: str, retry_after: str | None = None
    ) -> None:
        super().__init__(f"HTTP {status}" + (f" (error {code})" if code else "") + f": {message}")
        self.status = status
        self.code = code
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status == 429 or self.status >= 500 or self.code in THROTTLED


class GraphClient:
    """Calls the Graph API over a shared httpx client (its pool is reused)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def post(
        self,
        path: str,
        payload: dict[str, Any],
        *,
        access_token: str,
        api_base: str = DEFAULT_API_BASE,
        api_version: str = DEFAULT_API_VERSION,
    ) -> dict[str, Any]:
        url = f"{api_base.rstrip('/')}/{api_version}/{path.lstrip('/')}"
        headers = {"Authorization": f"Bearer {access_token}"}
        return await self._call(
            self._http.build_request("POST", url, json=payload, headers=headers)
        )

    async def get(
        self,
        path: str,
        params: dict[str, str],
        *,
        access_token: str,
        api_base: str = DEFAULT_API_BASE,
        api_version: str = DEFAULT_API_VERSION,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Read a node (e.g. a Messenger user's profile: `{psid}` with `fields`)."""
        url = f"{api_base.rstrip('/')}/{api_version}/{path.lstrip('/')}"
        request = self._http.build_request(
            "GET",
            url,
            params=params,
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=httpx.USE_CLIENT_DEFAULT if timeout_s is None else timeout_s,
        )
        return await self._call(request)

    async def _call(self, request: httpx.Request) -> dict[str, Any]:
        try:
            response = await self._http.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise GraphUnreachable(f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            raise GraphNoAnswer(f"{type(exc).__name__}: {exc}") from exc
        data = _json(response)
        if response.status_code >= 400:
            found = data.get("error")
            error: dict[str, Any] = found if isinstance(found, dict) else {}
            code = error.get("code")
            message = str(error.get("message") or response.reason_phrase or "error")[:300]
            raise GraphApiError(
                response.status_code,
                code if isinstance(code, int) else None,
                message,
                response.headers.get("retry-after"),
            )
        return data


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
