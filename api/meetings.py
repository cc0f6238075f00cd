"""Meetings and their signed tracking links, for admins (SPEC.md §6)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api import schemas
from api.errors import bad_request
from api.keys import SERVICES
from api.routing import ADMIN, Reply, RouteTable
from api.validation import json_object, optional_str, path_id, required_str
from db.queries.attendance import MeetingRow
from domain.activity import parse_iso
from domain.attendance import MAX_TITLE_LENGTH, MAX_URL_LENGTH
from domain.clock import iso, iso_dt

routes = RouteTable("meetings")

ZOOM_URL = {
    "type": "string",
    "maxLength": MAX_URL_LENGTH,
    # domain.attendance.meeting_url_problem: http(s)://, zoommtg: or zoomus:, no spaces or control characters
    "pattern": r"^\s*(?:[hH][tT][tT][pP][sS]?://|[zZ][oO][oO][mM](?:[mM][tT][gG]|[uU][sS]):)[^\s\x00-\x1f]*\s*$",
}


def meeting_json(m: MeetingRow) -> dict[str, Any]:
    return {
        "id": m.id,
        "title": m.title,
        "zoomUrl": m.zoom_url,
        "teacherId": m.teacher_id,
        "teacherName": m.teacher_name,
        "startsAt": iso_dt(m.starts_at),
        "createdAt": iso_dt(m.created_at),
        "updatedAt": iso_dt(m.updated_at),
    }


def optional_time(body: dict[str, Any], field: str) -> float | None:
    value = body.get(field)
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError as e:
        raise bad_request(field, str(e).replace("ts ", f"{field} ", 1)) from None


@routes.put(
    "/api/admin/meetings/{id}",
    "Store a meeting (201 new, 200 updated); zoomUrl must be an http(s), zoommtg: or zoomus: URL",
    access=ADMIN,
    body={
        "type": "object",
        "required": ["title", "zoomUrl", "teacherId"],
        "properties": {
            "title": schemas.text(MAX_TITLE_LENGTH),
            "zoomUrl": ZOOM_URL,
            "teacherId": schemas.text(),
            "teacherName": schemas.nullable(schemas.text(required=False)),
            "startsAt": schemas.nullable(schemas.TIME_IN),
        },
    },
    responses={200: Reply("updated", schemas.MEETING), 201: Reply("created", schemas.MEETING)},
)
async def put_meeting(request: web.Request) -> web.Response:
    meeting_id = path_id(request)
    body = await json_object(request)
    title = required_str(body, "title", MAX_TITLE_LENGTH)
    zoom_url = required_str(body, "zoomUrl", MAX_URL_LENGTH)
    teacher_id = required_str(body, "teacherId")
    teacher_name = optional_str(body, "teacherName") or None
    starts_at = optional_time(body, "startsAt")
    meeting, created = await request.app[SERVICES].attendance.put_meeting(
        meeting_id,
        title=title,
        zoom_url=zoom_url,
        teacher_id=teacher_id,
        teacher_name=teacher_name,
        starts_at=starts_at,
    )
    return web.json_response(meeting_json(meeting), status=201 if created else 200)


@routes.get(
    "/api/admin/meetings/{id}",
    "One stored meeting",
    access=ADMIN,
    responses={200: Reply("the meeting", schemas.MEETING), 404: "unknown meeting"},
)
async def get_meeting(request: web.Request) -> web.Response:
    meeting = await request.app[SERVICES].attendance.meeting(path_id(request))
    return web.json_response(meeting_json(meeting))


@routes.post(
    "/api/admin/meetings/{id}/links",
    "A signed tracking link PRESENCE_PUBLIC_URL/t/<token> for one student (the Telegram button), "
    "valid for PRESENCE_TRACKING_LINK_TTL seconds",
    access=ADMIN,
    body={
        "type": "object",
        "required": ["studentId"],
        "properties": {
            "studentId": schemas.text(),
            "studentName": schemas.nullable(schemas.text(required=False)),
        },
    },
    responses={201: Reply("the link", schemas.LINK), 404: "unknown meeting"},
)
async def create_link(request: web.Request) -> web.Response:
    meeting_id = path_id(request)
    body = await json_object(request)
    student_id = required_str(body, "studentId")
    student_name = optional_str(body, "studentName") or None
    link = await request.app[SERVICES].attendance.link(meeting_id, student_id, student_name)
    return web.json_response({"url": link.url, "expiresAt": iso(link.expires_at)}, status=201)
