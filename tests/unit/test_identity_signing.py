"""The signed identity (verification/signed_identity.py): its canonical text, the test
vectors documented in docs/widget.md and docs/app.md, and the documented server examples
(Python, Node.js, PHP, Ruby) giving the same hex; a hash is compared as bytes, so odd input
is a wrong hash, never an exception."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from threadline.channels.meta.webhooks import handshake_challenge, sign, signature_valid
from threadline.errors import Invalid
from threadline.verification.signed_identity import (
    IdentityRefused,
    SignedFields,
    canonical_message,
    signature_matches,
    signed_fields,
)
from threadline.verification.signed_identity import sign as sign_identity

DOCS = Path(__file__).parents[2] / "docs"
WIDGET_SECRET = "s3cr3t-widget-key"
APP_SECRET = "s3cr3t-app-key"
APP_FIELDS = {
    "email": "elena@example.com",
    "name": "Elena",
    "level": "verified",
    "method": "passkey",
    "at": "2026-11-24T09:28:00Z",
}
APP_VECTOR = "51f70b8682ec86f31a27a551fd95fa851497a9716cb941492fb3fc9787194e3c"


def _widget_vectors() -> list[tuple[dict[str, str], str]]:
    """The test-vector table of docs/widget.md: (fields, hash) per row."""
    text = (DOCS / "widget.md").read_text()
    table = text.split("### Test vectors", 1)[1].split("###", 1)[0]
    vectors = []
    for row in re.findall(r"^\|(.*)\|$", table, re.MULTILINE):
        cells = [c.strip().strip("`") for c in row.split("|")]
        if len(cells) != 4 or not re.fullmatch(r"[0-9a-f]{64}", cells[3]):
            continue
        fields = {k: v for k, v in zip(("email", "phone", "name"), cells[:3], strict=True) if v}
        vectors.append((fields, cells[3]))
    return vectors


def _code_block(doc: str, language: str) -> str:
    text = (DOCS / doc).read_text()
    section = text.split("### On your server", 1)[1]
    found = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert found is not None, f"no {language} example in {doc}"
    return found.group(1)


def _all_vectors() -> list[tuple[str, dict[str, str], str]]:
    widget = [(WIDGET_SECRET, fields, digest) for fields, digest in _widget_vectors()]
    return [*widget, (APP_SECRET, APP_FIELDS, APP_VECTOR)]


def test_the_canonical_text_is_seven_lines_with_every_field_in_order() -> None:
    fields = signed_fields(email=" Marta@Example.COM ", phone="+351 912 345 678", name="Marta")
    assert canonical_message(fields) == (
        b"threadline-identity-v1\nemail:marta@example.com\nphone:+351912345678\nname:Marta\n"
        b"level:\nmethod:\nat:"
    )
    assert canonical_message(SignedFields(name="Νίκος")).endswith(
        "name:Νίκος\nlevel:\nmethod:\nat:".encode()
    )


def test_the_documented_vectors_are_what_threadline_computes() -> None:
    vectors = _widget_vectors()
    assert len(vectors) == 3
    for secret, fields, digest in _all_vectors():
        assert (
            sign_identity(
                secret, signed_fields(**{"email": None, "phone": None, "name": None, **fields})
            )
            == digest
        )
    assert APP_VECTOR in (DOCS / "app.md").read_text()


def test_the_documented_python_example_gives_the_vectors() -> None:
    namespace: dict[str, Any] = {}
    exec(_code_block("widget.md", "python"), namespace)  # noqa: S102 - our own docs
    for secret, fields, digest in _all_vectors():
        assert namespace["threadline_hash"](secret, **fields) == digest


def _run(command: list[str], program: str, calls: str) -> list[str]:
    out = subprocess.run(
        command, input=program + calls, capture_output=True, text=True, check=True, timeout=30
    )
    return out.stdout.split()


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_documented_node_example_gives_the_vectors() -> None:
    calls = "".join(
        f"console.log(threadlineHash({json.dumps(s)}, {json.dumps(f)}));\n"
        for s, f, _ in _all_vectors()
    )
    printed = _run(["node"], _code_block("widget.md", "js"), calls)
    assert printed == [digest for _, _, digest in _all_vectors()]


@pytest.mark.skipif(shutil.which("php") is None, reason="PHP is not installed")
def test_the_documented_php_example_gives_the_vectors() -> None:
    def php_array(fields: dict[str, str]) -> str:
        pairs = ", ".join(
            f"{json.dumps(k)} => {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items()
        )
        return f"[{pairs}]"

    calls = "".join(
        f'echo threadline_hash({json.dumps(s)}, {php_array(f)}), "\\n";\n'
        for s, f, _ in _all_vectors()
    )
    printed = _run(["php"], "<?php\n" + _code_block("widget.md", "php"), calls)
    assert printed == [digest for _, _, digest in _all_vectors()]


@pytest.mark.skipif(shutil.which("ruby") is None, reason="Ruby is not installed")
def test_the_documented_ruby_example_gives_the_vectors() -> None:
    def ruby_hash(fields: dict[str, str]) -> str:
        pairs = ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items())
        return "{" + pairs + "}"

    calls = "".join(
        f"puts threadline_hash({json.dumps(s)}, {ruby_hash(f)})\n" for s, f, _ in _all_vectors()
    )
    printed = _run(["ruby", "-Ku"], "# encoding: utf-8\n" + _code_block("widget.md", "ruby"), calls)
    assert printed == [digest for _, _, digest in _all_vectors()]


def test_a_hash_vouches_for_exactly_the_fields_it_covers() -> None:
    own = signed_fields(email="mallory@example.com", phone=None, name=None)
    digest = sign_identity(WIDGET_SECRET, own)
    assert signature_matches(WIDGET_SECRET, own, digest)
    assert signature_matches(WIDGET_SECRET, own, f"  {digest.upper()} ")
    with_phone = signed_fields(email="mallory@example.com", phone="+351912345678", name=None)
    assert not signature_matches(WIDGET_SECRET, with_phone, digest)
    assert not signature_matches("another-secret", own, digest)
    assert not signature_matches(None, own, digest)
    assert not signature_matches(WIDGET_SECRET, own, None)


@pytest.mark.parametrize("given", ["é" * 64, "\ud800" * 64, "０" * 64, "", "z" * 64])
def test_an_odd_hash_is_wrong_never_an_exception(given: str) -> None:
    fields = signed_fields(email="ana@example.com", phone=None, name=None)
    assert signature_matches(WIDGET_SECRET, fields, given) is False


def test_what_cannot_be_signed_is_refused() -> None:
    with pytest.raises(IdentityRefused, match="one line"):
        canonical_message(SignedFields(name="Ana\nphone:+351912345678"))
    with pytest.raises(Invalid, match="not an email"):
        signed_fields(email="ana", phone=None, name=None)
    with pytest.raises(Invalid, match="phone"):
        signed_fields(email=None, phone="12", name=None)


def test_a_meta_signature_with_non_ascii_is_wrong_not_an_exception() -> None:
    body = b'{"object":"whatsapp_business_account"}'
    assert signature_valid("app-secret", body, sign("app-secret", body))
    assert not signature_valid("app-secret", body, "sha256=" + "é" * 64)
    params = {"hub.mode": "subscribe", "hub.verify_token": "jeton-é", "hub.challenge": "42"}
    assert handshake_challenge(params, "0" * 64) is None
