"""App-user online status rules (SPEC.md §4), as plain functions of time.

A user is online while their requests keep `last_seen` fresh. Writing
`last_seen` on every request would cost one database write per request, so a
touch is written at most once per `PRESENCE_USER_TOUCH_THROTTLE` per user; an
offline user's first touch is always written (it brings them online).
"""

from __future__ import annotations


def offline_cutoff(now: float, offline_after: float) -> float:
    """Users whose `last_seen` is older than this are offline."""
    return now - offline_after


def online_status(is_online: bool) -> str:
    return "online" if is_online else "offline"
