"""SQLite through aiosqlite with one trip to its thread per statement.

SQLAlchemy's aiosqlite adapter makes up to four trips to the connection's thread for one
statement (open a cursor, execute, fetch the rows, close the cursor); each trip is a queue
put, a thread wake-up and a wake-up of the event loop. On a chat message's write that was
about a third of the server's time. Here a statement runs, fetches its rows and closes its
cursor in one function on that thread: the same sqlite3 calls, in the same order, on the
same connection; SQLAlchemy above it is unchanged (pool, events, dialect, types).

Used by `threadline.db.create_engine` for `sqlite+aiosqlite` URLs (`module=`); server-side
cursors (`stream()`) keep the stock adapter's cursor.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any], int, int | None]


def _run(conn: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    """On the connection's thread: execute, fetch every row, close the cursor."""
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _run_many(conn: sqlite3.Connection, operation: str, rows: Sequence[Any]) -> _Outcome:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, rows)
        return None, [], cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _Done:
    """What a finished statement leaves for SQLAlchemy to read (the cursor is closed)."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self) -> None:
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def close(self) -> None:
        """Nothing to close: the sqlite3 cursor was closed on the connection's thread."""


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor: each execute is one call on aiosqlite's thread."""

    __slots__ = ()
    _awaitable_cursor_close = False  # close() is local: nothing left on the thread

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Done()  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = deque()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            self._keep(await_(self._on_thread(_run, operation, parameters)))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            self._keep(await_(self._on_thread(_run_many, operation, list(seq_of_parameters))))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _on_thread(self, fn: Any, operation: str, parameters: Any) -> _Outcome:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await connection._execute(  # type: ignore[no-untyped-call]
                fn, connection._conn, operation, parameters
            )
            return outcome

    def _keep(self, outcome: _Outcome) -> None:
        done: Any = self._cursor
        done.description, rows, done.rowcount, done.lastrowid = outcome
        self._rows = deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]  # a subclass; mypy sees a clash


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI shim whose connections use OneTripCursor."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        stock = super().connect(*arg, **kw)
        return OneTripConnection(self, stock._connection)


def dbapi() -> OneTripDBAPI:
    """The `module=` to give create_async_engine for a `sqlite+aiosqlite` URL."""
    return OneTripDBAPI(aiosqlite, sqlite3)
