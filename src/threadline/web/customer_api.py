"""Routes a customer's client calls from another origin (the chat widget on the company's
site, a web app): bearer tokens, no cookies, so any origin may read every answer, problems
included (a browser hides an error's reason from a page when the header is missing)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from threadline.errors import NotAuthenticated, ThreadlineError, problem, problem_for

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "86400",
}


def bearer(authorization: str | None, token: str | None = None) -> str:
    """The session token from 'Authorization: Bearer <token>' (or a `token` argument, for
    sockets)."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise NotAuthenticated("use 'Authorization: Bearer <session token>'")
        return value.strip()
    if token:
        return token
    raise NotAuthenticated("open a session first and send its token")


def preflight() -> Response:
    return Response(status_code=204, headers=CORS)


class CustomerRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except ThreadlineError as exc:
                response = problem_for(exc)
            except RequestValidationError as exc:
                errors = [
                    {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))}
                    for e in exc.errors()
                ]
                response = problem(
                    422, "invalid", "the request does not match the schema", {"errors": errors}
                )
            response.headers["Access-Control-Allow-Origin"] = "*"
            # a page may read when to try again after a 429
            response.headers["Access-Control-Expose-Headers"] = "Retry-After"
            return response

        return route
