"""Database engine, session factory and the declarative base.

SQLite is the embedded default; PostgreSQL when THREADLINE_DATABASE_URL says so.
SQLite loses updates under its default settings (shared/STACK.md), so every
connection runs in WAL mode with a busy timeout, and every transaction starts with
BEGIN IMMEDIATE: one writer at a time, never a lost update.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import JSON, DateTime, MetaData, String, bindparam, event, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    mapped_column,
    with_loader_criteria,
)
from sqlalchemy.types import TypeDecorator

from threadline import encryption, sqlite_driver
from threadline.encryption import Keyring

M = TypeVar("M")
_IN_UNIT_OF_WORK: ContextVar[bool] = ContextVar("in_unit_of_work", default=False)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {  # noqa: RUF012 - SQLAlchemy reads it per class
        datetime: UTCDateTime,
        dict[str, Any]: JSONType,
        list[str]: JSONType,
    }


class OrgOwned:
    """Marks a model whose rows belong to one organisation (its `org_id`). Every query on it
    is scoped to the current organisation in one place, `_scope_to_org` below; a model with
    an `org_id` that does not say so fails tests/unit/test_org_scope.py. Each model declares
    its own `org_id` (foreign key, index); this one is what the filter is written against."""

    org_id: Mapped[str] = mapped_column(String(36))


class UnscopedQuery(RuntimeError):
    """A query or write on an organisation's table with no organisation in scope: the code
    path never said whose data it works on (`enter_org`) nor that it spans them all
    (`across_orgs`). Refused rather than guessed."""


class _AcrossOrgs:
    def __repr__(self) -> str:
        return "ACROSS_ORGS"


ACROSS_ORGS = _AcrossOrgs()
_ORG_SCOPE: ContextVar[str | _AcrossOrgs | None] = ContextVar("org_scope", default=None)
_SCOPE_PARAM = "org_scope_id"
# Built once: a new option per query costs ~160 Python calls, this one ~20 (a bound value).
_ORG_CRITERIA = with_loader_criteria(
    OrgOwned,
    lambda cls: cls.org_id == bindparam("org_scope_id"),  # a literal: lambdas track names
    include_aliases=True,
)


def current_org() -> str | None:
    """The organisation this code runs for; None when none (or all) are in scope."""
    scope = _ORG_SCOPE.get()
    return scope if isinstance(scope, str) else None


def enter_org(org_id: str) -> None:
    """Scope the rest of this task (and the tasks it starts) to one organisation: called
    where a request learns whose it is (the signed-in agent, a widget's or endpoint's key)."""
    _ORG_SCOPE.set(org_id)


@contextmanager
def org_scope(org_id: str) -> Iterator[None]:
    """Work on one organisation's rows within the block (a worker handling one item)."""
    token = _ORG_SCOPE.set(org_id)
    try:
        yield
    finally:
        _ORG_SCOPE.reset(token)


@contextmanager
def across_orgs() -> Iterator[None]:
    """Declare, within the block, work that spans organisations: resolving whose a
    credential is, a worker claiming due work of every organisation, start-up rebuilds."""
    token = _ORG_SCOPE.set(ACROSS_ORGS)
    try:
        yield
    finally:
        _ORG_SCOPE.reset(token)


@contextmanager
def no_org() -> Iterator[None]:
    """Nothing in scope within the block: tasks started here (workers) and requests begin
    unscoped and must say whose data they touch, whoever started them."""
    token = _ORG_SCOPE.set(None)
    try:
        yield
    finally:
        _ORG_SCOPE.reset(token)


# statement -> the same with the organisation filter: a statement built once (a hot path's)
# is scoped once, so its cache key is computed once too (a new copy per execution computed
# the whole key again, and the filter's options with it)
_SCOPED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _org_owned_tables() -> frozenset[str]:
    return frozenset(
        str(getattr(mapper.local_table, "name", ""))
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, OrgOwned)
    )


def _touches_org_tables(state: ORMExecuteState) -> list[str]:
    names = [m.class_.__name__ for m in state.all_mappers if issubclass(m.class_, OrgOwned)]
    if names:
        return names
    froms = getattr(state.statement, "get_final_froms", None)
    if froms is None:
        return []
    owned = _org_owned_tables()
    return [f.name for f in froms() if getattr(f, "name", None) in owned]


