"""The §6 commands (`tracking-link`, `auto-timeout`, `sessions-export`), run as
`presence …` in-process against the test database, beside a real server."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from presence.cli import main
from tests.attendance_support import STILL, FakeClock, beat, click, end, link, meeting, row
from tests.conftest import SECRET
from tests.helpers import preserved_logging

Cli = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("PRESENCE_") and not k.startswith("PRESENCE_TEST_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PRESENCE_DATABASE_URL", database_url)
    monkeypatch.setenv("PRESENCE_JWT_SECRET", SECRET)  # the servers' secret: links and secrets agree

    async def run(*argv: str, **env: str) -> tuple[int, str, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        with preserved_logging():
            code = await asyncio.to_thread(main, list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


async def test_tracking_link_prints_a_link_the_server_accepts(cli: Cli, make_server: Any) -> None:
    server = await make_server(**STILL)
    await meeting(server, title="Algebra")
    code, out, err = await cli(
        "tracking-link", "--meeting", "m1", "--student", "st1", "--student-name", "Bob",
        PRESENCE_PUBLIC_URL="https://school.example",
    )  # fmt: skip
    assert code == 0, err
    url = out.strip()
    assert url.startswith("https://school.example/t/") and len(out.strip().splitlines()) == 1
    page = await click(server, url)
    assert page.status == 200
    assert (await row(server, page.session_id))["studentName"] == "Bob"


async def test_tracking_link_refuses_an_unknown_meeting_or_student(cli: Cli, make_server: Any) -> None:
    code, out, err = await cli("tracking-link", "--meeting", "nope", "--student", "st1")
    assert code == 1 and out == "" and "Unknown meeting: nope" in err
    server = await make_server(**STILL)
    await meeting(server)
    code, out, err = await cli("tracking-link", "--meeting", "m1", "--student", "")
    assert code == 2 and out == "" and "student_id must be 1 to 255 characters" in err


async def test_auto_timeout_ends_what_is_over(cli: Cli, make_server: Any) -> None:
    long_ago = FakeClock(time.time() - 1000)  # the clicks happened 1000 s ago, on the server's clock
    server = await make_server(clock=long_ago, **STILL)
    await meeting(server)
    old = await click(server, await link(server, student="st1"))
    gone = await click(server, await link(server, student="st2"))
    assert (await end(server, gone))[0] == 200
    code, out, err = await cli("auto-timeout")
    assert code == 0, err
    assert out.strip().splitlines()[-1] == "1 sessions ended"
    code, out, _ = await cli("auto-timeout")
    assert out.strip().splitlines()[-1] == "0 sessions ended"
    long_ago.now = time.time()
    status, body = await beat(server, old)
    assert (status, body["status"]) == (410, "timeout")


async def test_sessions_export_writes_the_servers_csv(cli: Cli, make_server: Any, tmp_path: Path) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock, **STILL)
    await meeting(server, title="=1+1")
    page = await click(server, await link(server, name="@Bob"))
    clock.advance(95)
    assert (await end(server, page))[0] == 200
    day = time.strftime("%Y-%m-%d", time.gmtime(clock.now))
    after = time.strftime("%Y-%m-%d", time.gmtime(clock.now + 86_400))
    query = f"from={day}&to={after}"
    async with server.http.get(f"/api/admin/sessions/export.csv?{query}", headers=server.auth()) as resp:
        served = (await resp.read()).decode()
    assert served.count("\r\n") == 2 and "'=1+1" in served and "'@Bob" in served

    code, out, err = await cli("sessions-export", "--from", day, "--to", after)
    assert code == 0, err
    assert out == served
    folder = tmp_path / "out"
    await asyncio.to_thread(folder.mkdir)
    target = folder / "payroll.csv"
    code, out, err = await cli("sessions-export", "--from", day, "--to", after, "--output", str(target))
    assert code == 0, err
    assert out.strip() == f"1 sessions written to {target}"
    assert target.read_bytes().decode() == served
    assert await asyncio.to_thread(os.listdir, folder) == ["payroll.csv"]  # no partial file left


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--from", "2026-13-01", "--to", "2026-12-01"], "from is not a calendar date"),
        (["--from", "2026-12-01", "--to", "soon"], "to must be an ISO date"),
        (["--from", "2026-12-02", "--to", "2026-12-01"], "must not be after to"),
    ],
)
async def test_sessions_export_refuses_bad_dates(cli: Cli, tmp_path: Path, args: list[str], why: str) -> None:
    target = tmp_path / "payroll.csv"
    code, out, err = await cli("sessions-export", *args, "--output", str(target))
    assert code == 2 and why in err and out == ""
    assert not target.exists()


async def test_auto_timeout_from_the_cli_reaches_admins_on_every_node(
    cli: Cli, make_server: Any, redis_settings: dict[str, str]
) -> None:
    """With Redis, the CLI's sweep tells admins' sockets on the nodes (a write-only
    Socket.IO manager) and is what /api/health reports, cluster-wide."""
    long_ago = FakeClock(time.time() - 1000)
    server = await make_server(clock=long_ago, **redis_settings, **STILL)
    await meeting(server)
    page = await click(server, await link(server))
    _, admin = await server.socket(server.token("admin-9", "admin"))
    code, out, err = await cli(
        "auto-timeout",
        PRESENCE_REDIS_URL=redis_settings["redis_url"],
        PRESENCE_REDIS_PREFIX=redis_settings["redis_prefix"],
    )
    assert code == 0 and out.strip().endswith("1 sessions ended"), err
    ended = await admin.next("session:ended", timeout=10)
    assert (ended["id"], ended["status"], ended["durationMinutes"]) == (page.session_id, "timeout", 0)
    _, health = await server.request("GET", "/api/health", role=None)
    assert health["jobs"]["session_timeout"]["last_result"] == 1
