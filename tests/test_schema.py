"""The migrations (written by hand) build exactly the schema db/models.py describes."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect
from sqlalchemy.engine import Connection

from db.engine import create_engine
from db.migrate import upgrade
from db.models import Base


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": False})
    return compare_metadata(context, Base.metadata)


def _check_names(connection: Connection) -> set[tuple[str, str]]:
    """(table, CHECK constraint name) pairs in the database; autogenerate ignores them."""
    found = set()
    for table in inspect(connection).get_table_names():
        for check in inspect(connection).get_check_constraints(table):
            found.add((table, str(check["name"])))
    return found


def _model_check_names() -> set[tuple[str, str]]:
    return {
        (table.name, str(c.name))
        for table in Base.metadata.tables.values()
        for c in table.constraints
        if isinstance(c, CheckConstraint)
    }


def _partial_indexes(connection: Connection) -> dict[str, str]:
    """Each index's WHERE, as the database reports it (autogenerate does not compare it)."""
    found = {}
    for table in ("attendance_sessions", "livestreams"):
        for index in inspect(connection).get_indexes(table):
            options = index.get("dialect_options", {})
            where = options.get("postgresql_where") or options.get("sqlite_where")
            if where is not None:
                found[str(index["name"])] = str(where)
    return found


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            partial = await conn.run_sync(_partial_indexes)
            checks = await conn.run_sync(_check_names)
    finally:
        await engine.dispose()
    assert set(partial) == {
        "uq_attendance_sessions_active_student",
        "ix_attendance_sessions_active_last_activity_at",
        "ix_livestreams_live_due_at",
    }
    assert all("status" in w and "active" in w for n, w in partial.items() if "attendance" in n), partial
    assert "status" in partial["ix_livestreams_live_due_at"] and "live" in partial["ix_livestreams_live_due_at"]
    assert checks == _model_check_names()


def test_0005_backfills_due_at_of_live_streams_conservatively(tmp_path: Path) -> None:
    """Live streams get `due_at = started_at` (due at the first pass, never late), the
    others none; credit_metering starts empty, so the first pass recomputes them all."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0004")
    path = str(tmp_path / "old.db")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO users (id, role, created_at, credits) VALUES ('u1', 'user', '2026-11-01 09:00:00', 3)")
        for stream_id, status, started in (
            ("live", "live", "2026-11-01 09:00:00.250000"),
            ("sched", "scheduled", None),
            ("ended", "ended", "2026-11-01 08:00:00"),
        ):
            db.execute(
                "INSERT INTO livestreams (id, user_id, title, status, created_at, started_at, credits_consumed) "
                "VALUES (?, 'u1', 't', ?, '2026-11-01 07:00:00', ?, 1)",
                (stream_id, status, started),
            )
    upgrade(url)
    with sqlite3.connect(path) as db:
        rows = dict(db.execute("SELECT id, due_at FROM livestreams").fetchall())
        assert rows == {"live": "2026-11-01 09:00:00.250000", "sched": None, "ended": None}
        assert db.execute("SELECT COUNT(*) FROM credit_metering").fetchone() == (0,)
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE livestreams SET due_at = NULL WHERE id = 'live'")
