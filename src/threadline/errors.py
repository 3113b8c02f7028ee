"""Domain error families and their HTTP problem responses, in one place.

Services raise these; `install_error_handlers` maps them to JSON problems
(`{"code": ..., "message": ...}`) so that bad input never yields a 500.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


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


class Problem(BaseModel):
    """The body of every error response."""

    code: str
    message: str
    details: dict[str, Any] | None = None


def problem(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    body = Problem(code=code, message=message, details=details or None)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text}
    for status, text in {
        400: "Bad request",
        401: "Not authenticated",
        403: "Forbidden",
        404: "Not found",
        409: "Conflict",
        422: "Invalid input",
    }.items()
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ThreadlineError)
    async def _domain(_request: Request, exc: ThreadlineError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.message, exc.details)

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
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem(500, "internal_error", "an unexpected error occurred; it has been logged")
