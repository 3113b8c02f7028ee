"""The SQLite driver that runs each statement in one trip to aiosqlite's thread
(threadline/sqlite_driver.py) behaves as the stock adapter does, through the app's engine."""

from __future__ import annotations

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
