"""The async engine, the session factory, and units of work that read then write.

A unit of work is `async with sessions.begin() as session:`. A unit that reads a
row and then writes what it decided from it (a credit check: read the stream,
charge its due blocks) opens with `begin_write(sessions)` instead:

- PostgreSQL: a plain transaction; the unit locks what it read with
  `SELECT … FOR UPDATE` (see db/queries/livestreams.py `lock_for_check`).
- SQLite: `BEGIN IMMEDIATE`, which takes the database's write lock at the start
  (waiting up to the busy timeout for another writer to finish). Without it,
  pysqlite runs a SELECT before the unit's first write *outside* any transaction
  (it begins one only before INSERT/UPDATE/DELETE), so what was read may have
  changed by the time the write starts; and a deferred `BEGIN` would instead fail
  with SQLITE_BUSY when its read snapshot turns out stale at the first write,
  without waiting. Taking the lock first is isolated and simply queues writers.

Plain units keep pysqlite's usual deferred behaviour (reads take no lock and
never wait); only the units that ask pay for the lock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SessionFactory = async_sessionmaker[AsyncSession]

WRITE_LOCK = "presence_write_lock"
"""Connection execution option: on SQLite, begin the transaction with BEGIN IMMEDIATE."""

SQLITE_LOWER = "unicode_lower"
"""SQLite's own lower() folds ASCII letters only; this SQL function folds every
letter as Python's `str.lower` does (used by case-insensitive search)."""


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine for any SQLAlchemy async URL.

    SQLite gets WAL and a busy timeout so that a sweep and a request writing at
    the same moment wait for each other instead of failing, `unicode_lower()`,
    and BEGIN IMMEDIATE for units opened with `begin_write`.
    """
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
            dbapi_conn.create_function(SQLITE_LOWER, 1, _unicode_lower, deterministic=True)

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # pysqlite sees the open transaction and adds no BEGIN of its own before
            # the first write; its commit() and rollback() end this one as usual.
            if conn.get_execution_options().get(WRITE_LOCK):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # A database host that does not answer (not even a refusal) fails a connection
    # attempt after this, so requests answer 503 instead of hanging on TCP's timeout.
    kwargs.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT})
    # Connections broken by a restart are found and replaced before use.
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_async_engine(url, **kwargs)


CONNECT_TIMEOUT = 5
"""Seconds a new PostgreSQL connection may take (libpq `connect_timeout`)."""


def unavailable(error: BaseException) -> bool:
    """True when `error` says the database cannot be used right now (down, restarting,
    refusing or dropping connections, pool exhausted, SQLite busy): the caller may
    try again shortly, so adapters answer 503, not 500."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError | InterfaceError | PoolTimeout)


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def begin_write(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A unit of work that reads then writes: commits on success, rolls back on error
    (like `sessions.begin()`), holding SQLite's write lock from its first moment."""
    async with sessions() as session, session.begin():
        await session.connection(execution_options={WRITE_LOCK: True})
        yield session
