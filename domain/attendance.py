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
from collections.abc import Iterable
from dataclasses import dataclass
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
