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
_BEGINS = frozenset({"BEGIN", "BEGIN IMMEDIATE", "BEGIN DEFERRED", "BEGIN EXCLUSIVE"})


def _run(conn: sqlite3.Connection, begin: str | None, operation: str, parameters: Any) -> _Outcome:
    """On the connection's thread: the transaction's BEGIN if it is still to be said, then
    execute, fetch every row, close the cursor."""
    cursor = conn.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _run_many(
    conn: sqlite3.Connection, begin: str | None, operation: str, rows: Sequence[Any]
) -> _Outcome:
    cursor = conn.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
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
        if not parameters and operation in _BEGINS:
            # said with the transaction's first statement, in its trip
            self._adapt_connection._pending_begin = operation  # type: ignore[attr-defined]
            self._keep((None, [], -1, None))
            return None
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
        adapted: Any = self._adapt_connection
        async with adapted._execute_mutex:
            begin, adapted._pending_begin = adapted._pending_begin, None
            outcome: _Outcome = await connection._execute(  # type: ignore[no-untyped-call]
                fn, connection._conn, begin, operation, parameters
            )
            return outcome

    def _keep(self, outcome: _Outcome) -> None:
        done: Any = self._cursor
        done.description, rows, done.rowcount, done.lastrowid = outcome
        self._rows = deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Also: a transaction's BEGIN goes with its first statement (one trip, not two), and
    ending a transaction that never began costs no trip."""

    __slots__ = ("_pending_begin",)
    _cursor_cls = OneTripCursor  # type: ignore[assignment]  # a subclass; mypy sees a clash

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._pending_begin: str | None = None

    def cursor(self, server_side: bool = False) -> Any:
        if server_side and self._pending_begin is not None:
            self.cursor().execute("SELECT 1")  # the stock cursor would run outside the BEGIN
        return super().cursor(server_side)

    def rollback(self) -> None:
        """No trip when there is nothing to roll back: the pool rolls back every connection
        handed back to it, and a write has committed by then."""
        self._pending_begin = None
        if self._in_transaction():
            super().rollback()

    def commit(self) -> None:
        self._pending_begin = None  # a transaction that said nothing has nothing to commit
        if self._in_transaction():
            super().commit()

    def _in_transaction(self) -> bool:
        # sqlite3 reads its autocommit flag without touching the connection's thread; no
        # statement of this connection is running (SQLAlchemy waits for each)
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        raw = connection._connection
        return raw is None or raw.in_transaction


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI shim whose connections use OneTripCursor."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        stock = super().connect(*arg, **kw)
        return OneTripConnection(self, stock._connection)


def dbapi() -> OneTripDBAPI:
    """The `module=` to give create_async_engine for a `sqlite+aiosqlite` URL."""
    return OneTripDBAPI(aiosqlite, sqlite3)
