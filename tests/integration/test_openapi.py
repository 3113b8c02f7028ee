"""The served OpenAPI document is itself tested (as Wazo's test_documentation.py does):
it is a structurally valid OpenAPI 3 document, every operation says what it does, every
/api/v1 operation documents its problem responses, and it lists the main resources.

`operations` and `example_body` are shared with the role and bad-input walks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tests.conftest import Running

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
PUBLIC = {
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    # an invited agent sets their password, by the signed token in their invitation link
    ("post", "/api/v1/auth/invite/check"),
    ("post", "/api/v1/auth/invite/accept"),
    ("post", "/api/v1/widget/{key}/session"),
    # a customer's callback, by the signed token in their manage link
    ("get", "/api/v1/public/callbacks/{token}"),
    ("get", "/api/v1/public/callbacks/{token}/windows"),
    ("post", "/api/v1/public/callbacks/{token}/reschedule"),
    ("post", "/api/v1/public/callbacks/{token}/cancel"),
    # the chat widget's visitor: their wait and callbacks, by their signed visitor token
    ("get", "/api/v1/widget/{key}/wait"),
    ("post", "/api/v1/widget/{key}/callback"),
    ("get", "/api/v1/widget/{key}/callback-windows"),
    ("post", "/api/v1/widget/{key}/callbacks"),
    # a company's app (and the customer page): its own session, then the session token
    # authorises that customer's contacts and callbacks only
    ("post", "/api/v1/app/{key}/session"),
    ("post", "/api/v1/app/{key}/contacts"),
    ("get", "/api/v1/app/{key}/contacts/{contact_id}"),
    ("post", "/api/v1/app/{key}/contacts/{contact_id}/callback"),
    ("get", "/api/v1/app/{key}/windows"),
    ("get", "/api/v1/app/{key}/callbacks"),
    ("post", "/api/v1/app/{key}/callbacks"),
    ("get", "/api/v1/app/{key}/callbacks/{callback_id}"),
    ("post", "/api/v1/app/{key}/callbacks/{callback_id}/reschedule"),
    ("post", "/api/v1/app/{key}/callbacks/{callback_id}/cancel"),
    ("post", "/api/v1/app/{key}/call-now"),
    # outage mode: the incidents in force by the widget's or app's public key, and the
    # visitor's "tell me when it is fixed" by their signed visitor token
    ("get", "/api/v1/widget/{key}/incidents"),
    ("post", "/api/v1/widget/{key}/incidents/follow"),
    ("get", "/api/v1/app/{key}/incidents"),
    # published knowledge-base articles, by the widget's or app's public key
    ("get", "/api/v1/widget/{key}/help/search"),
    ("get", "/api/v1/widget/{key}/help/articles/{slug}"),
    ("post", "/api/v1/widget/{key}/help/articles/{slug}/feedback"),
    ("get", "/api/v1/app/{key}/help/search"),
    ("get", "/api/v1/app/{key}/help/articles/{slug}"),
    ("post", "/api/v1/app/{key}/help/articles/{slug}/feedback"),
    # a resolved contact's survey, answered by the widget's visitor (their signed token)
    ("post", "/api/v1/widget/{key}/surveys/{survey_id}/answers"),
}


def operations(doc: dict[str, Any], prefix: str = "/api/v1") -> Iterator[tuple[str, str, Any]]:
    """(method, path template, operation) for every documented operation under prefix."""
    for path, item in doc["paths"].items():
        if not path.startswith(prefix):
            continue
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method, path, operation


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = doc["components"]["schemas"][name]
    return schema


def body_schema(doc: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    body = operation.get("requestBody")
    if body is None or "application/json" not in body["content"]:
        return None  # no body, or a file upload (see is_upload)
    return resolve(doc, body["content"]["application/json"]["schema"])


def is_upload(operation: dict[str, Any]) -> bool:
    """A multipart file upload (its `file` part is required)."""
    return "multipart/form-data" in operation.get("requestBody", {}).get("content", {})


def example_value(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A small value that the schema accepts (enough for the walk's required fields)."""
    schema = resolve(doc, schema)
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return example_value(doc, next(s for s in schema["anyOf"] if s.get("type") != "null"))
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "email":
            return "someone@example.com"
        if schema.get("format") == "date-time":
            return "2030-01-07T09:00:00+00:00"
        return "x" * max(schema.get("minLength", 1), 8)
    if kind == "integer":
        return schema.get("minimum", 0)
    if kind == "number":
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return example_body(doc, schema)
    return "x"