@event.listens_for(Session, "do_orm_execute")
def _scope_to_org(state: ORMExecuteState) -> None:
    """The organisation filter, in one place: every ORM SELECT, UPDATE and DELETE (and
    Session.get) on an OrgOwned model gets `org_id = <the current organisation>`; with no
    organisation in scope such a query is refused (UnscopedQuery)."""
    if state.is_column_load or state.is_relationship_load:
        return  # the parent row was loaded under the filter
    if not (state.is_select or state.is_update or state.is_delete):
        return
    scope = _ORG_SCOPE.get()
    if scope is ACROSS_ORGS:
        return
    if scope is None:
        touched = _touches_org_tables(state)
        if touched:
            raise UnscopedQuery(
                f"query on {', '.join(touched)} with no organisation in scope "
                "(enter_org / org_scope, or across_orgs for work that spans them)"
            )
        return
    statement = state.statement
    scoped = _SCOPED.get(statement)
    if scoped is None:
        scoped = statement.options(_ORG_CRITERIA)
        with contextlib.suppress(TypeError):  # a statement that cannot be weakly referenced
            _SCOPED[statement] = scoped
    state.statement = scoped
    params = state.parameters
    if isinstance(params, Mapping) or params is None:
        state.parameters = {**(params or {}), _SCOPE_PARAM: scope}
    else:  # many rows: each carries the scope
        state.parameters = [{**p, _SCOPE_PARAM: scope} for p in params]


@event.listens_for(Session, "before_flush")
def _writes_stay_in_org(session: Session, _context: Any, _instances: Any) -> None:
    """New rows belong to the organisation in scope: a write never lands in another's."""
    if _ORG_SCOPE.get() is ACROSS_ORGS:
        return
    for row in session.new:
        if isinstance(row, OrgOwned):
            check_new_row(type(row).__name__, getattr(row, "org_id", None))


def check_new_row(kind: str, row_org: str | None) -> None:
    """Refuse a new row of an organisation's table for another organisation than the one
    in scope (or with none in scope): the flush's check, for rows written without it (a
    Core insert on a hot path)."""
    scope = _ORG_SCOPE.get()
    if scope is ACROSS_ORGS:
        return
    if scope is None:
        raise UnscopedQuery(
            f"new {kind} with no organisation in scope (enter_org / org_scope, or across_orgs)"
        )
    if row_org != scope:
        raise UnscopedQuery(f"new {kind} for organisation {row_org!r} while working for {scope!r}")


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


