"""Real-world email (fixtures/email/realworld/, sources and licences in its README.md): each
message parses to the subject, sender, body and classification its manifest expects.

`messages` were looked at while fixing the parser; `heldout` were not (their expectations come
from the source projects' own test tables), and are reported separately. The same messages go
through the SMTP server and the receiver in tests/integration/test_email_inbound.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline.channels.email.parsing import ParsedEmail, parse_email

REALWORLD = Path(__file__).parent / "fixtures" / "email" / "realworld"
MANIFEST: dict[str, Any] = json.loads((REALWORLD / "manifest.json").read_text())


def corpus(section: str) -> list[Any]:
    folder = REALWORLD / ("heldout" if section == "heldout" else "")
    return [
        pytest.param(
            folder / entry["file"],
            entry,
            id=entry["file"],
            marks=[pytest.mark.xfail(reason=entry["known_gap"], strict=True)]
            if "known_gap" in entry
            else [],
        )
        for entry in MANIFEST[section]
    ]


def check(parsed: ParsedEmail, expected: dict[str, Any]) -> None:
    """What the manifest says of one message (keys it leaves out are not checked)."""
    message = parsed.message
    assert parsed.classification == expected["classification"], parsed.reason
    if "subject" in expected:
        assert message.data["subject"] == expected["subject"]
    if "sender" in expected:
        assert (message.identity_value or None) == expected["sender"]
    if "body" in expected:
        assert expected["body"] in message.body
    assert "\ufffd" not in message.body  # no text decoded in the wrong charset
    if bounce := expected.get("bounce"):
        assert parsed.bounce is not None
        assert parsed.bounce.failed == bounce["failed"]
        if "recipient" in bounce:
            assert bounce["recipient"] in [r.address for r in parsed.bounce.recipients]
        found = {r.address for r in parsed.bounce.recipients}
        if found and bounce.get("recipients_any_of"):
            assert found & {a.lower() for a in bounce["recipients_any_of"]}
    if complaint := expected.get("complaint"):
        assert parsed.complaint is not None
        assert parsed.complaint.feedback_type == complaint["feedback_type"]
        assert list(parsed.complaint.recipients) == complaint["recipients"]
    if expected["classification"] != "message":
        assert message.attachments == ()  # a report's returned message is not a file


def test_the_corpus_is_big_enough_and_every_file_is_listed() -> None:
    listed = {e["file"] for e in MANIFEST["messages"]}
    held = {e["file"] for e in MANIFEST["heldout"]}
    assert {p.name for p in REALWORLD.glob("*.eml")} == listed
    assert {p.name for p in (REALWORLD / "heldout").glob("*.eml")} == held
    assert len(listed) >= 40 and len(held) >= 30
    kinds = {e["classification"] for e in MANIFEST["messages"]}
    assert {"message", "bounce", "complaint"} <= kinds
    for entry in MANIFEST["messages"] + MANIFEST["heldout"]:
        assert entry["file"].split("-", 1)[0] in {"flufl", "talon", "flanker", "mail"}
    assert set(MANIFEST["sources"]) == {"flufl", "talon", "flanker", "mail-gem"}


@pytest.mark.parametrize(("path", "expected"), corpus("messages"))
def test_realworld_message(path: Path, expected: dict[str, Any]) -> None:
    check(parse_email(path.read_bytes()), expected)


@pytest.mark.parametrize(("path", "expected"), corpus("heldout"))
def test_heldout_message(path: Path, expected: dict[str, Any]) -> None:
    check(parse_email(path.read_bytes()), expected)