def example_body(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    schema = resolve(doc, schema)
    properties = schema.get("properties", {})
    return {name: example_value(doc, properties[name]) for name in schema.get("required", [])}


def fill_path(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


async def served_document(server: Running) -> dict[str, Any]:
    async with server.client() as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = response.json()
    return doc


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


async def test_document_is_structurally_openapi_3(server: Running) -> None:
    doc = await served_document(server)
    assert re.fullmatch(r"3\.\d+\.\d+", doc["openapi"])
    assert doc["info"]["title"] == "Threadline"
    assert doc["info"]["version"]
    assert isinstance(doc["paths"], dict) and doc["paths"]
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):  # every reference points at a component that exists
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    operation_ids = set()
    for path, item in doc["paths"].items():
        assert path.startswith("/"), path
        templated = set(re.findall(r"\{(\w+)\}", path))
        for method, operation in item.items():
            assert method in HTTP_METHODS, (method, path)
            assert operation["operationId"] not in operation_ids, operation["operationId"]
            operation_ids.add(operation["operationId"])
            assert operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d|[1-5]XX|default", status), (method, path, status)
                assert response.get("description"), (method, path, status)
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == templated, (method, path)
            for parameter in operation.get("parameters", []):
                assert parameter["in"] in ("path", "query", "header", "cookie")
                assert "schema" in parameter
                if parameter["in"] == "path":
                    assert parameter["required"] is True
            if "requestBody" in operation:
                assert operation["requestBody"]["content"], (method, path)


async def test_every_operation_is_described(server: Running) -> None:
    doc = await served_document(server)
    for method, path, operation in operations(doc, prefix="/"):
        assert operation.get("summary") or operation.get("description"), (method, path)
        assert operation.get("tags"), (method, path)


async def test_api_operations_document_their_problems(server: Running) -> None:
    doc = await served_document(server)
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"code", "message"}
    assert {"code", "message", "details"} <= set(problem["properties"])
    for method, path, operation in operations(doc):
        expected = {"400", "404", "422"}
        if (method, path) not in PUBLIC:
            expected |= {"401", "403"}
        documented = set(operation["responses"])
        assert expected <= documented, (method, path, expected - documented)
        for status in documented:
            if status.startswith("4"):
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/Problem"}, (
                    method,
                    path,
                    status,
                )
        success = [s for s in documented if s.startswith("2")]
        assert len(success) == 1, (method, path, success)
        if success[0] != "204" and method != "delete":
            assert "content" in operation["responses"][success[0]], (method, path)


async def test_main_resources_are_listed(server: Running) -> None:
    doc = await served_document(server)
    listed = {(m, p) for m, p, _ in operations(doc)}
    for expected in [
        ("post", "/api/v1/auth/login"),
        ("get", "/api/v1/auth/me"),
        ("post", "/api/v1/auth/tokens"),
        ("get", "/api/v1/agents"),
        ("post", "/api/v1/agents"),
        ("put", "/api/v1/agents/{agent_id}/presence"),
        ("get", "/api/v1/customers"),
        ("post", "/api/v1/customers"),
        ("post", "/api/v1/customers/{customer_id}/merge"),
        ("get", "/api/v1/customers/{customer_id}/timeline"),
        ("get", "/api/v1/threads"),
        ("post", "/api/v1/threads/{thread_id}/messages"),
        ("post", "/api/v1/threads/{thread_id}/resolve"),
        ("post", "/api/v1/threads/{thread_id}/transfer"),
        ("get", "/api/v1/queues"),
        ("get", "/api/v1/queues/stats"),
        ("get", "/api/v1/dashboard"),
        ("get", "/api/v1/contacts"),
        ("post", "/api/v1/offers/{offer_id}/accept"),
        ("post", "/api/v1/widget/{key}/session"),
    ]:
        assert expected in listed, expected
    tags = {tag for _, _, op in operations(doc) for tag in op["tags"]}
    assert {"auth", "agents", "customers", "threads", "routing", "chat widget"} <= tags
    schemas = doc["components"]["schemas"]
    for name in ("AgentOut", "CustomerOut", "ThreadOut", "EventOut", "QueueOut", "Problem"):
        assert name in schemas, name
    # pages and the widget script are not API: they stay out of the document
    assert not [p for p in doc["paths"] if not p.startswith(("/api/v1/", "/webhooks/"))]


