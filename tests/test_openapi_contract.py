"""Hostile input (issue 12): schemathesis, every check, against `/api/openapi.json`
of the real server, as an admin, a user, a service and anonymous, finds nothing:
no 5xx, every answer documented with its schema (and headers), no request the
schema forbids accepted, none it allows refused.

schemathesis runs as its command line (`st run`) in a subprocess against the
server this test started, so the server keeps serving on the test's loop while
the run goes on. Each run is bounded (`--max-examples`) and deterministic
(`--generation-deterministic`: no randomness, no example database), so a failure
reproduces with the command printed in the assertion.

The server runs with the rate limit off, so every case reaches the handlers (with
PRESENCE_RATE_LIMIT's default a fuzzer outpaces 50 requests a second and most
cases would only meet the limiter); one more run, as a user on a server whose
limit is one request a second, checks the 429 answers themselves (their schema
and Retry-After).

What the checks accept beyond schemathesis' defaults, each a status the schema
documents and SPEC.md prescribes, none a way around a finding:
- a body over the size limit is refused with 413 (§2): a refusal of a request
  the schema forbids, as much as a 400 is;
- an attendance session that has ended answers 410 (§6), the sibling of the 404
  schemathesis already expects for ids that name nothing;
- `PATCH /api/livestreams/start/{id}/` answers 402 without a credit and
  `POST /api/livestreams/{id}/heartbeat/` 400 "not currently live" (§7): refusals
  for the stream's or the balance's state, which no request schema can describe.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.attendance_support import click, link, meeting
from tests.conftest import Server

MAX_EXAMPLES = 5
RUN_TIMEOUT = 150.0
CRON_SECRET = "cron-secret-for-the-contract-test"
ST = Path(sys.executable).with_name("st")

NEGATIVE_REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
POSITIVE_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "410", "429", "5xx"]
STATE_REFUSALS = {
    ("PATCH", "/api/livestreams/start/{id}/"): "402",
    ("POST", "/api/livestreams/{id}/heartbeat/"): "400",
}


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def config(auth: dict[str, str]) -> str:
    """schemathesis.toml: the expected statuses above, and a bearer per security scheme."""
    lines = ["[checks.negative_data_rejection]", f"expected-statuses = {_toml_list(NEGATIVE_REFUSALS)}", ""]
    for (method, path), status in STATE_REFUSALS.items():
        lines += [
            "[[operations]]",
            f'include-method = "{method}"',
            f'include-path = "{path}"',
            f"checks.positive_data_acceptance.expected-statuses = {_toml_list([*POSITIVE_ACCEPTED, status])}",
            "",
        ]
    for scheme, secret in auth.items():
        lines += [f"[auth.openapi.{scheme}]", f'bearer = "{secret}"', ""]
    return "\n".join(lines)


async def schemathesis(server: Server, tmp_path: Path, name: str, auth: dict[str, str], *args: str) -> float:
    """Runs `st run --checks all` against the server; fails with its report unless it passes.
    Answers how long the run took, in seconds."""
    if not ST.exists():
        pytest.fail(f"{ST} is missing: schemathesis is a test dependency (make venv)")
    folder = tmp_path / name
    folder.mkdir()
    (folder / "schemathesis.toml").write_text(config(auth), encoding="utf-8")
    command = [
        str(ST),
        "--config-file",
        str(folder / "schemathesis.toml"),
        "run",
        f"{server.url}/api/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-color",
        *args,
    ]
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=folder,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"schemathesis as {name} did not finish within {RUN_TIMEOUT:g}s")
    report = out.decode("utf-8", "replace")
    assert process.returncode == 0, f"schemathesis as {name} found failures (exit {process.returncode}):\n{report}"
    assert " passed" in report, report  # it did run cases, and they passed
    return time.monotonic() - started


async def seed(server: Server) -> dict[str, Any]:
    """A little of everything, so reads find rows and the user can start a stream;
    answers an attendance session's secret for the `session` scheme."""
    await server.conversation("conv-1", company="co-1")
    status, body = await server.request("POST", "/api/admin/users/user-1/credits", json={"amount": 50})
    assert status == 200, body
    await meeting(server, "meeting-1")
    page = await click(server, await link(server, "meeting-1", "student-1"))
    return {"session": page.secret}


