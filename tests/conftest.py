"""Fixtures: a real server on a free port, real clients, real databases.

Databases: every test that takes `server` (or `database_url`) runs on SQLite,
and on PostgreSQL too when PRESENCE_TEST_POSTGRES_URL is set (`.ci/run` sets
it; without it those runs are skipped, saying so). A PostgreSQL database is
created per test worker, migrated once, and emptied between tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
import socketio
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url

from db.engine import SessionFactory, create_engine
from db.migrate import upgrade
from db.models import Base
from domain.clock import Clock, system_clock
from domain.identity import TokenCodec
from infra.cluster import connect_redis
from infra.settings import Settings
from presence.app import create_app
from realtime.store import create_store
from realtime.store.base import PresenceStore
from tests.helpers import EventLog
from tests.users_support import database

SECRET = "test-secret-0123456789abcdef0123456789abcdef"
POSTGRES_URL = os.environ.get("PRESENCE_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("PRESENCE_TEST_REDIS_URL")
# Set by .ci/run: a test that would be skipped for a missing service fails instead.
REQUIRE_ALL = os.environ.get("PRESENCE_TEST_REQUIRE_ALL") == "1"


def skip_unless_required(reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (PRESENCE_TEST_REQUIRE_ALL=1: CI must run it)")
    pytest.skip(reason)


# Short durations, so a whole lifecycle runs in a second or two.
FAST = {
    "widget_heartbeat_interval": 0.2,
    "widget_offline_after": 2.0,
    "widget_offline_grace": 0.4,
    "widget_sweep_every": 0.1,
}


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    lines.append(
        f"PostgreSQL: {_safe(POSTGRES_URL)}"
        if POSTGRES_URL
        else "PostgreSQL: PRESENCE_TEST_POSTGRES_URL unset, PostgreSQL runs are SKIPPED (SQLite only)"
    )
    lines.append(f"Redis: {REDIS_URL}" if REDIS_URL else "Redis: PRESENCE_TEST_REDIS_URL unset, Redis runs are SKIPPED")
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per reason for what was skipped, so a reader knows what did not run and why."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in sorted(reasons.items()):
        terminalreporter.write_line(f"SKIPPED {count} test(s): {reason}", yellow=True)


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


# ---------------------------------------------------------------- databases
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database(worker_id: str) -> Iterator[str]:
    if not POSTGRES_URL:
        skip_unless_required(
            "PostgreSQL not configured: set PRESENCE_TEST_POSTGRES_URL (e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    admin = make_url(POSTGRES_URL)
    name = f"presence_t_{worker_id}_{uuid.uuid4().hex[:8]}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "presence.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()
    yield url


# ---------------------------------------------------------------- Redis
@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[SessionFactory]:
    """A session factory on this test's database (SQLite, then PostgreSQL), disposed afterwards."""
    async with database(database_url) as factory:
        yield factory


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[PresenceStore]:
    """The presence store of node "node-a": in memory, then on Redis (the store contract tests)."""
    if request.param == "memory":
        s = create_store(Settings(), "node-a", system_clock)
        yield s
        await s.close()
        return
    cfg: dict[str, Any] = request.getfixturevalue("redis_settings")
    redis = connect_redis(cfg["redis_url"])
    s = create_store(Settings(redis_prefix=cfg["redis_prefix"]), "node-a", system_clock, redis)
    await s.start()
    yield s
    await s.close()
    await redis.aclose()


@pytest.fixture
def redis_settings() -> Iterator[dict[str, str]]:
    """`redis_url` and a key prefix of this test's own (tests run in parallel on one
    Redis); every key under the prefix is deleted afterwards."""
    if not REDIS_URL:
        skip_unless_required("Redis not configured: set PRESENCE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15)")
    from redis import Redis

    prefix = f"t{uuid.uuid4().hex[:10]}:"
    yield {"redis_url": REDIS_URL, "redis_prefix": prefix}
    with Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