async def test_provider_webhooks_are_documented(server: Running) -> None:
    """What each provider webhook accepts and how a stranger is answered (no such endpoint,
    a bad signature, a payload it cannot read), so that schemathesis fuzzes them too."""
    doc = await served_document(server)
    webhooks = list(operations(doc, prefix="/webhooks/"))
    paths = {p for _, p, _ in webhooks}
    for channel in ("sms/{provider}", "voice/twilio", "telegram", "whatsapp", "messenger"):
        assert any(p.startswith(f"/webhooks/{channel}/") for p in paths), channel
    for method, path, operation in webhooks:
        assert operation["tags"] == ["provider webhooks"], (method, path)
        assert {"200", "403", "404", "422"} <= set(operation["responses"]), (method, path)
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                assert list(response["content"]) == ["application/json"], (path, status)
        if method == "post":
            body = operation["requestBody"]
            assert body["required"] and len(body["content"]) == 1, path
            twilio = path.startswith(("/webhooks/sms/", "/webhooks/voice/"))
            media = "application/x-www-form-urlencoded" if twilio else "application/json"
            assert media in body["content"], path
            if twilio:
                assert "text/xml" in operation["responses"]["200"]["content"], path
        else:
            assert "text/plain" in operation["responses"]["200"]["content"], path


def _string_schemas(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "string":
            yield node
        for value in node.values():
            yield from _string_schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _string_schemas(value)


async def test_free_text_is_documented_without_nul(server: Running) -> None:
    """The server refuses U+0000 in any text (PostgreSQL cannot store it): every string the
    document describes says so with a pattern, unless its format, pattern or enum does."""
    doc = await served_document(server)
    strings = list(_string_schemas(doc))
    assert len(strings) > 100
    for schema in strings:
        if not {"format", "enum", "const"} & set(schema):
            assert "pattern" in schema, schema
            assert not re.fullmatch(schema["pattern"], "a\x00b"), schema
    name = doc["components"]["schemas"]["CustomerCreate"]["properties"]["name"]
    assert {"type": "string", "maxLength": 200, "pattern": "^[^\\x00]*$"} in name["anyOf"]
    search = next(
        p for p in doc["paths"]["/api/v1/customers"]["get"]["parameters"] if p["name"] == "q"
    )
    assert re.fullmatch(resolve(doc, search["schema"]["anyOf"][0])["pattern"], "card")


async def test_fields_that_refuse_null_are_not_documented_as_nullable(server: Running) -> None:
    doc = await served_document(server)
    schemas = doc["components"]["schemas"]
    for model, field in [
        ("AgentUpdate", "name"),
        ("AgentUpdate", "role"),
        ("AgentUpdate", "capacity"),
        ("AgentUpdate", "active"),
        ("CustomerUpdate", "attributes"),
    ]:
        prop = schemas[model]["properties"][field]
        assert {"type": "null"} not in prop.get("anyOf", []), (model, field, prop)
        assert prop.get("type") != "null" and "default" not in prop, (model, field, prop)
    # an optional field that takes null still says so
    assert {"type": "null"} in schemas["AgentUpdate"]["properties"]["max_total"]["anyOf"]
