"""Attendance sessions (SPEC.md §6): meetings, signed links, the click, heartbeats,
ends, the sweep and the reports. The one service every adapter calls: the
tracking page (`GET /t/<token>`), the session endpoints, the admin and cron
endpoints, the job `session_timeout` and the CLI.

What it fixes in the system it replaces (shared/seeds/session-tracking.md):

- Links are signed (`domain.tracking_links`): a link cannot be forged, cut short
  or pointed at another student, and each session's heartbeat secret is derived
  from its id, so a second click hands out the same secret without storing it.
- A session is over once PRESENCE_SESSION_TIMEOUT_AFTER has passed since its last
  heartbeat, whatever ran meanwhile: a late heartbeat or end request ends it as
  the sweep would, a click first ends the student's over sessions, and every
  admin read (list, summary, CSV) first writes down the sessions that are over
  (`_settle`, the sweep's own statement). The periodic sweep is one way among
  several, not the only way sessions end, so a sweep that did not run (a server
  down, a slow period) never leaves a wrong duration or a missing payroll line.
- Admins are told, not polled: `session:started`, `session:heartbeat` (at most
  once per session per heartbeat interval, across nodes, via the cooldown store)
  and `session:ended` go to room `admins`, each with the row of
  `GET /api/admin/sessions`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from typing import Any

from db.engine import SessionFactory
from db.queries import attendance as queries
from db.queries.attendance import MeetingRow, SessionRow
from domain import attendance as rules
from domain import tracking_links as links
from domain.clock import Clock, iso, iso_dt, to_datetime
from domain.rooms import ADMINS_ROOM
from infra.broadcast import Broadcaster
from infra.cooldowns import CooldownStore
from infra.metrics import Metrics
from infra.settings import Settings
from services.attendance_rows import Link, Tracking, Window, payroll_line, session_json
from services.errors import BadInput, Forbidden, Gone, NotFound, Unauthorized

log = logging.getLogger("presence.attendance")

MAX_QUERY_LENGTH = 200


class BadLink(BadInput):
    """A tracking link that cannot be used; `problem` is malformed, forged or expired."""

    def __init__(self, problem: links.LinkProblem, message: str) -> None:
        super().__init__("token", message, problem=problem)
        self.problem = problem


def heartbeat_key(session_id: str) -> str:
    """The cooldown key that lets one `session:heartbeat` per interval through."""
    return f"session-heartbeat:{session_id}"


class Attendance:
    def __init__(
        self,
        db: SessionFactory,
        clock: Clock,
        broadcaster: Broadcaster,
        settings: Settings,
        cooldowns: CooldownStore,
        metrics: Metrics,
    ) -> None:
        self._db = db
        self._clock = clock
        self._broadcaster = broadcaster
        self._settings = settings
        self._cooldowns = cooldowns
        self._metrics = metrics
        # One key signs links and derives heartbeat secrets; never the JWT key itself.
        self._key = links.link_key(settings.resolved_jwt_secret())

    @property
    def _timeout(self) -> float:
        return self._settings.session_timeout_after

    def _cutoff(self, now: float) -> datetime:
        return to_datetime(rules.sweep_cutoff(now, self._timeout))

    # ------------------------------------------------------------ meetings and links
    async def put_meeting(
        self,
        meeting_id: str,
        *,
        title: str,
        zoom_url: str,
        teacher_id: str,
        teacher_name: str | None,
        starts_at: float | None,
    ) -> tuple[MeetingRow, bool]:
        """Stores a meeting: `(meeting, created)`. A zoomUrl the page could not open is refused."""
        problem = rules.meeting_url_problem(zoom_url)
        if problem is not None:
            raise BadInput("zoomUrl", problem)
        async with self._db.begin() as tx:
            return await queries.upsert_meeting(
                tx,
                meeting_id,
                title=title,
                zoom_url=zoom_url.strip(),
                teacher_id=teacher_id,
                teacher_name=teacher_name,
                starts_at=None if starts_at is None else to_datetime(starts_at),
                now=to_datetime(self._clock()),
            )

    async def meeting(self, meeting_id: str) -> MeetingRow:
        async with self._db() as tx:
            found = await queries.get_meeting(tx, meeting_id)
        if found is None:
            raise NotFound("Unknown meeting")
        return found

    async def link(self, meeting_id: str, student_id: str, student_name: str | None) -> Link:
        """A signed tracking link for one student of a stored meeting, valid for
        PRESENCE_TRACKING_LINK_TTL."""
        await self.meeting(meeting_id)
        now = self._clock()
        token = links.sign(self._key, meeting_id, student_id, student_name, now, self._settings.tracking_link_ttl)
        expires_at = links.verify(self._key, token, now).expires_at
        return Link(links.tracking_url(self._settings.public_url, token), float(expires_at))

    # ------------------------------------------------------------ the student's side
    async def open_link(self, token: str) -> Tracking:
        """The click (`GET /t/<token>`): the student's active session for the meeting
        (a second click reuses it: same id, same secret), or a new one. Their sessions
        for the meeting that are over but not yet swept are ended first."""
        now = self._clock()
        try:
            link = links.verify(self._key, token, now)
        except links.LinkError as e:
            raise BadLink(e.problem, str(e)) from None
        async with self._db.begin() as tx:
            meeting = await queries.get_meeting(tx, link.meeting_id)
            if meeting is None:
                raise NotFound("This class is not known to the server any more: ask your teacher for a new link.")
            started = await queries.find_or_start(
                tx, meeting.id, link.student_id, link.student_name, to_datetime(now), self._cutoff(now)
            )
        await self._ended(started.timed_out, now)
        row = started.session
        if started.created:
            self._metrics.sessions_started.inc()
            log.info("attendance session started id=%s meeting=%s student=%s", row.id, row.meeting_id, row.student_id)
            # The start is the first news of the session: its first heartbeat echoes nothing.
            await self._heartbeat_news(row, now, event="session:started")
        else:
            await self._heartbeat_news(row, now)  # the click moved lastActivityAt
        return Tracking(row, started.created, links.session_secret(self._key, row.id), self._interval, meeting)

    @property
    def _interval(self) -> float:
        return self._settings.session_heartbeat_interval

    async def heartbeat(self, session_id: str, secret: str) -> tuple[SessionRow, int]:
        """`POST /api/sessions/{id}/heartbeat`: `(session, whole minutes since the click)`.
        A session found over (no heartbeat for the timeout) is ended as the sweep
        would end it, and the answer is Gone, as for any ended session."""
        await self._authorise(session_id, secret)
        now = self._clock()
        async with self._db.begin() as tx:
            row = await queries.record_heartbeat(tx, session_id, to_datetime(now), self._cutoff(now))
            ended = [] if row is not None else await queries.time_out(tx, self._cutoff(now), session_id=session_id)
            current = row or (ended[0] if ended else await queries.get_session(tx, session_id))
        await self._ended(ended, now)
        if current is None:
            raise NotFound("Unknown session")
        if row is None:
            raise self._gone(current)
        self._metrics.heartbeats.labels("session").inc()
        await self._heartbeat_news(row, now)
        return row, rules.elapsed_minutes(row.clicked_at.timestamp(), now)

    async def end(self, session_id: str, secret: str) -> dict[str, Any]:
        """`POST /api/sessions/{id}/end` ("I have left"): completed now, counted to now;
        Gone when it had already ended (or was over: then it ends as a timeout)."""
        await self._authorise(session_id, secret)
        now = self._clock()
        async with self._db.begin() as tx:
            row = await queries.complete(tx, session_id, to_datetime(now), self._cutoff(now))
            ended = [row] if row is not None else await queries.time_out(tx, self._cutoff(now), session_id=session_id)
            current = ended[0] if ended else await queries.get_session(tx, session_id)
        await self._ended(ended, now)
        if current is None:
            raise NotFound("Unknown session")
        if row is None:
            raise self._gone(current)
        return session_json(row, now)

    def _gone(self, row: SessionRow) -> Gone:
        if row.status == rules.TIMEOUT:
            message = f"This session has ended: no heartbeat came for {self._timeout:g} seconds"
        else:
            message = "This session has already ended"
        return Gone(message, status=row.status)

    async def _authorise(self, session_id: str, secret: str) -> None:
        """The bearer must be this session's secret: not a secret at all 401, another
        session's (or a wrong one) 403, but 404 for an id that names no session."""
        if not links.looks_like_session_secret(secret):
            raise Unauthorized("The bearer is not a session secret: use the one the tracking page was given")
        if links.check_session_secret(self._key, session_id, secret):
            return
        async with self._db() as tx:
            found = await queries.get_session(tx, session_id)
        if found is None:
            raise NotFound("Unknown session")
        raise Forbidden("This secret belongs to another session")

    # ------------------------------------------------------------ the sweep
    async def sweep(self) -> int:
        """Ends every active session without a heartbeat for PRESENCE_SESSION_TIMEOUT_AFTER
        (at its last heartbeat, status timeout); how many. The job `session_timeout`,
        `POST /api/admin/auto-timeout`, `POST /api/cron/session-timeout` and
        `presence auto-timeout` (the last three through `JobRunner.run`)."""
        return len(await self._settle())

    async def _settle(self) -> list[SessionRow]:
        """Writes down every session that is over (ONE indexed UPDATE; its cost follows
        the sessions that expire) and tells admins."""
        now = self._clock()
        async with self._db.begin() as tx:
            ended = await queries.time_out(tx, self._cutoff(now))
        if ended:
            self._metrics.swept.labels("session_timeout").inc(len(ended))
        await self._ended(ended, now)
        return ended

    # ------------------------------------------------------------ reports for admins
    async def page(
        self, *, status: str | None, q: str | None, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """`(count, rows)` of `GET /api/admin/sessions`, newest click first; `q` is a
        literal, case-insensitive substring of student, meeting or teacher names."""
        if status is not None and status not in rules.STATUSES:
            raise BadInput("status", f"status must be one of {', '.join(rules.STATUSES)}")
        if q is not None and len(q) > MAX_QUERY_LENGTH:
            raise BadInput("q", f"q must be at most {MAX_QUERY_LENGTH} characters")
        await self._settle()
        now = self._clock()
        async with self._db() as tx:
            count, rows = await queries.page(tx, status=status, q=q or None, limit=limit, offset=offset)
        return count, [session_json(r, now) for r in rows]

    @staticmethod
    def window(start: str | None, end: str | None, *, empty_ok: bool = False) -> Window:
        """The report window of `?from=&to=` / `--from --to`: ISO dates, `from`
        inclusive, `to` exclusive; BadInput naming the field otherwise. `from` after
        `to` is an empty window where `empty_ok` (REST: the days [from, to) hold
        none), else refused (the command line, where it is a typo to point out)."""
        try:
            first = rules.parse_day(start, "from")
        except ValueError as e:
            raise BadInput("from", str(e)) from None
        try:
            last = rules.parse_day(end, "to")
        except ValueError as e:
            raise BadInput("to", str(e)) from None
        if first > last and not empty_ok:
            raise BadInput("from", f"from ({first.isoformat()}) must not be after to ({last.isoformat()})")
        return Window(first, last)

    async def summary(self, window: Window) -> dict[str, Any]:
        """Sessions and minutes per teacher and per meeting: ended sessions clicked in the window."""
        await self._settle()
        async with self._db() as tx:
            found = await queries.summary(tx, window.start_at, window.end_at)
        return {
            "from": window.start.isoformat(),
            "to": window.end.isoformat(),
            "teachers": [
                {"teacherId": t.teacher_id, "teacherName": t.teacher_name, "sessions": t.sessions, "minutes": t.minutes}
                for t in found.teachers
            ],
            "meetings": [
                {
                    "meetingId": m.meeting_id,
                    "meetingTitle": m.meeting_title,
                    "sessions": m.sessions,
                    "minutes": m.minutes,
                }
                for m in found.meetings
            ],
        }

    async def export_lines(self, window: Window) -> AsyncGenerator[str, None]:
        """The payroll CSV, line by line (header first): ended sessions clicked in the
        window, oldest click first, read in batches, so memory stays flat however long
        the period."""
        await self._settle()
        yield rules.payroll_header_line()
        async with self._db() as tx:
            async for row in queries.export_rows(tx, window.start_at, window.end_at):
                yield payroll_line(row)

    # ------------------------------------------------------------ telling admins
    async def _heartbeat_news(self, row: SessionRow, now: float, event: str = "session:heartbeat") -> None:
        """Tells admins `event` if this session's cooldown (one per heartbeat interval,
        shared by every node with Redis) lets it through; `session:started` always
        goes, and takes the claim, so the page's first heartbeat is no news."""
        try:
            claimed = await self._cooldowns.claim(heartbeat_key(row.id), self._interval, now)
        except Exception:  # the heartbeat is stored; a dashboard missing one beat is no loss
            log.warning("could not claim the heartbeat cooldown of session %s", row.id, exc_info=True)
            claimed = False
        if claimed or event != "session:heartbeat":
            await self._tell(event, row, now)

    async def _ended(self, rows: Sequence[SessionRow], now: float) -> None:
        """Counts, logs and tells admins of sessions that have just ended (every way one ends)."""
        for row in rows:
            self._metrics.sessions_ended.labels(row.status).inc()
            log.info(
                "attendance session ended id=%s status=%s minutes=%s ended_at=%s",
                row.id,
                row.status,
                row.duration_minutes,
                iso_dt(row.session_ended_at),
            )
            await self._tell("session:ended", row, now)

    async def _tell(self, event: str, row: SessionRow, now: float) -> None:
        """Never fails the caller: what was stored stays stored, and a console that
        missed an event reads the list again when it reconnects."""
        try:
            await self._broadcaster.emit(event, session_json(row, now), ADMINS_ROOM)
        except Exception:
            log.exception("could not tell admins %s of session %s at %s", event, row.id, iso(now))
