"""Attendance session rules alone (domain.attendance): time is a number."""

from __future__ import annotations

import csv
import io

import pytest

from domain import attendance as rules

T0 = 1_760_259_600.0  # 2025-10-12T09:00:00Z, the seed's example


@pytest.mark.parametrize(
    ("seconds", "minutes"),
    [(0, 0), (28, 0), (29.999, 0), (30, 1), (40, 1), (89, 1), (89.999999, 1), (90, 2), (3600, 60), (3629, 60)],
)
def test_duration_rounds_half_up_like_math_round(seconds: float, minutes: int) -> None:
    assert rules.duration_minutes(T0, T0 + seconds) == minutes


def test_duration_is_exact_to_the_microsecond_at_the_half_minute() -> None:
    clicked = 1_760_259_600.123457  # what a database hands back: microseconds
    assert rules.duration_minutes(clicked, clicked + 29.999999) == 0
    assert rules.duration_minutes(clicked, clicked + 30) == 1
    assert rules.duration_minutes(clicked, clicked + 89.999999) == 1


def test_duration_never_negative() -> None:
    assert rules.duration_minutes(T0, T0 - 120) == 0


def test_elapsed_counts_whole_minutes() -> None:
    assert rules.elapsed_minutes(T0, T0 + 59.9) == 0
    assert rules.elapsed_minutes(T0, T0 + 60) == 1
    assert rules.elapsed_minutes(T0, T0 + 179) == 2
    assert rules.elapsed_minutes(T0, T0 - 5) == 0


def test_over_once_the_timeout_has_passed_since_the_last_heartbeat() -> None:
    last = T0 + 600
    assert not rules.is_over(last, last + 299.9, 300)
    assert rules.is_over(last, last + 300, 300)
    cutoff = rules.sweep_cutoff(last + 300, 300)
    assert last <= cutoff  # the sweep's `last_activity_at <= cutoff` is the same rule


def test_the_seed_timeline_a_60_minute_meeting() -> None:
    last = T0 + 3600  # heartbeats stop at 10:00
    ending = rules.timeout_ending(T0, last)
    assert ending == rules.Ending("timeout", last, 60)


def test_end_request_completes_now_unless_already_over() -> None:
    last = T0 + 1200
    assert rules.end_request(T0, last, last + 100, 300) == rules.Ending("completed", last + 100, 22)
    # Over (no heartbeat for 5 minutes) but not yet swept: ends as the sweep would.
    assert rules.end_request(T0, last, last + 400, 300) == rules.Ending("timeout", last, 20)


def test_listed_duration_is_live_while_active() -> None:
    assert rules.listed_duration("active", T0, None, T0 + 150) == 3
    assert rules.listed_duration("timeout", T0, 42, T0 + 99_999) == 42


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Ann = teacher", "Ann = teacher"),
        ("", ""),
    ],
)
def test_a_cell_a_spreadsheet_would_run_is_neutralised(cell: str, shown: str) -> None:
    assert rules.neutralise_cell(cell) == shown


def test_payroll_csv_line_quotes_and_neutralises() -> None:
    line = rules.csv_line(["s1", 'O"Brien, "Jr"', "=cmd", None, 60])
    assert line.endswith("\r\n")
    assert next(csv.reader(io.StringIO(line))) == ["s1", 'O"Brien, "Jr"', "'=cmd", "", "60"]
    assert rules.payroll_header_line() == (
        "session_id,meeting_id,meeting_title,teacher_id,teacher_name,student_id,"
        "student_name,clicked_at,ended_at,status,duration_minutes\r\n"
    )
