"""Applies the Alembic migrations to a database URL.

Serialized across processes: PostgreSQL by an advisory lock in the migration's
own transaction (`migrations/env.py`), SQLite by a file lock beside the database.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

import migrations

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextlib.contextmanager
def _sqlite_file_lock(url: str) -> Iterator[None]:
    database = make_url(url).database
    if not url.startswith("sqlite") or not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def upgrade(url: str, revision: str = "head") -> None:
    """Brings the database at `url` to `revision` (blocking).

    Alembic's async env runs its own event loop, so when called from a thread
    that already runs one, the work moves to a helper thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        with _sqlite_file_lock(url):
            command.upgrade(alembic_config(url), revision)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(upgrade, url, revision).result()


async def upgrade_async(url: str, revision: str = "head") -> None:
    """`upgrade` from async code: Alembic's async env runs its own loop, so use a thread."""
    await asyncio.to_thread(upgrade, url, revision)


def current_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
