"""The input boundary's pure parts: finding a NUL, keeping provider text with U+FFFD in its
place, and saying both in the OpenAPI document."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from threadline.boundary import (
    NUL_FREE_PATTERN,
    declare_nul_free,
    not_null,
    nul_location,
    replace_nul,
)


def test_nul_location_names_the_path_to_the_first_nul() -> None:
    assert nul_location({"a": "ok", "b": [1, {"c": "x\x00"}]}, ("body",)) == ("body", "b", 1, "c")
    assert nul_location({"k\x00": 1}) == ("k\x00",)
    assert nul_location(["fine", 5, None, {"n": 1.5}]) is None
    assert nul_location("\\0 typed as two characters") is None


@dataclass(frozen=True)
class Message:
    body: str
    data: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def test_replace_nul_keeps_the_text_and_its_shape() -> None:
    message = Message("a\x00b", {"name\x00": ["x\x00", 3]}, ("t\x00",))
    cleaned = replace_nul(message)
    assert cleaned == Message("a\ufffdb", {"name\ufffd": ["x\ufffd", 3]}, ("t\ufffd",))
    assert nul_location(cleaned.data) is None


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_replaced_values_hold_no_nul(value: Any) -> None:
    assert nul_location(replace_nul(value)) is None


def test_the_document_pattern_refuses_exactly_nul() -> None:
    doc: dict[str, Any] = {
        "a": {"type": "string"},
        "b": {"type": "string", "format": "date-time"},
        "c": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]},
        "d": {"type": "string", "enum": ["x"]},
    }
    declare_nul_free(doc)
    assert doc["a"]["pattern"] == doc["c"]["anyOf"][0]["pattern"] == NUL_FREE_PATTERN
    assert "pattern" not in doc["b"] and "pattern" not in doc["d"]
    assert re.fullmatch(NUL_FREE_PATTERN, "Olá 🙂\n\\0") and not re.search(
        NUL_FREE_PATTERN, "a\x00"
    )


def test_not_null_leaves_the_type_alone() -> None:
    schema: dict[str, Any] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    not_null(schema)
    assert schema == {"type": "string"}
    several: dict[str, Any] = {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}
    not_null(several)
    assert several == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
