"""Operations (§6 health, §10): is the server well, and what did its jobs do last."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from db.engine import SessionFactory
from infra.jobs import JobRunner
from realtime.store.base import PresenceStore

HEALTH_TIMEOUT = 2.0


class Operations:
    def __init__(self, db: SessionFactory, store: PresenceStore, jobs: JobRunner, redis_enabled: bool) -> None:
        self._db = db
        self._store = store
        self._jobs = jobs
        self._redis_enabled = redis_enabled

    async def health(self) -> dict[str, Any]:
        """`{"status": "ok"|"degraded", "database", "redis", "jobs"}`: degraded when the
        database or (if configured) Redis does not answer within HEALTH_TIMEOUT."""
        database = "ok"
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT), self._db() as tx:
                await tx.execute(text("SELECT 1"))
        except Exception:
            database = "error"
        redis = "disabled"
        if self._redis_enabled:
            try:
                async with asyncio.timeout(HEALTH_TIMEOUT):
                    redis = "ok" if await self._store.ping() else "error"
            except Exception:
                redis = "error"
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                jobs = await self._jobs.statuses()
        except Exception:  # the shared job book is in Redis, which is already reported
            jobs = {name: {"last_run": None, "last_result": None} for name in self._jobs.names}
        ok = database == "ok" and redis in ("ok", "disabled")
        return {"status": "ok" if ok else "degraded", "database": database, "redis": redis, "jobs": jobs}
