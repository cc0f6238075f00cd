"""Activity rules (SPEC.md §5): the cooldown, the windows, stickiness.

The cooldown is keyed by user *and UTC day*: a claim on `(user, day)` lasts
`PRESENCE_ACTIVITY_COOLDOWN` seconds of wall clock, so at most one write per
user per cooldown, and a user's first activity on a new UTC day always finds a
fresh key and is recorded (the cooldown never hides a new day). The same key
works for an in-process dict and for Redis `SET NX PX`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

DAY = 86_400.0
DAU_WINDOW = DAY
WAU_WINDOW = 7 * DAY
MAU_WINDOW = 30 * DAY
DAILY_DAYS = 30
EPOCH_START = 0.0
LAST_SECOND = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the last time a date can hold
MAX_FUTURE = 300.0
"""A reported event may be at most this many seconds ahead of the server's clock."""


def utc_day(ts: float) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def cooldown_key(user_id: str, ts: float) -> str:
    """The cooldown key of an activity at `ts`: one per user and UTC day."""
    return f"activity:{user_id}:{utc_day(ts).isoformat()}"


@dataclass(frozen=True, slots=True)
class Windows:
    """The start of each window, as of `now` (each ends at `now`)."""

    as_of: float
    dau_since: float
    wau_since: float
    mau_since: float


def windows(now: float) -> Windows:
    return Windows(now, now - DAU_WINDOW, now - WAU_WINDOW, now - MAU_WINDOW)


def stickiness(dau: int, mau: int) -> float:
    """DAU / MAU as a fraction; 0 when nobody was active in the month."""
    return dau / mau if mau else 0.0


def daily_range(now: float, days: int = DAILY_DAYS) -> list[date]:
    """The `days` UTC days ending today, oldest first."""
    today = utc_day(now)
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def event_time_error(ts: float, now: float) -> str | None:
    """Why a reported event's time cannot be accepted, or None."""
    if ts > now + MAX_FUTURE:
        return f"ts is more than {int(MAX_FUTURE // 60)} minutes in the future"
    return None


def parse_iso(value: object) -> float:
    """An ISO 8601 time (`Z` or an offset; a naive time is taken as UTC) as epoch seconds.

    Raises ValueError with a sentence for anything else.
    """
    if not isinstance(value, str) or not value:
        raise ValueError("ts must be an ISO 8601 time string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"ts is not an ISO 8601 time: {value[:64]!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    ts = dt.timestamp()
    if not EPOCH_START <= ts <= LAST_SECOND:
        raise ValueError(f"ts must be between 1970-01-01 and 9999-12-31 UTC: {value[:64]!r}")
    return ts
