"""The §6 commands: `tracking-link`, `auto-timeout`, `sessions-export`.

Each runs on the services of the server's own builder (migrations applied
first), so a link printed here is signed with the server's key, a sweep here
tells admins' sockets on every node (with Redis) and is recorded for
/api/health, and the CSV is the one `GET /api/admin/sessions/export.csv` sends.
Exit codes: 0 done, 1 refused (e.g. an unknown meeting), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from infra.settings import Settings
from presence.cli_activity import run_with_services
from services.errors import BadInput, ServiceError
from services.registry import Services


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("tracking-link", help="print a signed tracking link for one student of a meeting (§6)")
    p.add_argument("--meeting", required=True, metavar="ID", help="a stored meeting (PUT /api/admin/meetings/{id})")
    p.add_argument("--student", required=True, metavar="ID", help="the student's id")
    p.add_argument("--student-name", metavar="N", help="the student's name, as admins will see it")
    sub.add_parser("auto-timeout", help="one sweep of §6: ends the sessions gone quiet; last line `N sessions ended`")
    p = sub.add_parser("sessions-export", help="the payroll CSV of §6 (ended sessions clicked in [from, to))")
    p.add_argument("--from", dest="start", required=True, metavar="DATE", help="first UTC day (YYYY-MM-DD)")
    p.add_argument("--to", dest="end", required=True, metavar="DATE", help="the UTC day after the last (exclusive)")
    p.add_argument("--output", metavar="FILE", type=Path, help="write here instead of standard output")


def tracking_link(args: argparse.Namespace, settings: Settings) -> int:
    async def work(services: Services) -> str:
        link = await services.attendance.link(args.meeting, args.student, args.student_name or None)
        return link.url

    try:
        url = run_with_services(settings, work)
    except ServiceError as e:
        print(f"presence tracking-link: {e.message}: {args.meeting}", file=sys.stderr)
        return 1
    except ValueError as e:  # an id the link format refuses (empty, too long)
        print(f"presence tracking-link: {e}", file=sys.stderr)
        return 2
    print(url)
    return 0


def auto_timeout(args: argparse.Namespace, settings: Settings) -> int:
    """One run of the job `session_timeout` (recorded for /api/health like the server's)."""

    async def work(services: Services) -> int:
        return int(await services.jobs.run("session_timeout", reraise=True))

    ended = run_with_services(settings, work)
    print(f"{ended} sessions ended")
    return 0


def sessions_export(args: argparse.Namespace, settings: Settings) -> int:
    from services.attendance import Attendance

    try:
        window = Attendance.window(args.start, args.end)
    except BadInput as e:
        print(f"presence sessions-export: {e.message}", file=sys.stderr)
        return 2

    def write(out: TextIO) -> int:
        async def work(services: Services) -> int:
            lines = 0
            async for line in services.attendance.export_lines(window):
                out.write(line)
                lines += 1
            return lines - 1  # the header is not a session

        return run_with_services(settings, work)

    if args.output is None:
        write(sys.stdout)
        sys.stdout.flush()
        return 0
    with _replacing(args.output) as out:
        count = write(out)
    print(f"{count} sessions written to {args.output}")
    return 0


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[TextIO]:
    """Writes beside `path`, then moves the file into place: a failed export never
    leaves half a payroll file where a whole one is expected."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            yield out
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
