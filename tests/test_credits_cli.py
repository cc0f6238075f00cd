"""`presence monitor-credits` (§7): once in-process, as a loop in a real process,
and on Redis, where its notices reach the sockets of a running server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from presence.cli import main
from tests.conftest import SECRET, Server
from tests.credits_support import BY_HAND, Seller, assert_books_agree
from tests.helpers import FakeClock, preserved_logging

BLOCK = 60.0
AGO = 10.5 * BLOCK  # streams started this long before the real clock: blocks 0..10 are due
METERING = {"stream_credit_block": BLOCK, "stream_warn_after": 300.0, "stream_end_after": 3600.0}


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "PRESENCE_DATABASE_URL": database_url,
        "PRESENCE_JWT_SECRET": SECRET,
        "PRESENCE_STREAM_CREDIT_BLOCK": str(BLOCK),
        "PRESENCE_STREAM_WARN_AFTER": "300",
        "PRESENCE_STREAM_END_AFTER": "3600",
        **extra,
    }


Started = tuple[Server, dict[str, Seller], dict[str, str]]


async def streams_started_long_ago(make_server: Any, **settings: Any) -> Started:
    """Two sellers whose streams started AGO seconds ago: one with 5 credits (4 left
    after block 0: it runs out at block 5), one with 20."""
    server = await make_server(clock=FakeClock(time.time() - AGO), **METERING, **BY_HAND, **settings)
    poor, rich = Seller(server, "poor"), Seller(server, "rich")
    await poor.grant(5)
    await rich.grant(20)
    return server, {"poor": poor, "rich": rich}, {"poor": await poor.live(), "rich": await rich.live()}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.chdir(tmp_path)

    async def run(env: dict[str, str], *argv: str) -> tuple[int, str, str]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        with preserved_logging():
            code = await asyncio.to_thread(main, list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


async def test_run_once_verbose_prints_a_line_per_stream(make_server: Any, database_url: str, cli: Any) -> None:
    server, sellers, ids = await streams_started_long_ago(make_server)
    code, out, _ = await cli(cli_env(database_url), "monitor-credits", "--run-once", "--verbose")
    assert code == 0, out
    lines = out.strip().splitlines()
    assert sorted(lines[:-1]) == sorted(
        [
            f"stream {ids['poor']}: charged 4, warned no, ended credits_exhausted, remaining 0",
            f"stream {ids['rich']}: charged 10, warned yes, live, remaining 9",
        ]
    )
    assert lines[-1] == "checked 2 live streams: charged 14 blocks, warned 1, ended 1"
    # The rich stream is still live but has nothing due (its next block, the end by
    # inactivity are ahead; it was warned): a pass looks only at streams with something due.
    code, out, _ = await cli(cli_env(database_url), "monitor-credits", "--run-once", "--verbose")
    assert out.strip().splitlines() == ["checked 0 live streams: charged 0 blocks, warned 0, ended 0"]
    code, out, _ = await cli(cli_env(database_url), "monitor-credits", "--run-once")
    assert out.strip().splitlines() == ["checked 0 live streams: charged 0 blocks, warned 0, ended 0"]
    for name, seller in sellers.items():
        await assert_books_agree(server, seller, ids[name])


async def test_the_loop_runs_every_interval_until_sigterm(make_server: Any, database_url: str, tmp_path: Path) -> None:
    server, sellers, ids = await streams_started_long_ago(make_server)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESENCE_")}
    env.update(cli_env(database_url))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "presence.cli",
        "monitor-credits",
        "--verbose",
        "--check-interval",
        "0.3",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(30):
            while sum(line.startswith("checked ") for line in lines) < 3:
                raw = await proc.stdout.readline()
                assert raw, f"the monitor exited early: {lines}"
                lines.append(raw.decode().rstrip("\n"))
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    lines += rest.decode().splitlines()
    assert lines[0] == "monitoring livestream credits every 0.3 s (Ctrl-C stops)"
    assert lines[-1] == "monitor stopped"
    summaries = [line for line in lines if line.startswith("checked ")]
    assert summaries[0] == "checked 2 live streams: charged 14 blocks, warned 1, ended 1"
    assert summaries[1] == "checked 0 live streams: charged 0 blocks, warned 0, ended 0"  # nothing due
    assert not any(line.startswith(f"stream {ids['rich']}: charged 0") for line in lines)
    for name, seller in sellers.items():
        await assert_books_agree(server, seller, ids[name])


async def test_on_redis_the_notices_reach_the_server_sockets_and_health(
    make_server: Any, database_url: str, redis_settings: dict[str, str], tmp_path: Path
) -> None:
    server, sellers, ids = await streams_started_long_ago(make_server, **redis_settings)
    poor = await sellers["poor"].socket()
    _, admin = await server.agent(sub="boss", role="admin", company=None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESENCE_")}
    env.update(
        cli_env(
            database_url,
            PRESENCE_REDIS_URL=redis_settings["redis_url"],
            PRESENCE_REDIS_PREFIX=redis_settings["redis_prefix"],
        )
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "presence.cli",
        "monitor-credits",
        "--run-once",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()
    credits = [await poor.next("livestream:credits") for _ in range(4)]
    assert [(c["credits_consumed"], c["remaining_credits"]) for c in credits] == [(2, 3), (3, 2), (4, 1), (5, 0)]
    assert await poor.next("livestream:ended") == {"livestream_id": ids["poor"], "reason": "credits_exhausted"}
    while (warning := await admin.next("livestream:warning"))["livestream_id"] != ids["rich"]:
        pass
    assert warning["user_id"] == "rich"
    ended = await admin.next("livestream:ended")
    assert ended["user_id"] == "poor" and ended["reason"] == "credits_exhausted"
    status, health = await server.request("GET", "/api/health", role=None)
    assert status == 200 and health["jobs"]["credit_monitor"]["last_result"] == {
        "checked": 2,
        "charged": 14,
        "warned": 1,
        "ended": 1,
    }
    for name, seller in sellers.items():
        await assert_books_agree(server, seller, ids[name])
