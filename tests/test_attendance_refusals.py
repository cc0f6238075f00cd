"""Bad input to §6 gets a clear answer and changes nothing: links that were
forged, altered, cut off or have expired; secrets that are absent, not secrets,
or another session's; unknown ids; hostile searches; dates that are not dates;
the cron secret."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from domain import tracking_links as links
from tests.attendance_support import (
    STILL,
    FakeClock,
    beat,
    click,
    link,
    meeting,
    path_of,
    row,
    session_call,
    sessions,
)
from tests.conftest import SECRET, Server


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _payload(token: str) -> list[Any]:
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def nothing_started(server: Server) -> None:
    assert (await sessions(server))["count"] == 0


async def test_forged_altered_and_truncated_links_say_which(make_server: Any) -> None:
    server = await make_server(**STILL)
    await meeting(server)
    token = path_of(await link(server, student="st1")).removeprefix("/t/")
    payload, tag = token.split(".")

    # Pointed at another student: the payload changed, so the tag no longer matches.
    body = _payload(token)
    body[2] = "st2"
    other_student = _b64(json.dumps(body, separators=(",", ":")).encode()) + "." + tag
    # Signed with another key (not this server's).
    foreign = links.sign(links.link_key("not-our-secret"), "m1", "st1", None, 1e10, 60)
    # A JWT of this server is not a link either.
    jwt = server.token("st1", "user", "co")
    cases = {
        "forged": [other_student, foreign, f"{payload}.{_b64(b'x' * 16)}"],
        "truncated": [token[:-5], payload, f"{payload}.", token[: len(payload) // 2], jwt],
    }
    for kind, tokens in cases.items():
        for bad in tokens:
            page = await click(server, f"/t/{bad}")
            assert page.status == 400, (kind, bad)
            assert page.config is None and page.error is not None
            wanted = "not issued by this server" if kind == "forged" else ("cut off", "damaged", "format")
            assert any(w in page.error for w in ([wanted] if isinstance(wanted, str) else wanted)), (bad, page.error)
    page = await click(server, "/t/")
    assert page.status == 400 and page.error is not None and "cut off" in page.error
    await nothing_started(server)


async def test_an_expired_link_says_so(make_server: Any) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock, tracking_link_ttl=60, **STILL)
    await meeting(server)
    url = await link(server)
    clock.advance(61)
    page = await click(server, url)
    assert page.status == 400 and page.error is not None and "expired" in page.error
    await nothing_started(server)


async def test_a_valid_link_to_a_meeting_the_server_does_not_know(make_server: Any) -> None:
    server = await make_server(**STILL)
    key = links.link_key(SECRET)
    token = links.sign(key, "gone", "st1", None, time.time(), 3600)
    page = await click(server, f"/t/{token}")
    assert page.status == 404 and page.error is not None and "not known" in page.error
    await nothing_started(server)


async def test_an_unknown_meeting_gets_no_link(make_server: Any) -> None:
    server = await make_server(**STILL)
    status, body = await server.request("POST", "/api/admin/meetings/nope/links", json={"studentId": "st1"})
    assert status == 404 and body["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"zoomUrl": "https://zoom.us/j/1", "teacherId": "t1"}, "title"),
        ({"title": "A", "zoomUrl": "javascript:alert(1)", "teacherId": "t1"}, "zoomUrl"),
        ({"title": "A", "zoomUrl": "data:text/html,hi", "teacherId": "t1"}, "zoomUrl"),
        ({"title": "A", "zoomUrl": "https:zoom.us", "teacherId": "t1"}, "zoomUrl"),
        ({"title": "A", "zoomUrl": "https://zoom.us/j/1 x", "teacherId": "t1"}, "zoomUrl"),
        ({"title": "A", "zoomUrl": "https://zoom.us/j/1"}, "teacherId"),
        ({"title": "A", "zoomUrl": "https://zoom.us/j/1", "teacherId": "t1", "startsAt": "soon"}, "startsAt"),
        ({"title": "A", "zoomUrl": "https://zoom.us/j/1", "teacherId": "t1", "teacherName": 5}, "teacherName"),
        ({"title": "x" * 501, "zoomUrl": "https://zoom.us/j/1", "teacherId": "t1"}, "title"),
    ],
)
async def test_a_bad_meeting_is_refused_and_not_stored(server: Server, body: dict[str, Any], field: str) -> None:
    status, answer = await server.request("PUT", "/api/admin/meetings/m1", json=body)
    assert status == 400 and field in answer["details"], answer
    assert (await server.request("GET", "/api/admin/meetings/m1"))[0] == 404


async def test_a_bad_link_request_is_refused(server: Server) -> None:
    await meeting(server)
    for body, field in (({}, "studentId"), ({"studentId": ""}, "studentId"), ({"studentId": "x" * 256}, "studentId")):
        status, answer = await server.request("POST", "/api/admin/meetings/m1/links", json=body)
        assert status == 400 and field in answer["details"], answer


async def test_only_admins_manage_meetings_and_read_reports(server: Server) -> None:
    await meeting(server)
    calls = [
        ("PUT", "/api/admin/meetings/m2", {"title": "A", "zoomUrl": "https://z.example/1", "teacherId": "t"}),
        ("POST", "/api/admin/meetings/m1/links", {"studentId": "st1"}),
        ("GET", "/api/admin/sessions", None),
        ("GET", "/api/admin/sessions/summary?from=2026-01-01&to=2026-02-01", None),
        ("GET", "/api/admin/sessions/export.csv?from=2026-01-01&to=2026-02-01", None),
        ("POST", "/api/admin/auto-timeout", None),
    ]
    for method, path, body in calls:
        for role in ("agent", "user", "service"):
            status, _ = await server.request(method, path, role=role, company="co", json=body)
            assert status == 403, (method, path, role)
        status, _ = await server.request(method, path, role=None, json=body)
        assert status == 401, (method, path)
    assert (await server.request("GET", "/api/admin/meetings/m2"))[0] == 404


async def test_session_secrets_absent_malformed_foreign_and_unknown_ids(make_server: Any) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock, **STILL)
    await meeting(server)
    mine = await click(server, await link(server, student="st1"))
    theirs = await click(server, await link(server, student="st2"))
    before = await row(server, mine.session_id)
    clock.advance(30)
    for action in ("heartbeat", "end"):
        status, body = await session_call(server, mine.session_id, action, None)
        assert status == 401 and body["error"], body
        for malformed in ("x", mine.secret[:-1], mine.secret + "A", "not a secret at all, nope, not at all!!"):
            status, body = await session_call(server, mine.session_id, action, malformed)
            assert status == 401, (malformed, body)
        status, body = await session_call(server, mine.session_id, action, theirs.secret)
        assert status == 403 and "another session" in body["error"], body
        status, body = await session_call(server, "no-such-session", action, mine.secret)
        assert status == 404 and body["error"] == "Unknown session", body
        status, body = await session_call(server, "x" * 300, action, mine.secret)
        assert status == 400, body
    # A JWT of this server is not a session secret.
    status, _ = await session_call(server, mine.session_id, "heartbeat", server.token("admin-1", "admin"))
    assert status == 401
    # Nothing moved or ended.
    assert await row(server, mine.session_id) == {**before, "durationMinutes": 1}
    assert (await row(server, theirs.session_id))["status"] == "active"


async def test_a_body_that_is_not_an_object_is_refused(make_server: Any) -> None:
    server = await make_server(**STILL)
    await meeting(server)
    page = await click(server, await link(server))
    before = await row(server, page.session_id)
    for data in (b"[]", b"not json", b'"x"'):
        status, body = await session_call(server, page.session_id, "end", page.secret, data=data)
        assert status == 400 and "body" in body["details"], body
    assert await row(server, page.session_id) == before
    assert (await beat(server, page))[0] == 200


@pytest.mark.parametrize("needle", ["%", "_", "'", '"', "<b>", "50%_off", "O'Brien", "\\"])
async def test_search_is_literal(make_server: Any, needle: str) -> None:
    server = await make_server(**STILL)
    await meeting(server, "m1", title="Plain", teacher_name="Plain Teacher")
    await meeting(server, "m2", title=f"Odd {needle} title", teacher_name="Other")
    await click(server, await link(server, "m1", "st1", "Ann"))
    await click(server, await link(server, "m2", "st2", "Ben"))
    found = await sessions(server, "?" + _query(q=needle))
    assert [r["meetingTitle"] for r in found["results"]] == [f"Odd {needle} title"]
    assert found["count"] == 1


async def test_search_is_case_insensitive_over_student_meeting_and_teacher(make_server: Any) -> None:
    server = await make_server(**STILL)
    await meeting(server, "m1", title="Algebra", teacher_name="Ann Teacher")
    await meeting(server, "m2", title="Geometry", teacher_name="Zoë Teacher")
    await click(server, await link(server, "m1", "st1", "Bob"))
    await click(server, await link(server, "m2", "st2", "Eve"))
    for q, expected in (("ALGE", ["m1"]), ("zOË", ["m2"]), ("bob", ["m1"]), ("teacher", ["m2", "m1"]), ("xyz", [])):
        found = await sessions(server, "?" + _query(q=q))
        assert [r["meetingId"] for r in found["results"]] == expected, q


def _query(**params: str) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


async def test_list_parameters_are_checked(server: Server) -> None:
    for query, field in (
        ("status=ended", "status"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("offset=-1", "offset"),
        ("q=" + "x" * 201, "q"),
    ):
        status, body = await server.request("GET", f"/api/admin/sessions?{query}")
        assert status == 400 and field in body["details"], (query, body)


@pytest.mark.parametrize("path", ["/api/admin/sessions/summary", "/api/admin/sessions/export.csv"])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "from"),
        ("from=2026-01-01", "to"),
        ("to=2026-01-01", "from"),
        ("from=yesterday&to=2026-01-01", "from"),
        ("from=2026-01-01&to=2026-02-30", "to"),
        ("from=2026-01-01T00:00:00Z&to=2026-02-01", "from"),
    ],
)
async def test_report_dates_must_be_dates(server: Server, path: str, query: str, field: str) -> None:
    status, body = await server.request("GET", f"{path}?{query}")
    assert status == 400, body
    assert isinstance(body, dict) and field in body["details"], body


async def test_a_window_whose_end_comes_first_holds_nothing(server: Server) -> None:
    """[from, to) with to before from is empty: answered as such, not refused (two valid
    dates are a valid request, as the OpenAPI document says; the CLI, where it is a
    typo to point out, still refuses it)."""
    await meeting(server)
    page = await click(server, await link(server))
    assert (await session_call(server, page.session_id, "end", page.secret))[0] == 200
    status, body = await server.request("GET", "/api/admin/sessions/summary?from=2999-03-01&to=2000-02-01")
    assert status == 200 and body == {"from": "2999-03-01", "to": "2000-02-01", "teachers": [], "meetings": []}
    status, text = await server.request("GET", "/api/admin/sessions/export.csv?from=2999-03-01&to=2000-02-01")
    assert status == 200 and text.strip().count("\n") == 0 and text.startswith("session_id,"), text


async def test_the_cron_endpoint_needs_the_cron_secret(make_server: Any) -> None:
    off = await make_server(**STILL)
    status, body = await off.request("POST", "/api/cron/session-timeout", role=None)
    assert status == 503 and "PRESENCE_CRON_SECRET" in body["error"]

    on = await make_server(cron_secret="cron-secret-1234", **STILL)
    await meeting(on)
    for headers in ({}, {"Authorization": "Bearer wrong"}, on.auth()):
        status, body = await on.request("POST", "/api/cron/session-timeout", role=None, headers=headers)
        assert status == 401, (headers, body)
    status, body = await on.request(
        "POST", "/api/cron/session-timeout", role=None, headers={"Authorization": "Bearer cron-secret-1234"}
    )
    assert (status, body) == (200, {"ended": 0})
    status, health = await on.request("GET", "/api/health", role=None)
    assert health["jobs"]["session_timeout"]["last_result"] == 0
