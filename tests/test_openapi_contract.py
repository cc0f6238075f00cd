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

Credentials come per security scheme (schemathesis.toml `[auth.openapi.*]`): the
identity's token for `bearer`, the cron secret for `cron` (the server has one, so
the sweep runs) and a real attendance session's secret for `session`. The runs
share one server and database, one after another, so what the service and admin
runs create (conversations, meetings, grants) is there for the next; each test
starts on an empty database.

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

import jsonschema_rs
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


@pytest.mark.timeout(4 * RUN_TIMEOUT)  # four runs of about 10-15 s each on 2 idle cores
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


@pytest.mark.timeout(RUN_TIMEOUT)
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


class Documented:
    """Checks real answers against the document: the schema of (path, method, status)."""

    def __init__(self, server: Server, doc: dict[str, Any]) -> None:
        self.server = server
        self.doc = doc
        self.checked: set[tuple[str, str, int]] = set()

    async def call(self, method: str, template: str, status: int, *, role: str | None = "admin", **kw: Any) -> Any:
        params = kw.pop("path", {})
        query = kw.pop("query", "")
        path = template.format(**params) + query
        got, body = await self.server.request(method, path, role=role, **kw)
        assert got == status, (method, path, got, body)
        answers = self.doc["paths"][template][method.lower()]["responses"]
        assert str(status) in answers, f"{method} {template} answered an undocumented {status}"
        schema = answers[str(status)]["content"]["application/json"]["schema"]
        # jsonschema_rs comes with schemathesis; the components resolve against this root.
        validator = jsonschema_rs.Draft202012Validator({**schema, "components": self.doc["components"]})
        errors = [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, (method, path, status, errors, body)
        self.checked.add((method, template, status))
        return body


async def test_real_answers_match_their_documented_schemas(server: Server) -> None:
    """The fuzzer rarely reaches the answers that need state (a customer online, a live
    stream, an active session): each is made here and checked against its schema."""
    status, doc = await server.request("GET", "/api/openapi.json", role=None)
    assert status == 200
    api = Documented(server, doc)
    service, user, agent = (
        {"role": "service"},
        {"role": "user", "sub": "seller-1", "company": "co-1"},
        {"role": "agent", "company": "co-1"},
    )

    conversation = {"companyId": "co-1", "platform": "WIDGET", "sessionId": "s-c1", "customerName": "Cat"}
    await api.call("PUT", "/api/conversations/{id}", 201, path={"id": "c1"}, json=conversation, **service)
    await api.call("PUT", "/api/conversations/{id}", 200, path={"id": "c1"}, json=conversation, **service)
    other = {**conversation, "companyId": "co-2"}
    await api.call("PUT", "/api/conversations/{id}", 409, path={"id": "c1"}, json=other, **service)
    await api.call(
        "PUT",
        "/api/conversations/{id}",
        201,
        path={"id": "fb"},
        json={**conversation, "platform": "FACEBOOK"},
        **service,
    )
    await server.widget("c1")
    online = await api.call("GET", "/api/widget/presence", 200, query="?conversationId=c1", **agent)
    assert online["isOnline"] is True and online["devices"] == 1
    await api.call("GET", "/api/widget/presence", 404, query="?conversationId=nope", **agent)
    await api.call("GET", "/api/widget/presence", 400, **agent)
    batch = await api.call("POST", "/api/widget/presence/batch", 200, json={"conversationIds": ["c1", "fb", "x"]})
    assert batch["missing"] == ["x"] and batch["presence"]["fb"]["supported"] is False

    await api.call("POST", "/api/users/heartbeat/", 200, **user)
    await api.call("GET", "/api/users/admin/users/{id}/online-status/", 200, path={"id": "seller-1"})
    await api.call("GET", "/api/users/admin/users/{id}/online-status/", 404, path={"id": "nobody"})
    await api.call("GET", "/api/users/admin/users/online/", 200)
    assert (await api.call("POST", "/api/users/logout/", 200, **user))["status"] == "offline"
    await api.call("GET", "/api/users/admin/users/online/", 400, query="?limit=0")
    await api.call("POST", "/api/users/heartbeat/", 403, **service)

    events = {"events": [{"user_id": "e1", "ts": "2026-11-23T09:30:00.000Z"}, "not an event"]}
    await api.call("POST", "/api/activity/events", 202, json=events, **service)
    assert len((await api.call("GET", "/api/admin/activity/metrics", 200, query="?detailed=1"))["daily"]) == 30
    await api.call("GET", "/api/admin/activity/metrics", 200, query="?detailed=0")
    await api.call("GET", "/api/admin/activity/metrics", 400, query="?detailed=yes")

    meeting_body = {
        "title": "Algebra",
        "zoomUrl": "https://zoom.us/j/1",
        "teacherId": "t1",
        "startsAt": "2026-11-23T09:30:00Z",
    }
    await api.call("PUT", "/api/admin/meetings/{id}", 201, path={"id": "m1"}, json=meeting_body)
    await api.call("PUT", "/api/admin/meetings/{id}", 200, path={"id": "m1"}, json=meeting_body)
    await api.call(
        "PUT", "/api/admin/meetings/{id}", 400, path={"id": "m1"}, json={**meeting_body, "zoomUrl": "javascript:x"}
    )
    await api.call("GET", "/api/admin/meetings/{id}", 200, path={"id": "m1"})
    links = "/api/admin/meetings/{id}/links"
    url = (await api.call("POST", links, 201, path={"id": "m1"}, json={"studentId": "st1", "studentName": "Bob"}))[
        "url"
    ]
    await api.call("POST", links, 404, path={"id": "m9"}, json={"studentId": "st1"})
    page = await click(server, url)
    bearer = {"role": None, "headers": {"Authorization": f"Bearer {page.secret}"}}
    sid = {"id": page.session_id}
    await api.call("POST", "/api/sessions/{id}/heartbeat", 200, path=sid, json={}, **bearer)
    listed = await api.call("GET", "/api/admin/sessions", 200, query="?status=active&q=bob")
    assert listed["count"] == 1
    await api.call("POST", "/api/sessions/{id}/end", 200, path=sid, **bearer)
    await api.call("POST", "/api/sessions/{id}/heartbeat", 410, path=sid, **bearer)
    await api.call("POST", "/api/sessions/{id}/end", 410, path=sid, **bearer)
    await api.call("POST", "/api/sessions/{id}/end", 401, path=sid, role=None)
    await api.call("GET", "/api/admin/sessions", 200)
    summary = await api.call("GET", "/api/admin/sessions/summary", 200, query="?from=2000-01-01&to=9999-12-31")
    assert summary["teachers"][0]["sessions"] == 1
    await api.call("GET", "/api/admin/sessions/summary", 200, query="?from=2026-12-02&to=2026-12-01")
    await api.call("GET", "/api/admin/sessions/summary", 400, query="?from=2026-13-01&to=2026-12-01")
    await api.call("POST", "/api/admin/auto-timeout", 200)
    await api.call("POST", "/api/admin/auto-timeout", 400, json=[1])
    await api.call("POST", "/api/cron/session-timeout", 503, role=None)

    grants = "/api/admin/users/{id}/credits"
    await api.call("POST", grants, 200, path={"id": "seller-1"}, json={"amount": 3})
    await api.call("POST", grants, 409, path={"id": "seller-1"}, json={"amount": 2**63 - 2})
    await api.call("GET", "/api/users/me/credits", 200, **user)
    stream = await api.call("POST", "/api/livestreams/", 201, json={"title": "Sale"}, **user)
    sid = {"id": stream["id"]}
    await api.call("POST", "/api/livestreams/{id}/heartbeat/", 400, path=sid, **user)
    await api.call("PATCH", "/api/livestreams/start/{id}/", 200, path=sid, **user)
    await api.call("PATCH", "/api/livestreams/start/{id}/", 409, path=sid, **user)
    await api.call("POST", "/api/livestreams/{id}/heartbeat/", 200, path=sid, **user)
    await api.call("POST", "/api/livestreams/{id}/check_credits/", 200, path=sid, **user)
    assert len((await api.call("GET", "/api/livestreams/{id}/charges/", 200, path=sid, **user))["charges"]) == 1
    await api.call("GET", "/api/admin/livestreams", 200, query="?status=live")
    await api.call("GET", "/api/admin/livestreams", 400, query="?limit=")  # given, it must be an integer
    await api.call("GET", "/api/admin/sessions", 400, query="?status=")  # given, it must be one of them
    await api.call("GET", "/api/admin/overview", 200)
    await api.call("PATCH", "/api/livestreams/end/{id}/", 200, path=sid, **user)
    await api.call("PATCH", "/api/livestreams/end/{id}/", 409, path=sid, **user)
    await api.call("GET", "/api/livestreams/{id}/", 200, path=sid, **user)
    await api.call("GET", "/api/livestreams/{id}/", 403, path=sid, role="user", sub="someone-else", company="co-1")
    await api.call("GET", "/api/livestreams/{id}/", 404, path={"id": "nope"}, **user)
    stream = await api.call(
        "POST", "/api/livestreams/", 201, json={"title": "Broke"}, role="user", sub="broke", company="co-1"
    )
    await api.call(
        "PATCH",
        "/api/livestreams/start/{id}/",
        402,
        path={"id": stream["id"]},
        role="user",
        sub="broke",
        company="co-1",
    )
    await api.call("GET", "/api/health", 200, role=None)
    await api.call("GET", "/api/admin/overview", 401, role=None)
    await api.call("GET", "/api/openapi.json", 200, role=None)
    successes = {
        (method.upper(), path, int(status))
        for path, operations in doc["paths"].items()
        for method, op in operations.items()
        for status, answer in op["responses"].items()
        if status.startswith("2") and "application/json" in answer["content"]
    }
    # The cron sweep's success needs PRESENCE_CRON_SECRET, which this server has not (the fuzzing run has).
    assert successes - api.checked == {("POST", "/api/cron/session-timeout", 200)}


async def test_a_malformed_request_is_one_warning_line_not_a_traceback(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """schemathesis probes headers with NUL: aiohttp refuses the request (400) before any
    handler, and the log says so in one line, so a client cannot flood it with tracebacks."""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Probe: a\x00b\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.split(b" ", 2)[1] == b"400", answer[:200]
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert records and all(r.levelname == "WARNING" and r.exc_info is None for r in records), records
    assert "Malformed request from" in records[0].getMessage(), records[0].getMessage()
