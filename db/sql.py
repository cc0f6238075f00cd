"""Small SQL pieces that must be written the same way by every query."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, literal_column
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import SQLITE_LOWER


def is_literal(column: Any, value: str) -> ColumnElement[bool]:
    """`column = 'value'` with the value written into the SQL, not bound: how a
    query must spell the condition of a partial index (`WHERE status = 'active'`)
    for PostgreSQL and SQLite to use that index. `value` is one of our constants."""
    if "'" in value:
        raise ValueError("a literal status has no quotes")
    return column == literal_column(f"'{value}'")


def lower(session: AsyncSession, expr: Any) -> ColumnElement[str]:
    """Unicode lower case in SQL: PostgreSQL's lower() (per the database's locale),
    SQLite's `unicode_lower()` registered by db.engine (its own folds ASCII only)."""
    if session.get_bind().dialect.name == "sqlite":
        return getattr(func, SQLITE_LOWER)(expr)
    return func.lower(expr)


def contains_text(session: AsyncSession, column: Any, needle: str) -> ColumnElement[bool]:
    """`column` contains `needle`, case-insensitively and literally: `%`, `_` and the
    escape character `/` in `needle` match themselves (LIKE … ESCAPE '/'), and the
    needle is a bound parameter, so quotes are just characters."""
    return lower(session, column).contains(needle.lower(), autoescape=True)
