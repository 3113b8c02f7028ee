"""What all input must satisfy before it reaches a handler: text without NUL characters,
and a document that says exactly what is accepted (`declare_nul_free`, `not_null`).

PostgreSQL cannot store U+0000 in text, SQLite can, and no person types one. A NUL in a
request (path, query, JSON body or form) or a WebSocket frame is refused once, here, with a
422 that says where it was, on both databases alike; the OpenAPI document says so too (a
`pattern` on every free-text string). Provider webhooks and mail are the exception: a
refusal would make the provider retry the whole batch forever, so their text is kept with
each NUL replaced by U+FFFD (`replace_nul`), the mark decoders leave for unreadable input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, FastAPI, Request, WebSocketException
from fastapi.params import Form
from fastapi.routing import APIRoute
from pydantic import BeforeValidator
from starlette.datastructures import UploadFile
from starlette.requests import HTTPConnection
from starlette.status import WS_1007_INVALID_FRAME_PAYLOAD_DATA

from threadline.errors import Invalid

NUL = "\x00"
REPLACEMENT = "\ufffd"
# The JSON Schema pattern of a string without NUL (Python's and ECMA's regex alike).
NUL_FREE_PATTERN = "^[^\\x00]*$"
NUL_MESSAGE = "text must not contain NUL characters (U+0000)"

Location = tuple[str | int, ...]
T = TypeVar("T")


def nul_location(value: Any, where: Location = ()) -> Location | None:
    """Where the first NUL is in a decoded value (strings, keys, lists, objects), or None."""
    if isinstance(value, str):
        return where if NUL in value else None
    if isinstance(value, UploadFile):
        return where if value.filename and NUL in value.filename else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and NUL in key:
                return (*where, key)
            found = nul_location(item, (*where, key))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = nul_location(item, (*where, index))
            if found is not None:
                return found
    return None


def replace_nul(value: T) -> T:
    """The same value with every NUL in its text (frozen dataclasses, mappings, lists
    included) replaced by U+FFFD: for input that must be kept, not refused."""
    result: Any = value
    if isinstance(value, str):
        result = value.replace(NUL, REPLACEMENT)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: replace_nul(getattr(value, f.name)) for f in dataclasses.fields(value)}
        result = dataclasses.replace(value, **changes)
    elif isinstance(value, Mapping):
        result = {replace_nul(key): replace_nul(item) for key, item in value.items()}
    elif isinstance(value, list | tuple):
        result = type(value)(replace_nul(item) for item in value)
    return cast(T, result)


def _pair_location(pairs: list[tuple[str, Any]], where: str) -> Location | None:
    """(where, name) of the first name=value pair (query, form) with a NUL in either."""
    for name, value in pairs:
        if nul_location(name) is not None or nul_location(value) is not None:
            return (where, name)
    return None


async def _body_location(request: Request) -> Location | None:
    """Where a NUL is in the body FastAPI has already read and decoded for this route
    (cached on the request). A route that takes no body is not looked at: a raw handler
    (a provider webhook) reads its own."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return None
    if isinstance(route.body_field.field_info, Form):
        return _pair_location((await request.form()).multi_items(), "body")
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type or not await request.body():
        return None  # FastAPI answers a body it could not decode with its own 422
    return nul_location(await request.json(), ("body",))


async def refuse_nul(connection: HTTPConnection) -> None:
    """A dependency of every route: NUL in the path, the query or the decoded body is a 422
    problem naming where it was (a WebSocket handshake is closed with 1007)."""
    found = nul_location(connection.path_params, ("path",)) or _pair_location(
        connection.query_params.multi_items(), "query"
    )
    if found is None and isinstance(connection, Request):
        found = await _body_location(connection)
    if found is None:
        return
    if connection.scope["type"] == "websocket":
        raise WebSocketException(WS_1007_INVALID_FRAME_PAYLOAD_DATA, NUL_MESSAGE)
    raise Invalid(NUL_MESSAGE, errors=[{"loc": list(found), "msg": NUL_MESSAGE}])


def declare_nul_free(node: Any) -> None:
    """Give every free-text string schema of an OpenAPI document the NUL-free pattern
    (strings with a format, a pattern, an enum or a constant exclude NUL already)."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(node):
            node["pattern"] = NUL_FREE_PATTERN
        for item in node.values():
            declare_nul_free(item)
    elif isinstance(node, list):
        for item in node:
            declare_nul_free(item)


def _json_integer(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise ValueError("a JSON integer, not a boolean or a string")
    return value


# An integer as JSON Schema means it: 3 or 3.0, never true or "3" (which pydantic's lax mode
# would read as 1 and 3 while the document says integer). Booleans: `Field(strict=True)`.
JsonInt = Annotated[int, BeforeValidator(_json_integer)]


def not_null(schema: dict[str, Any]) -> None:
    """`json_schema_extra` of an optional field that refuses null (omit it to keep the stored
    value): the document then offers the value's type alone, as the server accepts it."""
    branches = [branch for branch in schema.get("anyOf", ()) if branch != {"type": "null"}]
    if len(branches) == 1:
        del schema["anyOf"]
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches
    if schema.get("default", ...) is None:
        del schema["default"]


def install_boundary(app: FastAPI) -> None:
    """Refuse NUL on every route and say so in the OpenAPI document. Call before the
    routers are included: FastAPI gives a route the app's dependencies when it is added."""
    app.router.dependencies.append(Depends(refuse_nul))
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            declare_nul_free(build())
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
