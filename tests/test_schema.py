"""The migrations (written by hand) build exactly the schema db/models.py describes."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect
from sqlalchemy.engine import Connection

from db.engine import create_engine
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
