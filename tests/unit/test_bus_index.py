"""The live bus's subscription index (events/bus.py) and the desktop's use of it.

The index is only a shortcut: a subscription filed under keys must receive exactly what
the same predicate received when every subscription was offered every event. So each test
runs an indexed subscription beside an unindexed twin (keys=None, the old full scan) and
compares what they received.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.auth.roles import Principal
from threadline.events.bus import (
    Event,
    MemoryBus,
    Subscription,
    event_keys,
)
from threadline.events.domain import (
    EVENT_TYPES,
    DomainEvent,
    PresenceChanged,
    QueueChanged,
    TimelineEntryAdded,
    Typing,
)
from threadline.realtime.frames import event_text
from threadline.realtime.http import desktop_keys, visible

ORGS = ("org-a", "org-b")
AGENTS = ("ag-1", "ag-2", "ag-3")
THREADS = ("th-1", "th-2", "th-3")
CUSTOMERS = ("cu-1", "cu-2")
QUEUES = ("qu-1", "qu-2")
WHO = ("customer", "agent")
KINDS = ("message", "assigned", "note")
AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def _value(name: str, annotation: str, draw: Any) -> Any:
    """A value for one field of an event, from small pools so that ids collide often."""
    optional = "None" in annotation
    pools: dict[str, tuple[Any, ...]] = {
        "agent_id": AGENTS,
        "from_agent_id": AGENTS,
        "to_agent_id": AGENTS,
        "thread_id": THREADS,
        "customer_id": CUSTOMERS,
        "survivor_id": CUSTOMERS,
        "merged_id": CUSTOMERS,
        "queue_id": QUEUES,
        "to_queue_id": QUEUES,
        "who": WHO,
        "by": WHO,
    }
    if name in pools:
        choices = pools[name] + ((None,) if optional else ())
        return draw(st.sampled_from(choices))
    if "datetime" in annotation:
        return None if optional else AT
    if annotation.startswith("bool"):
        return draw(st.booleans())
    if annotation.startswith(("int", "float")):
        return 1
    if annotation.startswith("dict"):
        return {"kind": draw(st.sampled_from(KINDS)), "seq": 1}
    if annotation.startswith("list"):
        return []
    return None if optional else "x"


@st.composite
def events(draw: Any) -> DomainEvent:
    cls = draw(st.sampled_from(sorted(EVENT_TYPES.values(), key=lambda c: c.type)))
    values: dict[str, Any] = {"org_id": draw(st.sampled_from(ORGS))}
    for f in dataclasses.fields(cls):
        if f.name in ("org_id", "id", "occurred_at"):
            continue
        values[f.name] = _value(f.name, str(f.type), draw)
    event: DomainEvent = cls(**values)
    return event


@st.composite
def desktops(draw: Any) -> tuple[Principal, set[str]]:
    principal = Principal(
        agent_id=draw(st.sampled_from(AGENTS)),
        org_id=draw(st.sampled_from(ORGS)),
        role=draw(st.sampled_from(("agent", "supervisor", "admin"))),
        name="A",
    )
    return principal, set(draw(st.sets(st.sampled_from(THREADS), max_size=2)))


def _drain(subscription: Subscription) -> list[Event]:
    got = []
    while not subscription.queue.empty():
        got.append(subscription.queue.get_nowait())
    return got


def _desktop(bus: MemoryBus, principal: Principal, watched: set[str]) -> Subscription:
    return bus.subscribe(lambda e: visible(principal, watched, e), desktop_keys(principal, watched))


@settings(max_examples=300, deadline=None)
@given(
    desks=st.lists(desktops(), min_size=1, max_size=6),
    stream=st.lists(events(), min_size=1, max_size=40),
    rewatch=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(THREADS), st.booleans())),
)
async def test_a_desktop_receives_exactly_what_the_full_scan_gave_it(
    desks: list[tuple[Principal, set[str]]],
    stream: list[DomainEvent],
    rewatch: list[tuple[int, str, bool]],
) -> None:
    """Every kind of event, both organisations, agents and supervisors, watched threads
    changing half-way (watch/unwatch frames): indexed == unindexed, in the same order."""
    bus = MemoryBus()
    pairs = []
    for principal, watched in desks:
        indexed = _desktop(bus, principal, watched)
        twin = bus.subscribe(lambda e, p=principal, w=watched: visible(p, w, e))
        pairs.append((principal, watched, indexed, twin))
    half = len(stream) // 2
    await bus.publish(stream[:half])
    for index, thread_id, watch in rewatch:  # what realtime/http.py's _handle does
        principal, watched, indexed, _twin = pairs[index % len(pairs)]
        key = ("thread", principal.org_id, thread_id)
        if watch:
            watched.add(thread_id)
            indexed.add_key(key)
        else:
            watched.discard(thread_id)
            indexed.discard_key(key)
    await bus.publish(stream[half:])
    for _principal, _watched, indexed, twin in pairs:
        assert [e.id for e in _drain(indexed)] == [e.id for e in _drain(twin)]


async def test_an_event_is_offered_only_to_the_desktops_it_concerns() -> None:
    """The point of the index: 2,000 desktops, and a thread's typing event or another
    organisation's presence change costs no predicate call of the others."""
    bus = MemoryBus()
    calls = {"n": 0}

    def counting(principal: Principal, watched: set[str]) -> Any:
        def predicate(event: Event) -> bool:
            calls["n"] += 1
            return visible(principal, watched, event)

        return predicate

    subs = []
    for i in range(2000):
        principal = Principal(agent_id=f"ag-{i}", org_id="org-a", role="agent", name="A")
        watched = {"th-watched"} if i < 3 else set()
        subs.append(bus.subscribe(counting(principal, watched), desktop_keys(principal, watched)))

    typing = Typing(org_id="org-a", who="customer", thread_id="th-watched", customer_id="cu")
    await bus.publish([typing])
    assert calls["n"] == 3
    assert [len(_drain(s)) for s in subs[:4]] == [1, 1, 1, 0]

    calls["n"] = 0
    await bus.publish([PresenceChanged(org_id="org-b", agent_id="ag-1", presence="away", at=AT)])
    assert calls["n"] == 0  # organisation isolation: org-a's desktops are not even asked

    calls["n"] = 0
    await bus.publish([QueueChanged(org_id="org-a", queue_id="qu-1")])
    assert calls["n"] == 2000  # org-wide news concerns every desktop of the organisation
    assert all(len(_drain(s)) == 1 for s in subs)


