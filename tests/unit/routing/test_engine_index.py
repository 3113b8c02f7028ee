"""The arrival path's index of free agents stays right across the agent-free path's shortcuts.

``route_agent`` leaves an agent out of the next re-indexing when its index cannot have
changed: the slot it freed is refilled on the same channel, or the decision leaves it at
its cross-channel cap with no index entries, whatever mix of channels it then holds.
These examples walk an agent through both and check every later arrival against who is
really free.
"""

from __future__ import annotations

from threadline.routing.engine import AVAILABLE, AgentSpec, Assignment, ContactSpec, Router


def _agent(agent_id: str, capacity: dict[str, int], max_total: int | None) -> AgentSpec:
    return AgentSpec(
        id=agent_id,
        skills={"billing": 3},
        languages=frozenset({"en"}),
        capacity=capacity,
        max_total=max_total,
    )


def _contact(contact_id: str, channel: str, enqueued_at: float) -> ContactSpec:
    return ContactSpec(
        id=contact_id,
        queue_id="q1",
        channel=channel,
        required_skills=frozenset({"billing"}),
        language="en",
        priority=0,
        enqueued_at=enqueued_at,
    )


def _capped_and_spare() -> Router:
    """Two available agents: "capped" (chat and email, two contacts at most in all), idle
    longest, and "spare" (one email)."""
    router = Router()
    router.upsert_agent(
        _agent("capped", {"chat": 2, "email": 2}, max_total=2), presence=AVAILABLE, idle_since=0.0
    )
    router.upsert_agent(_agent("spare", {"email": 1}, None), presence=AVAILABLE, idle_since=5.0)
    return router


def test_an_agent_refilled_to_its_cap_on_another_channel_is_indexed_right_later() -> None:
    router = _capped_and_spare()
    router.add_contact(_contact("c1", "chat", 0.0))
    router.add_contact(_contact("e1", "email", 1.0))
    assert router.match(1.0) == [
        Assignment("c1", "capped", sticky=False),
        Assignment("e1", "capped", sticky=False),
    ]
    router.add_contact(_contact("c2", "chat", 2.0))
    assert router.route_contact("c2", 2.0) is None  # capped holds two, its cap

    # an email ends and the waiting chat refills the slot: at the cap again, on chat only
    router.release("capped", "email", 4.0)
    assert router.route_agent("capped", 4.0) == Assignment("c2", "capped", sticky=False)
    assert router.agent_load("capped") == {"chat": 2}
    # capped has been idle longest, so a live email entry of it would win: spare gets it
    router.add_contact(_contact("e2", "email", 5.0))
    assert router.route_contact("e2", 5.0) == Assignment("e2", "spare", sticky=False)
    router.add_contact(_contact("e3", "email", 5.5))
    assert router.route_contact("e3", 5.5) is None  # capped is full, spare is busy

    # a chat ends: capped is free on both channels again, and the arrival path sees it
    router.release("capped", "chat", 6.0)
    assert router.route_contact("e3", 6.0) == Assignment("e3", "capped", sticky=False)
    router.add_contact(_contact("c3", "chat", 7.0))
    assert router.route_contact("c3", 7.0) is None  # at the cap again, through arrivals
    assert router.agent_load("capped") == {"chat": 1, "email": 1}


def test_an_agent_brought_to_its_cap_with_live_index_entries_leaves_the_index() -> None:
    router = _capped_and_spare()
    router.add_contact(_contact("c1", "chat", 0.0))
    assert router.route_contact("c1", 1.0) == Assignment("c1", "capped", sticky=False)
    router.add_contact(_contact("x", "voice", 1.5))  # an arrival: the index is refreshed
    assert router.route_contact("x", 1.5) is None
    # one slot left, and the index holds capped's entries for it: the agent-free path
    # fills it, and those entries must die
    router.add_contact(_contact("c2", "chat", 2.0))
    assert router.route_agent("capped", 2.0) == Assignment("c2", "capped", sticky=False)
    router.add_contact(_contact("e1", "email", 3.0))
    assert router.route_contact("e1", 3.0) == Assignment("e1", "spare", sticky=False)