# ---------------------------------------------------------------- the server
class Server:
    """A running server and the means to talk to it like a user would."""

    def __init__(self, app: web.Application, url: str, settings: Settings) -> None:
        self.app = app
        self.url = url
        self.settings = settings
        self.tokens = TokenCodec(SECRET)
        self.http = aiohttp.ClientSession(base_url=url)
        self._clients: list[socketio.AsyncClient] = []
        self.runner: web.AppRunner | None = None

    def token(self, sub: str, role: str, company: str | None = None, name: str | None = None, ttl: float = 600) -> str:
        return self.tokens.encode(sub, role, company, name, ttl)  # type: ignore[arg-type]

    def auth(
        self, sub: str = "admin-1", role: str = "admin", company: str | None = None, name: str | None = None
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, role, company, name)}"}

    async def request(
        self,
        method: str,
        path: str,
        *,
        role: str | None = "admin",
        sub: str | None = None,
        company: str | None = None,
        **kw: Any,
    ) -> tuple[int, Any]:
        headers = kw.pop("headers", {})
        if role is not None:
            headers.update(self.auth(sub or f"{role}-1", role, company))
        async with self.http.request(method, path, headers=headers, **kw) as resp:
            body = await resp.json(content_type=None) if resp.content_type == "application/json" else await resp.text()
            return resp.status, body

    async def conversation(
        self,
        conversation_id: str,
        company: str = "co-1",
        session_id: str | None = None,
        platform: str = "WIDGET",
        customer_name: str | None = None,
    ) -> dict[str, Any]:
        status, body = await self.request(
            "PUT",
            f"/api/conversations/{conversation_id}",
            role="service",
            json={
                "companyId": company,
                "platform": platform,
                "sessionId": session_id or f"s-{conversation_id}",
                "customerName": customer_name,
            },
        )
        assert status in (200, 201), body
        return body

    async def socket(self, token: str | None = None) -> tuple[socketio.AsyncClient, EventLog]:
        """A connected Socket.IO client (websocket) and the log of every event it receives."""
        client = socketio.AsyncClient(reconnection=False)
        log = EventLog(client)
        await client.connect(
            self.url, auth={"token": token} if token else None, transports=["websocket"], wait_timeout=5
        )
        self._clients.append(client)
        return client, log

    async def widget(
        self, conversation_id: str, session_id: str | None = None
    ) -> tuple[socketio.AsyncClient, EventLog]:
        client, log = await self.socket()
        ack = await client.call(
            "widget:online",
            {"conversationId": conversation_id, "sessionId": session_id or f"s-{conversation_id}"},
            timeout=5,
        )
        assert ack["ok"] is True, ack
        return client, log

    async def agent(
        self, conversation_id: str | None = None, company: str = "co-1", sub: str = "agent-1", role: str = "agent"
    ) -> tuple[socketio.AsyncClient, EventLog]:
        client, log = await self.socket(self.token(sub, role, company))
        if conversation_id is not None:
            ack = await client.call("conversation:join", {"conversationId": conversation_id}, timeout=5)
            assert ack["ok"] is True, ack
        return client, log

    async def close(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):
                await client.disconnect()
        await self.http.close()

    async def stop(self) -> None:
        """Stops this server as a shutdown would (its clients first); the fixture's
        teardown then leaves it alone. For restarts: start another on the same database."""
        await self.close()
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()


@pytest.fixture
async def make_server(database_url: str, tmp_path: Path) -> AsyncIterator[Any]:
    """`await make_server(**settings)`: starts a server with FAST timings plus overrides;
    `clock=` gives it a clock of the test's own (every server time comes from it)."""
    runners: list[tuple[web.AppRunner, Server]] = []

    async def start(clock: Clock = system_clock, **overrides: Any) -> Server:
        settings = replace(
            Settings(database_url=database_url, jwt_secret=SECRET, secret_file=tmp_path / ".secret"),
            **{**FAST, **overrides},
        )
        app = create_app(settings, clock)
        runner = web.AppRunner(app, shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        server = Server(app, f"http://127.0.0.1:{port}", settings)
        server.runner = runner
        runners.append((runner, server))
        return server

    yield start
    for runner, server in reversed(runners):
        if server.runner is None:
            continue  # stopped by the test
        await server.close()
        await runner.cleanup()


@pytest.fixture
async def server(make_server: Any) -> Server:
    return await make_server()


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    """Headless Chromium launched for this test (tests/browser_support.py); a
    browser test module says which bundles it needs with its own `chromium`
    fixture: `return chromium_for("tracking.js")`."""
    from tests.browser_support import launch

    async with launch(chromium) as launched:
        yield launched