@pytest.fixture
async def contract_server(make_server: Any) -> Server:
    return await make_server(rate_limit=0, cron_secret=CRON_SECRET)


async def test_schemathesis_finds_nothing_as_any_caller(contract_server: Server, tmp_path: Path) -> None:
    server = contract_server
    secrets = await seed(server)
    people = {
        "admin": server.token("admin-1", "admin", name="Ada"),
        "user": server.token("user-1", "user", "co-1", "Uma"),
        "service": server.token("backend", "service"),
    }
    took = {}
    for name, token in people.items():
        auth = {"bearer": token, "cron": CRON_SECRET, "session": secrets["session"]}
        took[name] = await schemathesis(server, tmp_path, name, auth)
    took["anonymous"] = await schemathesis(server, tmp_path, "anonymous", {})
    print("schemathesis runs, seconds:", {name: round(s, 1) for name, s in took.items()})


async def test_schemathesis_finds_the_rate_limit_documented(make_server: Any, tmp_path: Path) -> None:
    """A limit of one request a second: after the first two, the user's requests meet
    the limiter, and each 429 must be as documented (RateLimited, Retry-After)."""
    server = await make_server(rate_limit=1)
    token = server.token("user-1", "user", "co-1")
    await schemathesis(
        server,
        tmp_path,
        "user-rate-limited",
        {"bearer": token},
        "--include-path-regex",
        "^/api/(users|livestreams)/",
        "--phases",
        "examples,coverage",
    )
    status, metrics = await server.request("GET", "/metrics", role=None)
    assert status == 200 and 'status="429"' in metrics, "the run never met the rate limit"


async def test_nul_characters_are_refused_not_stored(server: Server) -> None:
    """PostgreSQL's text cannot hold NUL: every string that is stored or searched refuses
    it with 400 naming the field (the schema says so), on SQLite alike, instead of a 500."""
    conversation = {"companyId": "co-1", "platform": "WIDGET", "sessionId": "s-1"}
    refused = [
        ("PUT", "/api/conversations/c%00", "service", {"json": conversation}, "id"),
        ("PUT", "/api/conversations/c1", "service", {"json": {**conversation, "companyId": "co\x00"}}, "companyId"),
        ("PUT", "/api/conversations/c1", "service", {"json": {**conversation, "customerName": "\x00"}}, "customerName"),
        ("GET", "/api/widget/presence?conversationId=c%00", "admin", {}, "conversationId"),
        ("POST", "/api/widget/presence/batch", "admin", {"json": {"conversationIds": ["\x00"]}}, "conversationIds"),
        ("GET", "/api/admin/sessions?q=%00", "admin", {}, "q"),
        ("GET", "/api/users/admin/users/u%00/online-status/", "admin", {}, "id"),
        ("POST", "/api/livestreams/", "user", {"json": {"title": "live\x00"}}, "title"),
        ("GET", "/api/livestreams/x%00/", "user", {}, "id"),
        ("POST", "/api/admin/meetings/m1/links", "admin", {"json": {"studentId": "\x00"}}, "studentId"),
    ]
    for method, path, role, kw, field in refused:
        status, body = await server.request(method, path, role=role, company="co-1", **kw)
        assert status == 400 and field in body["details"], (method, path, status, body)
    events = {"events": [{"user_id": "u\x00", "ts": "2026-11-23T09:30:00.000Z"}]}
    status, body = await server.request("POST", "/api/activity/events", role="service", json=events)
    assert status == 202 and body["accepted"] == 0 and "NUL" in body["rejected"][0]["error"], body
