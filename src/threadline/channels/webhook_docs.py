"""How provider webhooks appear in the API document. Their handlers read the raw request
(the signature is computed over the bytes as sent), so FastAPI cannot infer the body: it is
declared here, with the answers a stranger gets (no such endpoint, a bad signature, a
malformed body), so that clients and fuzzers know what the server accepts."""

from __future__ import annotations

from enum import Enum
from typing import Any

from threadline.errors import Problem

WEBHOOK_TAGS: list[str | Enum] = ["provider webhooks"]
WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text}
    for status, text in {
        400: "Not a body the provider sends",
        403: "The signature, secret token or verify token is missing or wrong",
        404: "No such endpoint",
        409: "The endpoint cannot take this now",
        422: "Signed, but not a payload this endpoint understands",
    }.items()
}
# Twilio posts form fields (all strings), signed in X-Twilio-Signature.
FORM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        },
    }
}
# Meta (X-Hub-Signature-256) and Telegram (X-Telegram-Bot-Api-Secret-Token) post JSON objects.
JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
# Meta's verify-token handshake: hub.challenge echoed as plain text.
HANDSHAKE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "hub.challenge, echoed",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}
# Twilio's webhooks are answered with TwiML (an empty <Response/> when there is nothing to say).
TWIML_WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    **WEBHOOK_RESPONSES,
    200: {"description": "TwiML", "content": {"text/xml": {"schema": {"type": "string"}}}},
}
