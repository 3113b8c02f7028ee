"""TwiML as the simulated voice page plays it: each verb of a document, in order, with what
the caller would hear or do (Say's words, Play's music, Pause's length, Gather's keys or
speech and where they go, Redirect, Dial to an agent, Hangup)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

VERBS = frozenset(
    {"Say", "Play", "Pause", "Gather", "Redirect", "Dial", "Hangup", "Enqueue", "Record"}
)


@dataclass(frozen=True)
class Verb:
    """One verb: `text` (Say, and a Gather's prompts joined), `url` (Play's file, Gather's
    action, Redirect's target, Dial's action), `seconds` (Pause's length, Gather's
    timeout), `target` (whom a Dial rings), `input` (a Gather's dtmf and/or speech)."""

    name: str
    text: str = ""
    url: str = ""
    seconds: int = 0
    target: str = ""
    input: str = ""
    language: str = ""
    num_digits: int = 0
    says: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "text": self.text,
            "url": self.url,
            "seconds": self.seconds,
            "target": self.target,
            "input": self.input,
            "language": self.language,
            "num_digits": self.num_digits,
        }


def parse_twiml(document: str) -> list[Verb]:
    """The verbs of a <Response>, or none for something that is not TwiML."""
    try:
        # Threadline's own answer to a webhook the simulated Twilio posted, not a stranger's
        root = ElementTree.fromstring(document)  # noqa: S314
    except ElementTree.ParseError:
        return []
    if root.tag != "Response":
        return []
    return [_verb(child) for child in root if child.tag in VERBS]


def _verb(node: ElementTree.Element) -> Verb:
    attrs = node.attrib
    name = node.tag
    if name == "Gather":
        says = [(child.text or "").strip() for child in node if child.tag == "Say"]
        digits = attrs.get("numDigits", "")
        return Verb(
            name,
            text=" ".join(s for s in says if s),
            url=attrs.get("action", ""),
            seconds=_int(attrs.get("timeout"), 5),
            input=attrs.get("input", "dtmf"),
            language=attrs.get("language", ""),
            num_digits=int(digits) if digits.isdigit() else 0,
            says=says,
        )
    if name == "Dial":
        targets = [(child.text or "").strip() for child in node]
        return Verb(name, url=attrs.get("action", ""), target=", ".join(t for t in targets if t))
    if name == "Pause":
        return Verb(name, seconds=_int(attrs.get("length"), 1))
    if name == "Say":
        return Verb(name, text=(node.text or "").strip(), language=attrs.get("language", ""))
    return Verb(name, text=(node.text or "").strip(), url=(node.text or "").strip())


def _int(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.isdigit() else default
