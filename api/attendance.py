"""Attendance for admins and operators (SPEC.md §6): the session list, the
per-teacher summary, the payroll CSV, and the sweep run by hand (admin) or by
an external scheduler (cron secret). The admin console (`/admin/sessions`) is
built on these and on the `session:*` events of room `admins`.
"""

from __future__ import annotations

import contextlib
import logging

from aiohttp import web

from api import schemas
from api.keys import SERVICES
from api.routing import ADMIN, CRON, Reply, RouteTable
from api.validation import optional_json_object, optional_query_str, query_int
from domain.attendance import STATUSES
from services.attendance import MAX_QUERY_LENGTH
from services.attendance_rows import Window

log = logging.getLogger("presence.api")

routes = RouteTable("attendance")

PAGE_DEFAULT = 50
PAGE_MAX = 500
CHUNK_BYTES = 64 * 1024
"""The CSV is sent in chunks of about this size."""

WINDOW_QUERY = {
    "from": {"required": True, "schema": schemas.DAY, "description": "first UTC day"},
    "to": {
        "required": True,
        "schema": schemas.DAY,
        "description": "UTC day after the last (on or before `from`: an empty window)",
    },
}
NO_BODY = {"type": "object", "description": "nothing is read from it: send {} or no body at all"}
SWEEP_SUMMARY = (
    "One sweep now: ends every active session without a heartbeat for PRESENCE_SESSION_TIMEOUT_AFTER "
    "(ended at its last heartbeat, status timeout); recorded in /api/health as the job session_timeout"
)


def _window(request: web.Request) -> Window:
    return request.app[SERVICES].attendance.window(request.query.get("from"), request.query.get("to"), empty_ok=True)


@routes.get(
    "/api/admin/sessions",
    f"Attendance sessions, newest click first (limit default {PAGE_DEFAULT}, at most {PAGE_MAX}); "
    "durationMinutes is live for active sessions",
    access=ADMIN,
    query={
        "status": {"schema": {"enum": list(STATUSES)}, "description": "only sessions of this status"},
        "q": {
            "schema": schemas.text(MAX_QUERY_LENGTH, required=False),
            "description": "case-insensitive literal substring of the student's, meeting's or teacher's name",
        },
        **schemas.page_query(PAGE_DEFAULT, PAGE_MAX),
    },
    responses={200: Reply("a page of sessions", schemas.page_of(schemas.SESSION_ROW))},
)
async def list_sessions(request: web.Request) -> web.Response:
    status = request.query.get("status")  # given, it must be one of them (empty is not)
    q = optional_query_str(request, "q", MAX_QUERY_LENGTH)
    limit = query_int(request, "limit", PAGE_DEFAULT, 1, PAGE_MAX)
    offset = query_int(request, "offset", 0, 0, 2**31 - 1)
    count, results = await request.app[SERVICES].attendance.page(status=status, q=q, limit=limit, offset=offset)
    return web.json_response({"count": count, "results": results})


@routes.get(
    "/api/admin/sessions/summary",
    "Sessions and minutes per teacher and per meeting: ended sessions clicked from `from` (inclusive) "
    "to `to` (exclusive), UTC days",
    access=ADMIN,
    query=WINDOW_QUERY,
    responses={
        200: Reply("sessions and minutes per teacher and per meeting", schemas.SUMMARY),
        400: "from or to is not an ISO date; `details` names the field",
    },
)
async def sessions_summary(request: web.Request) -> web.Response:
    attendance = request.app[SERVICES].attendance
    return web.json_response(await attendance.summary(_window(request)))


@routes.get(
    "/api/admin/sessions/export.csv",
    "The payroll CSV (text/csv, RFC 4180, formulas neutralised with a leading '): ended sessions clicked "
    "in the window, oldest click first, one a line",
    access=ADMIN,
    query=WINDOW_QUERY,
    responses={
        200: Reply(
            "text/csv with the header session_id,meeting_id,meeting_title,teacher_id,teacher_name,"
            "student_id,student_name,clicked_at,ended_at,status,duration_minutes",
            {"type": "string"},
            media_type="text/csv",
        ),
        400: "from or to is not an ISO date; `details` names the field",
    },
)
async def sessions_export(request: web.Request) -> web.StreamResponse:
    window = _window(request)  # refused before anything is sent
    lines = request.app[SERVICES].attendance.export_lines(window)
    async with contextlib.aclosing(lines):
        header = await anext(lines)  # the first read (and its errors) before the status is sent
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="sessions-{window.start}-to-{window.end}.csv"',
                "Cache-Control": "no-store",
            }
        )
        await response.prepare(request)
        try:
            chunk, size = [header], len(header)
            async for line in lines:
                chunk.append(line)
                size += len(line)
                if size >= CHUNK_BYTES:
                    await response.write("".join(chunk).encode("utf-8"))
                    chunk, size = [], 0
            await response.write("".join(chunk).encode("utf-8"))
            await response.write_eof()
        except ConnectionResetError:
            log.info("payroll export: the client went away")
        except Exception:
            # The status is sent: cut the download short (no final chunk), so it cannot pass for a whole file.
            log.exception("payroll export failed after it started")
            if request.transport is not None:
                request.transport.close()
    return response


async def _sweep(request: web.Request) -> web.Response:
    await optional_json_object(request)  # nothing is read from it, but it must be what it says
    ended = await request.app[SERVICES].jobs.run("session_timeout", reraise=True)
    return web.json_response({"ended": int(ended)})


@routes.post(
    "/api/admin/auto-timeout",
    SWEEP_SUMMARY,
    access=ADMIN,
    body=NO_BODY,
    body_required=False,
    responses={200: Reply("how many sessions the sweep ended", schemas.ENDED)},
)
async def admin_auto_timeout(request: web.Request) -> web.Response:
    return await _sweep(request)


@routes.post(
    "/api/cron/session-timeout",
    f"{SWEEP_SUMMARY}. For an external scheduler: PRESENCE_CRON_SECRET as bearer",
    access=CRON,
    activity=False,
    body=NO_BODY,
    body_required=False,
    responses={
        200: Reply("how many sessions the sweep ended", schemas.ENDED),
        503: "PRESENCE_CRON_SECRET is unset (the cron endpoints are off), or storage is unavailable",
    },
)
async def cron_session_timeout(request: web.Request) -> web.Response:
    return await _sweep(request)
