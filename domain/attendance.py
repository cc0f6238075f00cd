"""Attendance sessions (SPEC.md §6) as plain functions of time.

A student's click on the Telegram button opens a *session*: `clicked_at` and
`last_activity_at` are the click, status `active`. The tracking page's
heartbeats move `last_activity_at`. A session is *over* once
`PRESENCE_SESSION_TIMEOUT_AFTER` (default 300 s) has passed since its last
heartbeat, whether or not the sweep has run yet: the sweep only writes down
what is already true. How it ends:

- timeout (the sweep, or a late heartbeat or end request that finds it over):
  `session_ended_at = last_activity_at`, status `timeout`, the duration counted
  from the click to the last heartbeat (the student left when heartbeats
  stopped, not when somebody noticed);
- the student's end request while not over: ended at `now`, status
  `completed`, counted to `now`.

Durations are whole minutes rounded half up, as the seed's JavaScript
`Math.round(ms / 60000)`: 29 s is 0, 30 s is 1, 89 s is 1, 90 s is 2. Times are
float epoch seconds, rounded to whole microseconds (what both databases store)
before any arithmetic, so the rule is decided on the stored values alone.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

SessionStatus = Literal["active", "completed", "timeout"]
ACTIVE: SessionStatus = "active"
COMPLETED: SessionStatus = "completed"
TIMEOUT: SessionStatus = "timeout"
STATUSES: tuple[SessionStatus, ...] = (ACTIVE, COMPLETED, TIMEOUT)
ENDED_STATUSES: tuple[SessionStatus, ...] = (COMPLETED, TIMEOUT)

_MICROS = 1_000_000
_MINUTE = 60 * _MICROS


def _micros(ts: float) -> int:
    return round(ts * _MICROS)


def duration_minutes(clicked_at: float, ended_at: float) -> int:
    """Minutes from the click to the end, rounded half up (JS `Math.round`); never negative."""
    span = _micros(ended_at) - _micros(clicked_at)
    if span <= 0:
        return 0
    return (span + _MINUTE // 2) // _MINUTE


def elapsed_minutes(clicked_at: float, now: float) -> int:
    """Whole minutes since the click (what the heartbeat answers as `elapsedMinutes`)."""
    span = _micros(now) - _micros(clicked_at)
    return max(0, span // _MINUTE)


def is_over(last_activity_at: float, now: float, timeout: float) -> bool:
    """The session has had no heartbeat for `timeout` seconds: it is over, swept or not."""
    return now - last_activity_at >= timeout


def sweep_cutoff(now: float, timeout: float) -> float:
    """Active sessions whose `last_activity_at` is at or before this are over (`is_over`)."""
    return now - timeout


@dataclass(frozen=True, slots=True)
class Ending:
    """How a session ends: what to write into the row."""

    status: SessionStatus
    ended_at: float
    duration_minutes: int


def timeout_ending(clicked_at: float, last_activity_at: float) -> Ending:
    """Ended by the timeout: at the last heartbeat, counted to it."""
    return Ending(TIMEOUT, last_activity_at, duration_minutes(clicked_at, last_activity_at))


def completed_ending(clicked_at: float, now: float) -> Ending:
    """Ended by the student (`POST /api/sessions/{id}/end`): at `now`, counted to `now`."""
    return Ending(COMPLETED, now, duration_minutes(clicked_at, now))


def end_request(clicked_at: float, last_activity_at: float, now: float, timeout: float) -> Ending:
    """What an end request means: completed now, unless the session was already over
    (then it ends as the sweep would have ended it, and the caller answers 410)."""
    if is_over(last_activity_at, now, timeout):
        return timeout_ending(clicked_at, last_activity_at)
    return completed_ending(clicked_at, now)


def listed_duration(status: str, clicked_at: float, stored_minutes: int | None, now: float) -> int:
    """`durationMinutes` of the admin list: live (click to now) while active, else as stored."""
    if status == ACTIVE:
        return duration_minutes(clicked_at, now)
    return stored_minutes if stored_minutes is not None else 0


# ------------------------------------------------------------------ meetings
MEETING_URL_SCHEMES = ("http", "https", "zoommtg", "zoomus")
"""What the tracking page will open (widget_js tracking-session.js `safeMeetingUrl`
agrees): a `javascript:` or `data:` URL must never reach an href or window.open."""
MAX_URL_LENGTH = 2048
MAX_TITLE_LENGTH = 500
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")


def meeting_url_problem(url: str) -> str | None:
    """Why the page could not open `url`, as a sentence; None when it can. Refused
    when the meeting is stored, so a broken link is found by the admin, not by
    every student at the start of the class."""
    text = url.strip()
    if not text or len(text) > MAX_URL_LENGTH:
        return f"zoomUrl must be 1 to {MAX_URL_LENGTH} characters"
    if any(c.isspace() or ord(c) < 32 for c in text):
        return "zoomUrl must not contain spaces or control characters"
    match = _SCHEME.match(text)
    if match is None or match.group(1).lower() not in MEETING_URL_SCHEMES:
        return f"zoomUrl must be a {', '.join(MEETING_URL_SCHEMES)} URL"
    if match.group(1).lower() in ("http", "https") and not text[match.end() :].startswith("//"):
        return "zoomUrl must be an absolute URL, like https://zoom.us/j/123"
    return None


# ------------------------------------------------------------------ report windows
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_day(value: str | None, name: str) -> date:
    """A report bound: an ISO date `YYYY-MM-DD` (UTC). Raises ValueError with a sentence."""
    if value is None or value == "":
        raise ValueError(f"{name} is required: an ISO date like 2026-11-23")
    if not _DAY.match(value):
        raise ValueError(f"{name} must be an ISO date like 2026-11-23, got {value[:40]!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} is not a calendar date: {value!r}") from None


def day_start(day: date) -> float:
    """Midnight UTC at the start of `day`, in epoch seconds (reports count UTC days)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


# ------------------------------------------------------------------ payroll CSV
PAYROLL_HEADER: tuple[str, ...] = (
    "session_id",
    "meeting_id",
    "meeting_title",
    "teacher_id",
    "teacher_name",
    "student_id",
    "student_name",
    "clicked_at",
    "ended_at",
    "status",
    "duration_minutes",
)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is prefixed with `'` so a spreadsheet shows it
as text instead of running it as a formula (CSV injection). SPEC §6 names `=`, `+`,
`-` and `@`; tab and carriage return are added, as OWASP recommends, because
spreadsheets strip leading whitespace before looking for a formula, so
`"\\t=HYPERLINK(…)"` would run too."""


def neutralise_cell(value: str) -> str:
    """`value`, with a leading `'` if a spreadsheet would take it for a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_line(cells: Iterable[object]) -> str:
    """One CSV line (RFC 4180 quoting, CRLF), every cell neutralised; None is empty."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(
        neutralise_cell("" if cell is None else str(cell)) for cell in cells
    )
    return out.getvalue()


def payroll_header_line() -> str:
    return csv_line(PAYROLL_HEADER)
