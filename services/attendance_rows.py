"""What the attendance service hands out (SPEC.md §6), shaped once for every
adapter: the tracking page's config, a signed link, a report window, the session
row of `GET /api/admin/sessions` (also every `session:*` event's payload) and a
payroll CSV line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from db.queries.attendance import MeetingRow, SessionRow
from domain import attendance as rules
from domain.clock import iso_dt, to_datetime


@dataclass(frozen=True, slots=True)
class Tracking:
    """What the tracking page needs after a click."""

    session: SessionRow
    created: bool
    secret: str
    heartbeat_interval: float
    meeting: MeetingRow

    def page_config(self) -> dict[str, Any]:
        """The page's `tracking-config` (api/templates/tracking.html)."""
        return {
            "sessionId": self.session.id,
            "secret": self.secret,
            "heartbeatInterval": self.heartbeat_interval,
            "zoomUrl": self.meeting.zoom_url,
            "meetingTitle": self.meeting.title,
        }


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Window:
    """A report's UTC days: `start` inclusive, `end` exclusive, on the click time."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        return to_datetime(rules.day_start(self.start))

    @property
    def end_at(self) -> datetime:
        return to_datetime(rules.day_start(self.end))


def session_json(row: SessionRow, now: float) -> dict[str, Any]:
    """The row of `GET /api/admin/sessions`, also every `session:*` event's payload;
    `durationMinutes` is live (click to now) while the session is active."""
    return {
        "id": row.id,
        "meetingId": row.meeting_id,
        "meetingTitle": row.meeting_title,
        "studentId": row.student_id,
        "studentName": row.student_name,
        "teacherId": row.teacher_id,
        "teacherName": row.teacher_name,
        "clickedAt": iso_dt(row.clicked_at),
        "lastActivityAt": iso_dt(row.last_activity_at),
        "sessionEndedAt": iso_dt(row.session_ended_at),
        "status": row.status,
        "durationMinutes": rules.listed_duration(row.status, row.clicked_at.timestamp(), row.duration_minutes, now),
    }


def payroll_line(row: SessionRow) -> str:
    """One line of the payroll CSV (header `domain.attendance.PAYROLL_HEADER`)."""
    return rules.csv_line(
        (
            row.id,
            row.meeting_id,
            row.meeting_title,
            row.teacher_id,
            row.teacher_name,
            row.student_id,
            row.student_name,
            iso_dt(row.clicked_at),
            iso_dt(row.session_ended_at),
            row.status,
            row.duration_minutes,
        )
    )
