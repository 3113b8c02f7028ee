"""The SQLite driver that runs each statement in one trip to aiosqlite's thread
(threadline/sqlite_driver.py) behaves as the stock adapter does, through the app's engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from threadline.db import create_engine
from threadline.sqlite_driver import OneTripDBAPI


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


async def test_the_apps_engine_uses_it(engine: AsyncEngine) -> None:
    assert isinstance(engine.dialect.dbapi, OneTripDBAPI)


async def test_rows_counts_and_ids(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        first = await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert (first.lastrowid, first.rowcount) == (1, 1)
        many = await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}])
        assert many.rowcount == 2
        returned = await conn.execute(text("INSERT INTO t (v) VALUES ('d') RETURNING id, v"))
        assert returned.all() == [(4, "d")]
        updated = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 2"))
        assert updated.rowcount == 2
        rows = (await conn.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
        assert rows == [(1, "a"), (2, "b"), (3, "c!"), (4, "d!")]
        assert (await conn.execute(text("SELECT v FROM t WHERE id = 9"))).first() is None
    async with engine.connect() as conn:  # a server-side cursor keeps the stock adapter's
        streamed = await conn.stream(text("SELECT v FROM t ORDER BY id"))
        assert [row.v async for row in streamed] == ["a", "b", "c!", "d!"]


async def test_errors_are_the_dbapis_and_roll_back(engine: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('x')"))
            await conn.execute(text("INSERT INTO t (v) VALUES ('x')"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_one_trip_to_the_thread_per_statement(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # connected, and its transaction begun
        trips: list[Any] = []
        real = aiosqlite.Connection._execute

        async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
            trips.append(fn)
            return await real(self, fn, *args, **kw)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        await conn.execute(text("INSERT INTO t (v) VALUES ('one')"))
        rows = (await conn.execute(text("SELECT v FROM t"))).all()
        assert rows == [("one",)]
        assert len(trips) == 2  # the stock adapter: 7 (cursor, execute, fetch, close)


async def test_begin_goes_with_the_first_statement_and_an_ended_one_costs_no_trip(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: list[Any] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
        trips.append(getattr(fn, "__name__", fn))
        return await real(self, fn, *args, **kw)

    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    async with engine.begin() as conn:  # BEGIN IMMEDIATE with the insert, commit; no rollback
        await conn.execute(text("INSERT INTO t (v) VALUES ('kept')"))
    assert trips == ["_run", "commit"]
    trips.clear()
    async with engine.connect() as conn:  # left open: rolled back when handed back
        await conn.execute(text("INSERT INTO t (v) VALUES ('dropped')"))
    assert trips == ["_run", "rollback"]
    trips.clear()
    async with engine.begin():  # a transaction that said nothing: no trip at all
        pass
    assert trips == []
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT v FROM t"))).scalars().all() == ["kept"]


async def test_the_begin_still_holds_the_write_lock(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE said with the first statement still takes the write lock there: a
    second writer waits for the first to commit (never a lost update)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}"
    first, second = create_engine(url), create_engine(url)
    try:
        async with first.begin() as conn:
            await conn.execute(text("CREATE TABLE n (v INTEGER)"))
            await conn.execute(text("INSERT INTO n VALUES (0)"))

        async def bump(engine: AsyncEngine, pause: float) -> None:
            async with engine.begin() as conn:
                value = (await conn.execute(text("SELECT v FROM n"))).scalar_one()
                await asyncio.sleep(pause)
                await conn.execute(text("UPDATE n SET v = :v"), {"v": value + 1})

        await asyncio.gather(bump(first, 0.2), bump(second, 0))
        async with first.connect() as conn:
            assert (await conn.execute(text("SELECT v FROM n"))).scalar_one() == 2
        async with first.begin() as conn:  # a stream as the first statement: inside the BEGIN
            streamed = await conn.stream(text("SELECT v FROM n ORDER BY v"))
            assert [row.v async for row in streamed] == [2]
            raw: Any = (await conn.get_raw_connection()).driver_connection
            assert raw._conn.in_transaction
    finally:
        await first.dispose()
        await second.dispose()
