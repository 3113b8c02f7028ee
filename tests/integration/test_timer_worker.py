"""`threadline worker`: a second process fires the callbacks' timers beside the server, so
a kill -9 of the server does not stop them. The server routes what the worker opens: it
hears of it through the event log (events/follow.py), each contact once, and the worker
decides a contact's language as the server would. SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import eventually, make_world
from tests.integration.test_callbacks import book_due
from threadline.agents.services import do_set_presence
from threadline.app import WORKER_TIMERS, build_context, run_worker, running
from threadline.callbacks.dialing import _prepare_due, on_due
from threadline.callbacks.models import Callback
from threadline.callbacks.services import CALLBACK_DUE
from threadline.cli import app as cli_app
from threadline.config import Settings
from threadline.context import Context
from threadline.events.domain import ContactQueued
from threadline.events.follow import LogFollower
from threadline.routing.models import Contact
from threadline.workers import timers


@pytest.fixture
def worker_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"timer_worker": True, "follow_poll_s": 0.05})


@pytest.fixture
async def web(worker_settings: Settings) -> AsyncIterator[Context]:
    """The server's side: routing runs here, and (in these tests) no callback timer fires
    here, so every contact below is one the worker opened."""
    context = build_context(worker_settings)
    async with running(context):
        context.timers.keep_only(set(context.timers.kinds) - WORKER_TIMERS)
        yield context


@pytest.fixture
async def worker(worker_settings: Settings) -> AsyncIterator[Context]:
    """`threadline worker`, in this process: its own context, database pool and timers."""
    ready: asyncio.Future[Context] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_worker(worker_settings, ready))
    await asyncio.wait([task, ready], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # it stopped: its error is the test's
    yield ready.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_the_worker_opens_due_callbacks_and_the_server_routes_each_once(
    web: Context, worker: Context
) -> None:
    world = await make_world(web)
    heard: Counter[str] = Counter()

    async def count(event: ContactQueued) -> None:
        heard[event.contact_id] += 1

    web.handlers.after_commit(ContactQueued, count)
    # Rui speaks Portuguese (routing knows an agent's languages once they have a presence:
    # the worker hears of it as the server does); nobody speaks Finnish: that contact
    # waits for any agent
    await do_set_presence(web, world.org_id, world.agents["rui"].id, "away")

    async def heard_of_rui() -> bool:
        return worker.routing.language_served(world.org_id, "pt")

    await eventually(heard_of_rui)
    assert web.routing.language_served(world.org_id, "pt")
    ids = await book_due(web, world, ["pt", "fi", "pt"])

    async def opened() -> list[Callback] | None:
        async with web.db.sessions() as session:
            found = list(await session.scalars(select(Callback).where(Callback.id.in_(ids))))
        return found if all(c.status == "waiting" for c in found) else None

    callbacks = await eventually(opened)
    contact_ids = [c.contact_id for c in callbacks]
    assert all(contact_ids)

    async def routed() -> bool:
        estimates = [await web.routing.estimate(world.org_id, cid or "") for cid in contact_ids]
        return all(e is not None for e in estimates)

    await eventually(routed)  # waiting in the server's engine: it heard of them
    async with web.db.sessions() as session:
        contacts = {
            c.id: c
            for c in await session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))
        }
    by_callback = {c.id: contacts[c.contact_id or ""] for c in callbacks}
    assert [by_callback[i].language for i in ids] == ["pt", None, "pt"]
    # each contact reached the server's reactions once: the follower passes over what the
    # server wrote itself, and the worker routes nothing
    await asyncio.sleep(0.3)
    assert heard == Counter(contact_ids)


async def test_the_follower_hands_on_only_what_another_process_wrote(ctx: Context) -> None:
    """A process follows the log with one follower (a server without the worker has none:
    this one is the test's); what it wrote itself is passed over."""
    web = ctx
    web.timers.keep_only(web.timers.kinds - WORKER_TIMERS)  # the test's worker fires it
    world = await make_world(web)
    follower = LogFollower(web.db, web.handlers, poll_s=60, publish=False)
    await follower.mark_head()
    heard: list[str] = []

    async def count(event: ContactQueued) -> None:
        heard.append(event.contact_id)

    web.handlers.after_commit(ContactQueued, count)
    ids = await book_due(web, world, ["en"])
    fired = timers.TimerWorker(web, poll_s=60)  # this process fires it: its own event
    fired.register(CALLBACK_DUE, lambda uow, timer: on_due(web, uow, timer), _prepare_due)
    assert await fired.fire_due() == 1
    assert len(heard) == 1
    assert await follower.follow() > 0  # read the log past it, handed nothing on
    assert len(heard) == 1
    assert ids


def test_the_worker_refuses_to_start_unless_the_server_follows_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADLINE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("THREADLINE_TIMER_WORKER", "false")
    result = CliRunner().invoke(cli_app, ["worker"])
    assert result.exit_code != 0
    assert "THREADLINE_TIMER_WORKER" in result.output