def _configure_sqlite(engine: AsyncEngine, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def create_engine(database_url: str, *, writer: bool = True, echo: bool = False) -> AsyncEngine:
    """An engine; on SQLite a writer engine starts every transaction with BEGIN IMMEDIATE
    (one writer at a time, no lost update) and a reader engine with a plain BEGIN (WAL lets
    readers run beside the writer on a consistent snapshot)."""
    if database_url.startswith("sqlite"):
        # one trip to aiosqlite's thread per statement, not four (sqlite_driver.py)
        driver = {"module": sqlite_driver.dbapi()} if "+aiosqlite" in database_url else {}
        engine = create_async_engine(
            database_url,
            echo=echo,
            connect_args={"timeout": 30},
            pool_size=8,
            max_overflow=8,
            **driver,
        )
        _configure_sqlite(engine, "BEGIN IMMEDIATE" if writer else "BEGIN")
        return engine
    return create_async_engine(database_url, echo=echo, pool_size=20, max_overflow=20)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """The engines and session factories, built once by create_app and handed around.

    `sessions()` is for reads; writes go through a UnitOfWork (`write_sessions`)."""

    def __init__(self, url: str, keyring: Keyring | None = None) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self.engine = create_engine(url)
        self.write_sessions = session_factory(self.engine)
        self.read_engine = create_engine(url, writer=False) if self.dialect == "sqlite" else None
        self.keyring = keyring
        if keyring is not None:  # secrets at rest (encryption.EncryptedText) use these keys
            for engine in (self.engine, self.read_engine):
                if engine is not None:
                    encryption.attach(engine, keyring)
        # SQLite has one writer at a time; its busy handler is unfair (writers sleep and retry,
        # some past the timeout). Queue this process's writers first-in first-out instead.
        self.write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self.sessions = session_factory(self.read_engine or self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not None:
            await self.read_engine.dispose()

    async def lock(self, session: AsyncSession, model: type[M], ident: Any) -> M | None:
        """Load one row for update: the row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE
        already serialises writers."""
        return await session.get(model, ident, with_for_update=self.dialect != "sqlite")


def unit_of(session: AsyncSession) -> UnitOfWork:
    """The unit of work a write session belongs to (to emit events from code that is handed
    only the session)."""
    uow: UnitOfWork | None = session.info.get("uow")
    if uow is None:
        raise RuntimeError("this session is not a unit of work's: it cannot emit events")
    return uow


class EventFlow(Protocol):
    """What a unit of work does with the domain events it collected (events/handlers.py)."""

    async def run_in_transaction(self, uow: UnitOfWork, event: Any) -> None: ...
    async def record(self, uow: UnitOfWork, events: list[Any]) -> None: ...
    async def committed(self, events: list[Any]) -> None: ...
    async def react(self, events: list[Any]) -> None: ...


class UnitOfWork:
    """A transaction plus the domain events it produced. Before the commit, the handlers
    that are part of the write run and the durable events join the event log (in the same
    transaction); after the commit the events reach the bus and this process's listeners,
    so nothing reaches a socket or a provider for data that was rolled back."""

    def __init__(self, db: Database, flow: EventFlow):
        self._db = db
        self._flow = flow
        self.events: list[Any] = []
        self._announced: list[Callable[[], Any]] = []
        self._after_commit: list[Callable[[], Awaitable[None]]] = []
        self._locked: set[tuple[Any, Any]] = set()
        # the session's identity map holds rows weakly: a row lock_many loaded and nobody
        # referenced yet would be collected, and lock() would fetch it again (a round trip
        # per row); the transaction keeps what it locked
        self._held: list[Any] = []
        # per-transaction state other modules keep (e.g. routing's contacts to place)
        self.extras: dict[str, Any] = {}
        # set once the commit succeeded: a failure after it (an after-commit handler's) must
        # not be taken for a write that did not happen
        self.committed = False
        self._released: list[Callable[[], None]] = []

    async def __aenter__(self) -> UnitOfWork:
        if _IN_UNIT_OF_WORK.get():
            raise RuntimeError("a unit of work was opened inside another one")
        self._token = _IN_UNIT_OF_WORK.set(True)
        self._let_in = False
        if self._db.write_lock is not None:
            await self._db.write_lock.acquire()
        try:
            self.session = self._db.write_sessions()
            self.session.info["uow"] = self
            await self.session.begin()
        except BaseException:
            self._release()
            raise
        return self

    def _let_next_writer_in(self) -> None:
        if self._db.write_lock is not None and not self._let_in:
            self._let_in = True
            self._db.write_lock.release()

    def _release(self) -> None:
        self._let_next_writer_in()
        _IN_UNIT_OF_WORK.reset(self._token)

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is not None:
                await self.session.rollback()
                return
            try:
                await self._settle_events()
            except BaseException:
                await self.session.rollback()
                raise
            await self.session.commit()
            self.committed = True
        finally:
            # the write is over (committed or rolled back): the next writer may begin while
            # this session hands its connection back to the pool
            self._let_next_writer_in()
            await self.session.close()
            self._release()
            for released in self._released:
                released()
        events = self.events + [make() for make in self._announced]
        if events:
            await self._flow.committed(events)
        # the writer's own follow-ups first (routing settles its engine), then the reactions
        for callback in self._after_commit:
            await callback()
        if events:
            await self._flow.react(events)

    async def _settle_events(self) -> None:
        """Run the in-transaction handlers (which may emit more), then log the durable."""
        done = 0
        while done < len(self.events):
            await self._flow.run_in_transaction(self, self.events[done])
            done += 1
        if self.events:
            # the rows first: the log's append comes last, just before the commit, because on
            # PostgreSQL it takes the lock that orders every append (events/log.py) and holds
            # it to the commit; the flush a commit does would otherwise run under it
            await self.session.flush()
            await self._flow.record(self, self.events)

    def emit(self, event: Any) -> None:
        """State a domain event (events/domain.py) that this transaction makes true."""
        self.events.append(event)

    def announce_later(self, make: Callable[[], Any]) -> None:
        """A live-only event (a screen's signal, never logged, no in-transaction handler)
        built after the commit, when database defaults such as ids exist."""
        self._announced.append(make)

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._after_commit.append(callback)

    def when_released(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` as soon as the transaction is over (committed or rolled back)
        and its connection handed back, before the after-commit work: the moment another
        write of the same writer may begin."""
        self._released.append(callback)

    async def lock(self, model: type[M], ident: Any) -> M | None:
        """Load one row for update; a row this transaction already locked (``lock_many``)
        comes from the session without another round trip."""
        if (model, ident) in self._locked:
            return await self.session.get(model, ident)
        row = await self._db.lock(self.session, model, ident)
        if row is not None:
            self._locked.add((model, ident))
            self._held.append(row)
        return row

    async def lock_existing(self, model: type[M], ident: Any) -> M:
        """`lock` for a row that must exist (a foreign key names it); LookupError if not."""
        row = await self.lock(model, ident)
        if row is None:
            raise LookupError(f"{getattr(model, '__name__', model)} {ident!r} is not stored")
        return row

    async def lock_many(self, model: Any, idents: Iterable[Any]) -> None:
        """Lock (PostgreSQL) and load many rows of one model in one query, in key order
        (so two transactions never wait on each other in a cycle)."""
        wanted = sorted({i for i in idents if (model, i) not in self._locked})
        if not wanted:
            return
        query = select(model).where(model.id.in_(wanted)).order_by(model.id)
        if self.row_locks:
            query = query.with_for_update()
        for row in await self.session.scalars(query):
            self._locked.add((model, row.id))
            self._held.append(row)

    @property
    def row_locks(self) -> bool:
        """Whether to take row locks (PostgreSQL); SQLite's writer is already alone."""
        return self._db.dialect != "sqlite"
