"""Domain error families and their HTTP problem responses, in one place.

Services raise these; `install_error_handlers` maps them to JSON problems
(`{"code": ..., "message": ...}`) so that bad input never yields a 500.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, compile_path

log = structlog.get_logger(__name__)
KNOWN_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class ThreadlineError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(ThreadlineError):
    status = 404
    code = "not_found"


class NotAuthenticated(ThreadlineError):
    status = 401
    code = "not_authenticated"


class NotAllowed(ThreadlineError):
    status = 403
    code = "forbidden"


class Conflict(ThreadlineError):
    status = 409
    code = "conflict"


class Invalid(ThreadlineError):
    status = 422
    code = "invalid"


class RateLimited(ThreadlineError):
    """Too many attempts from this address or at this account: try again later."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float, **details: Any) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(message, retry_after_s=self.retry_after_s, **details)


class Problem(BaseModel):
    """The body of every error response."""

    code: str
    message: str
    details: dict[str, Any] | None = None


def problem(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    # a message may quote what was sent (a CSV header): never a NUL in what we answer
    body = Problem(code=code, message=message.replace("\x00", "\ufffd"), details=details or None)
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=dict(headers or {})
    )


def problem_for(exc: ThreadlineError) -> JSONResponse:
    """The problem response of a domain error (a 429 says when to try again)."""
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimited) else None
    return problem(exc.status, exc.code, exc.message, exc.details, headers=headers)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text}
    for status, text in {
        400: "Bad request",
        401: "Not authenticated",
        403: "Forbidden",
        404: "Not found",
        409: "Conflict",
        422: "Invalid input",
        429: "Too many requests (see Retry-After)",
    }.items()
}


def allowed_methods(request: Request) -> str:
    """The `Allow` header of a 405 (RFC 9110): the methods of the resource the path names,
    i.e. of every route with the most specific template matching it (`/queues/stats` over
    `/queues/{queue_id}`, `/app/{key}/session` over the CORS preflight's `/app/{key}/{path}`).
    Starlette itself names only the first route that matched the path."""
    path = request.scope["path"]
    matching = [
        (template, methods)
        for template, methods in _route_methods(request.app)
        if _path_regex(template).match(path)
    ]
    if not matching:
        return ""
    best = max(_specificity(template) for template, _ in matching)
    allowed = set().union(*(m for t, m in matching if _specificity(t) == best))
    return ", ".join(method for method in KNOWN_METHODS if method in allowed)


def _route_methods(app: FastAPI) -> Iterator[tuple[str, set[str]]]:
    """(path template, methods) of every HTTP route, those of included routers too."""
    for route in app.router.routes:
        # FastAPI 0.16x keeps an included router as one entry that knows its routes
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for context in contexts():
                methods = getattr(context.original_route, "methods", None)
                if methods:
                    yield context.path, set(methods)
        elif isinstance(route, Route) and route.methods:
            yield route.path, set(route.methods)


@functools.lru_cache(maxsize=512)
def _path_regex(template: str) -> re.Pattern[str]:
    return compile_path(template)[0]


def _specificity(template: str) -> int:
    return len(re.sub(r"\{[^}]*\}", "", template))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ThreadlineError)
    async def _domain(_request: Request, exc: ThreadlineError) -> JSONResponse:
        return problem_for(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        return problem(422, "invalid", "the request does not match the schema", {"errors": errors})

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the schemas let through (a NUL byte in text on
        # PostgreSQL, a number out of a column's range): the client's input, not our fault.
        log.info("data_refused", error=str(exc.orig))
        return problem(422, "invalid", "the database cannot store a value of this request")

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests raced for the same unique value (the services check first, so only a
        # concurrent twin gets here): the loser is told, nothing half-written remains.
        log.info("integrity_refused", error=str(exc.orig))
        return problem(409, "conflict", "this conflicts with data stored at the same moment")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return problem(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem(500, "internal_error", "an unexpected error occurred; it has been logged")
