"""The hot reads' plans on SQLite, which has no planner statistics (nothing runs ANALYZE):
with the wrong index, a read that should be one seek scans and sorts a whole
organisation's rows, and gets slower as the organisation grows."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from threadline.analytics.aggregates import entries_query
from threadline.auth.roles import Principal
from threadline.channels.inbound import _with_thread_queries
from threadline.inbox.services import Filters, _filters, _view
from threadline.routing.services import holding_query
from threadline.threads.models import Thread
from threadline.threads.services import current_thread_query


def _plan(path: Path, statement: Any) -> str:
    sql = statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
    return "\n".join(row[-1] for row in rows)


def test_a_customers_newest_thread_is_one_seek(sqlite_template: Path) -> None:
    query = current_thread_query("o", "c")
    plan = _plan(sqlite_template, query)
    assert "ix_threads_customer_created" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_an_inbound_messages_customer_and_thread_read_seeks_the_thread(
    sqlite_template: Path,
) -> None:
    _locked, with_contact = _with_thread_queries(many=False)
    plan = _plan(sqlite_template, with_contact.params(org="o", customer="c"))
    assert "ix_threads_customer_created" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    assert "SCAN" not in plan, plan
    # a batch's (inbound.py's group commit): its customers by key, each one's newest thread
    # by the same seek
    _locked, with_contacts = _with_thread_queries(many=True)
    plan = _plan(sqlite_template, with_contacts.params(org="o", customers=["c", "d", "e"]))
    assert "ix_threads_customer_created" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    assert "SCAN" not in plan, plan


def test_one_agents_load_is_read_from_their_own_contacts(sqlite_template: Path) -> None:
    plan = _plan(sqlite_template, holding_query(["agent-1"]))
    assert "ix_contacts_agent" in plan, plan
    assert "SCAN contacts" not in plan, plan


def test_the_entries_of_ended_contacts_are_read_by_contact(sqlite_template: Path) -> None:
    plan = _plan(sqlite_template, entries_query(["contact-1", "contact-2"]))
    assert "ix_thread_events_contact" in plan, plan
    assert "SCAN thread_events" not in plan, plan


def test_the_queues_view_walks_the_open_threads_only(sqlite_template: Path) -> None:
    principal = Principal(agent_id="a", org_id="o", role="agent", name="A")
    query = select(Thread.id).where(
        _view("queues", principal, ["q1", "q2"]), *_filters(principal, Filters())
    )
    plan = _plan(sqlite_template, query.order_by(Thread.updated_at.desc()).limit(51))
    assert "ix_threads_open_updated" in plan, plan
    # as the server sends it: the status in the SQL itself (a bound value hides from the
    # planner that the partial index covers the query)
    assert "status != 'resolved'" in str(query.compile(dialect=sqlite.dialect()))
