"""Typed domain events: one vocabulary, immutable, and exact through JSON (log, Redis,
webhooks)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from threadline.events import domain
from threadline.events.domain import EVENT_TYPES, DomainEvent, decode, durable_types, encode
from threadline.events.handlers import Handlers

SAMPLES: dict[str, Any] = {
    "str": "x-1",
    "str | None": "x-2",
    "int": 7,
    "int | None": 8,
    "float": 1.5,
    "float | None": 2.5,
    "bool": True,
    "bool | None": False,
    "datetime": datetime(2026, 12, 6, 9, 30, 1, 250000, tzinfo=UTC),
    "datetime | None": datetime(2026, 12, 6, 9, 31, tzinfo=UTC),
    "list[str]": ["a", "b"],
    "dict[str, Any]": {"nested": {"n": 1, "l": [1, "two"]}},
}


def sample(cls: type[DomainEvent]) -> DomainEvent:
    values = {f.name: SAMPLES[str(f.type)] for f in dataclasses.fields(cls)}
    return cls(**values)


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_event_survives_json_exactly(name: str) -> None:
    event = sample(EVENT_TYPES[name])
    wire = json.loads(json.dumps(encode(event)))
    assert wire["type"] == name
    assert decode(wire) == event
    assert type(decode(wire)) is type(event)


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_events_are_immutable(name: str) -> None:
    event = sample(EVENT_TYPES[name])
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.org_id = "other"  # type: ignore[misc]


def test_one_name_per_type_in_the_vocabulary() -> None:
    names = [cls.type for cls in EVENT_TYPES.values()]
    assert len(names) == len(set(names))
    assert "message.received" in durable_types()
    assert "typing" not in durable_types()  # a signal, not a fact: never logged
    with pytest.raises(TypeError):

        @dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
        class Twin(DomainEvent):
            type = "message.received"


def test_an_older_record_decodes_with_the_defaults_of_newer_fields() -> None:
    event = domain.ContactAbandoned(
        org_id="o",
        contact_id="c",
        thread_id="t",
        customer_id="u",
        queue_id="q",
        channel="chat",
        why="hung up",
        waited_s=3.0,
    )
    wire = encode(event)
    del wire["from_status"], wire["agent_id"]
    assert decode(wire) == event


def test_a_message_stored_before_the_bot_flag_leaves_the_bot_to_look() -> None:
    """An install upgraded with messages still in its log: the bot cannot know from the event
    whether it answers there, so it reads the thread (it must not skip a customer)."""
    from threadline.selfservice.bot.services import _awaits_the_bot

    event = domain.MessageReceived(
        org_id="o", thread_id="t", customer_id="u", channel="chat", seq=3, bot=False
    )
    wire = encode(event)
    del wire["bot"]
    older = decode(wire)
    assert isinstance(older, domain.MessageReceived) and older.bot is None
    assert _awaits_the_bot(older) and not _awaits_the_bot(event)


def test_a_family_handler_receives_its_members() -> None:
    handlers = Handlers(bus=None)  # type: ignore[arg-type]

    async def on_contact(uow: Any, event: domain.ContactEvent) -> None:
        return None

    handlers.in_transaction(domain.ContactEvent, on_contact)
    assert handlers._in_for(domain.ContactResolved) == (on_contact,)
    assert handlers._in_for(domain.PresenceChanged) == ()


def test_a_durable_consumer_cannot_ask_for_live_only_signals() -> None:
    handlers = Handlers(bus=None)  # type: ignore[arg-type]

    async def consume(uow: Any, event: DomainEvent) -> None:
        return None

    with pytest.raises(ValueError):
        handlers.consumer("screens", consume, types=[domain.Typing])
    handlers.consumer("crm", consume, types=[domain.ContactResolved])
    with pytest.raises(ValueError):
        handlers.consumer("crm", consume)


def test_docs_name_every_event_type() -> None:
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "events.md").read_text()
    missing = [name for name in EVENT_TYPES if f"| `{name}` |" not in docs]
    assert not missing, f"docs/events.md does not describe {missing}"