async def test_an_agent_in_two_places_gets_each_event_once() -> None:
    """Filed under its agent key and a watched thread: one event, one delivery."""
    bus = MemoryBus()
    principal = Principal(agent_id="ag-1", org_id="org-a", role="supervisor", name="A")
    sub = _desktop(bus, principal, {"th-1"})
    entry = TimelineEntryAdded(
        org_id="org-a",
        thread_id="th-1",
        customer_id="cu-1",
        agent_id="ag-1",
        event={"kind": "message"},
        internal=False,
    )
    await bus.publish([entry])
    assert _drain(sub) == [entry]


async def test_unsubscribing_removes_it_from_every_index() -> None:
    bus = MemoryBus()
    principal = Principal(agent_id="ag-1", org_id="org-a", role="supervisor", name="A")
    sub = _desktop(bus, principal, {"th-1", "th-2"})
    sub.add_key(("thread", "org-a", "th-3"))
    everything = bus.subscribe(lambda e: True)
    assert len(bus._index) == len(sub.keys) > 3
    bus.unsubscribe(sub)
    bus.unsubscribe(everything)
    assert bus._index == {}
    assert not bus._everything
    sub.add_key(("thread", "org-a", "th-4"))  # a late watch frame of a closed socket
    assert bus._index == {}
    for event in (
        QueueChanged(org_id="org-a", queue_id="qu-1"),
        PresenceChanged(org_id="org-a", agent_id="ag-1", presence="away", at=AT),
        Typing(org_id="org-a", who="customer", thread_id="th-1"),
    ):
        await bus.publish([event])
    assert _drain(sub) == [] and _drain(everything) == []


async def test_unwatching_a_thread_leaves_no_empty_bucket() -> None:
    bus = MemoryBus()
    principal = Principal(agent_id="ag-1", org_id="org-a", role="agent", name="A")
    sub = _desktop(bus, principal, set())
    before = set(bus._index)
    for thread_id in ("th-1", "th-2"):
        sub.add_key(("thread", "org-a", thread_id))
        sub.discard_key(("thread", "org-a", thread_id))
    assert set(bus._index) == before


@given(events())
def test_every_key_of_an_event_but_its_type_names_its_organisation(event: DomainEvent) -> None:
    keys = event_keys(event)
    assert keys[:2] == [("type", event.type), ("org", event.org_id, event.type)]
    assert all(key[1] == event.org_id for key in keys[1:])


def test_a_frame_is_serialised_once_and_as_send_json_would() -> None:
    first = PresenceChanged(org_id="org-a", agent_id="ag-1", presence="ausente é", at=AT)
    second = PresenceChanged(org_id="org-a", agent_id="ag-1", presence="away", at=AT)
    text = event_text(first)
    # Starlette's send_json: compact separators, no ASCII escaping
    assert text == json.dumps(first.frame(), separators=(",", ":"), ensure_ascii=False)
    assert event_text(first) is text  # the same str object for every socket
    assert json.loads(event_text(second))["presence"] == "away"
    # many later events push it out of the cache: serialised again, still right
    for other in itertools.islice(
        (QueueChanged(org_id="org-a", queue_id=f"q{i}") for i in itertools.count()), 600
    ):
        event_text(other)
    assert event_text(first) == text
