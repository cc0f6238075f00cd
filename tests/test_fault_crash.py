"""Fault: the server SIGKILLed while it charges credits and while it sweeps
attendance sessions, then started again on the same database (issue 12).

Real `presence serve` processes (tests/process_support.py) on this test's own
SQLite file or PostgreSQL database; the test reads the database directly (never
through an admin read, which would settle sessions itself) to know when to kill
and to check the books afterwards. Each test kills several times:

- credits (§7): sellers live on several streams, blocks of 0.3 s, the monitor
  every 0.05 s; the node is killed three times, each time after it has been seen
  charging, at a random moment within a block, and kept down for more than a
  block. Proves: every stream's charges are blocks 0..n-1, each once, none
  skipped (the blocks that fell due while no node ran are charged after the
  restart), none starting at or after the end; n is what the rule says from
  `started_at` and `ended_at` (a seller who ran out ends at the start of the
  block they could not pay); `credits_consumed` = n; every balance = granted −
  charges, over REST and in the database; the REST statement is the ledger.
- attendance (§6): 40 sessions heartbeat and stop at staggered times (clicks
  backdated in the database by up to ten minutes, as students who clicked
  earlier, so durations are minutes and straddle the half minute); the node is
  killed twice while the sweep is ending them (some ended, some not), with no
  heartbeat in flight (so every answer the test saw is the truth). Proves: every
  session ends once, status `timeout`, `session_ended_at` = its last heartbeat
  (the last 200's `lastActivityAt`), `duration_minutes` = click to last heartbeat
  rounded half up, also for sessions whose timeout passed while no node ran;
  what was ended before a kill is unchanged after the restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select, update

from db.engine import begin_write, create_engine, create_session_factory
from db.models import AttendanceSession, CreditGrant, Livestream, LivestreamCharge, User
from domain.clock import iso
from domain.identity import TokenCodec
from tests.conftest import SECRET
from tests.process_support import Node, node_env, until

TOKENS = TokenCodec(SECRET)
ADMIN = {"Authorization": f"Bearer {TOKENS.encode('boss', 'admin', None, None, 3600)}"}
SLACK = 2e-6  # the databases keep microseconds; a float rounds to the nearest one
FIGURES: dict[str, dict[str, Any]] = {}

# ---------------------------------------------------------------- credits
BLOCK = 0.3
KILLS = 3
# seller -> credits granted; "poor" runs out during the test, the others never do.
GRANTS = {"s1": 1000, "s2": 1000, "s3": 1000, "poor": 7}
STREAMS = ["s1", "s1", "s2", "s3", "poor"]  # the owner of each stream


def user(sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS.encode(sub, 'user', 'shop-1', None, 3600)}"}


def start_node(folder: Path, env: dict[str, str], name: str, timeout: float = 30) -> Node:
    """A `presence serve` on the test's database; returns once /api/health answers."""
    node = Node(folder, env, name)
    deadline = time.monotonic() + timeout
    while not node.healthy_once():
        if node.proc.poll() is not None or time.monotonic() > deadline:
            node.stop()
            raise AssertionError(f"{name} did not start:\n{node.tail()}")
        time.sleep(0.05)
    return node


def ts(value: datetime | None) -> float:
    assert value is not None
    return value.timestamp()


async def call(http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], **kw: Any) -> Any:
    async with http.request(method, url, headers=headers, timeout=aiohttp.ClientTimeout(total=20), **kw) as r:
        body = await r.json(content_type=None)
        assert r.status in (200, 201), (method, url, r.status, body)
        return body


async def test_killed_while_charging_credits(tmp_path: Path, database_url: str) -> None:
    env = node_env(
        database_url,
        PRESENCE_STREAM_CREDIT_BLOCK=str(BLOCK),
        PRESENCE_STREAM_CHECK_EVERY="0.05",
        PRESENCE_STREAM_WARN_AFTER="300",
        PRESENCE_STREAM_END_AFTER="600",
        PRESENCE_RATE_LIMIT="0",
    )
    engine = create_engine(database_url)
    db = create_session_factory(engine)
    rng = random.Random()
    nodes: list[Node] = []
    kills: list[dict[str, float]] = []

    async def charges() -> list[Any]:
        async with db() as s:
            return list((await s.execute(select(LivestreamCharge))).scalars())

    try:
        nodes.append(start_node(tmp_path, env, "run0"))
        async with aiohttp.ClientSession() as http:
            url = nodes[-1].url
            for sub, amount in GRANTS.items():
                await call(http, "POST", f"{url}/api/admin/users/{sub}/credits", ADMIN, json={"amount": amount})
            stream_ids: list[str] = []
            for i, sub in enumerate(STREAMS):
                body = await call(http, "POST", f"{url}/api/livestreams/", user(sub), json={"title": f"live {i}"})
                await call(http, "PATCH", f"{url}/api/livestreams/start/{body['id']}/", user(sub))
                stream_ids.append(str(body["id"]))
                await asyncio.sleep(rng.uniform(0, BLOCK / 2))  # block boundaries apart

            for k in range(KILLS):
                node = nodes[-1]
                up_at = time.time()
                # Charges made by this node (the monitor, not only the start): it is charging.
                await until(lambda up_at=up_at: _charged_since(charges, up_at, 3), 15, f"{node.log_path.name} charging")
                # Then right after a charge, at a random moment within the next half block.
                seen = len(await charges())

                async def one_more(seen: int = seen) -> bool:
                    return len(await charges()) > seen

                await until(one_more, 15, f"{node.log_path.name}: a charge")
                await asyncio.sleep(rng.uniform(0, BLOCK / 2))
                killed_at = time.time()
                node.kill()
                last = max(ts(c.charged_at) for c in await charges())
                assert killed_at - last < 1.0, f"kill {k}: the last charge {killed_at - last:.2f}s before it"
                await asyncio.sleep(rng.uniform(1.5, 2.5) * BLOCK)  # blocks fall due while nobody runs
                restart_at = time.time()
                nodes.append(start_node(tmp_path, env, f"run{k + 1}"))
                kills.append({"killed_at": killed_at, "restart_at": restart_at, "up_at": time.time()})

            url = nodes[-1].url
            last_up = kills[-1]["up_at"]
            await until(lambda: _charged_since(charges, last_up, 2), 15, "charging after the last restart")
            for stream_id, sub in zip(stream_ids, STREAMS, strict=True):
                async with http.patch(f"{url}/api/livestreams/end/{stream_id}/", headers=user(sub)) as r:
                    body = await r.json()
                    # "poor" may have run out already: then its end is 409, ended by credits_exhausted.
                    assert r.status == 200 or (sub == "poor" and r.status == 409), (r.status, body)

            # ---------------- the books, from the database
            async with db() as s:
                streams = {
                    st.id: st
                    for st in (await s.execute(select(Livestream).where(Livestream.id.in_(stream_ids)))).scalars()
                }
                ledger = list(
                    (
                        await s.execute(
                            select(LivestreamCharge).order_by(LivestreamCharge.livestream_id, LivestreamCharge.block)
                        )
                    ).scalars()
                )
                sums = select(CreditGrant.user_id, func.sum(CreditGrant.amount)).group_by(CreditGrant.user_id)
                granted = {r[0]: int(r[1]) for r in await s.execute(sums)}
                balances = {r[0]: r[1] for r in await s.execute(select(User.id, User.credits))}

            caught_up = 0
            total = 0
            for stream_id in stream_ids:
                st = streams[stream_id]
                assert st.status == "ended", (stream_id, st.status)
                started, ended = ts(st.started_at), ts(st.ended_at)
                rows = [c for c in ledger if c.livestream_id == stream_id]
                blocks = [c.block for c in rows]
                assert blocks == list(range(len(blocks))), (stream_id, blocks)  # none twice, none skipped
                n = len(blocks)
                assert st.credits_consumed == n, (stream_id, st.credits_consumed, n)
                # Every block starting before the end is charged, none starting at or after it.
                expected = 0
                while started + expected * BLOCK < ended - SLACK:
                    expected += 1
                assert n == expected, (stream_id, n, expected, st.end_reason, started, ended)
                if st.end_reason == "credits_exhausted":
                    assert abs(ended - (started + n * BLOCK)) < SLACK, (stream_id, started, ended, n)
                else:
                    assert st.end_reason == "manual", (stream_id, st.end_reason)
                for c in rows:
                    starts = started + c.block * BLOCK
                    assert abs(ts(c.block_starts_at) - starts) < SLACK, (stream_id, c.block)
                    assert ts(c.charged_at) >= starts - SLACK, (stream_id, c.block, "charged before it started")
                    caught_up += any(
                        kill["killed_at"] < starts < kill["up_at"] and ts(c.charged_at) >= kill["restart_at"]
                        for kill in kills
                    )
                total += n

            poor = streams[stream_ids[STREAMS.index("poor")]]
            assert poor.end_reason == "credits_exhausted" and poor.credits_consumed == GRANTS["poor"], poor
            for sub, amount in GRANTS.items():
                charged = sum(1 for c in ledger if c.user_id == sub)
                assert granted[sub] == amount
                assert balances[sub] == amount - charged, (sub, balances[sub], amount, charged)
                body = await call(http, "GET", f"{url}/api/users/me/credits", user(sub))
                assert body["remaining_credits"] == amount - charged, (sub, body)
            assert balances["poor"] == 0
            # The REST statement is the ledger.
            for stream_id, sub in zip(stream_ids, STREAMS, strict=True):
                statement = await call(http, "GET", f"{url}/api/livestreams/{stream_id}/charges/", user(sub))
                listed = [(c["block"], c["credits"]) for c in statement["charges"]]
                assert listed == [(c.block, 1) for c in ledger if c.livestream_id == stream_id], stream_id
                assert statement["credits_consumed"] == len(listed)

            # Not vacuous: each restart charged blocks that fell due while no node ran.
            for kill in kills:
                resumed = [
                    c
                    for c in ledger
                    if ts(c.charged_at) >= kill["restart_at"]
                    and ts(c.block_starts_at) < kill["restart_at"]
                    and ts(c.block_starts_at) > kill["killed_at"]
                ]
                assert resumed, f"no block due during the outage at {kill} was charged after the restart"
        FIGURES[f"credits {database_url.split(':')[0]}"] = {
            "kills": len(kills),
            "streams": len(stream_ids),
            "charges": total,
            "charged_after_restart_for_the_outage": caught_up,
            "down_s": [round(k["up_at"] - k["killed_at"], 2) for k in kills],
        }
        print(f"\ncrash figures: {FIGURES}")
    finally:
        for node in nodes:
            node.stop()
        await engine.dispose()


async def _charged_since(charges: Any, since: float, count: int) -> bool:
    return sum(1 for c in await charges() if ts(c.charged_at) > since) >= count


# ---------------------------------------------------------------- attendance
SESSIONS = 40
TIMEOUT = 8.0  # longer than a restart takes: a session beating at a kill survives it
INTERVAL = 1.0
STAGGER = 12.0  # session i stops heartbeating i·STAGGER/SESSIONS after the first: a 12 s wave of ends
CONFIG = re.compile(r'<script type="application/json" id="tracking-config">(.*?)</script>', re.S)


@dataclass
class Student:
    session_id: str
    secret: str
    stop_at: float
    last_ok: dict[str, Any] | None = None
    answers: list[int] = field(default_factory=list)


class Gate:
    """Heartbeats go through it; `closed()` waits until none is in flight and lets
    none start, so a kill never falls inside a request (every answer is the truth)."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()

    @contextlib.asynccontextmanager
    async def request(self) -> Any:
        await self.open.wait()
        self.in_flight += 1
        self.idle.clear()
        try:
            yield
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.idle.set()

    @contextlib.asynccontextmanager
    async def closed(self) -> Any:
        self.open.clear()
        await self.idle.wait()
        try:
            yield
        finally:
            self.open.set()


def half_up_minutes(start: datetime, end: datetime) -> int:
    """SPEC §6: minutes from click to last heartbeat, rounded half up, on whole microseconds."""
    span = (end - start) // timedelta(microseconds=1)
    return max(0, (span + 30_000_000) // 60_000_000)


async def test_killed_while_sweeping_sessions(tmp_path: Path, database_url: str) -> None:
    env = node_env(
        database_url,
        PRESENCE_SESSION_HEARTBEAT_INTERVAL=str(INTERVAL),
        PRESENCE_SESSION_TIMEOUT_AFTER=str(TIMEOUT),
        PRESENCE_SESSION_SWEEP_EVERY="0.05",
        PRESENCE_RATE_LIMIT="0",
    )
    engine = create_engine(database_url)
    db = create_session_factory(engine)
    rng = random.Random()
    nodes: list[Node] = []
    gate = Gate()
    current = {"url": ""}

    async def rows() -> dict[str, AttendanceSession]:
        async with db() as s:
            return {r.id: r for r in (await s.execute(select(AttendanceSession))).scalars()}

    async def ended_count() -> int:
        return sum(1 for r in (await rows()).values() if r.status != "active")

    async def heartbeat(http: aiohttp.ClientSession, st: Student) -> None:
        """Like the tracking page: a heartbeat every INTERVAL until the student leaves
        (stop_at) or the session is gone (410); a refused connection (no node) is retried."""
        while time.monotonic() < st.stop_at:
            async with gate.request():
                try:
                    async with http.post(
                        f"{current['url']}/api/sessions/{st.session_id}/heartbeat",
                        headers={"Authorization": f"Bearer {st.secret}"},
                        json={},
                        timeout=aiohttp.ClientTimeout(total=20),
                    ) as r:
                        st.answers.append(r.status)
                        body = await r.json(content_type=None)
                        if r.status == 200:
                            st.last_ok = body
                        else:
                            assert r.status == 410, (r.status, body)
                            return
                except aiohttp.ClientConnectionError:
                    st.answers.append(0)  # no node (never killed mid-request: see Gate): nothing done
            await asyncio.sleep(INTERVAL)

    tasks: list[asyncio.Task[None]] = []
    kills: list[dict[str, Any]] = []
    try:
        nodes.append(start_node(tmp_path, env, "run0"))
        current["url"] = nodes[-1].url
        async with aiohttp.ClientSession() as http:
            url = current["url"]
            await call(
                http,
                "PUT",
                f"{url}/api/admin/meetings/m1",
                ADMIN,
                json={"title": "Algebra", "zoomUrl": "https://zoom.us/j/1", "teacherId": "t1", "teacherName": "Ann"},
            )
            links = []
            for i in range(SESSIONS):
                body = await call(
                    http, "POST", f"{url}/api/admin/meetings/m1/links", ADMIN, json={"studentId": f"st{i}"}
                )
                links.append("/t/" + str(body["url"]).split("/t/", 1)[1])
            first = time.monotonic() + 0.5
            students: list[Student] = []
            for i, path in enumerate(links):
                async with http.get(f"{url}{path}") as r:
                    page = await r.text()
                    assert r.status == 200, page[:300]
                match = CONFIG.search(page)
                assert match, page[:300]
                config = json.loads(match.group(1))
                st = Student(config["sessionId"], config["secret"], first + i * STAGGER / SESSIONS)
                students.append(st)
                tasks.append(asyncio.create_task(heartbeat(http, st)))
            # Students who clicked up to ten minutes ago: durations in minutes, straddling halves.
            clicked = {sid: r.clicked_at for sid, r in (await rows()).items()}
            async with begin_write(db) as s:
                for st in students:
                    back = rng.choice([0.0, 29.0, 30.0, 31.0]) + 60 * rng.randrange(0, 10) + rng.uniform(-1, 1)
                    await s.execute(
                        update(AttendanceSession)
                        .where(AttendanceSession.id == st.session_id)
                        .values(clicked_at=clicked[st.session_id] - timedelta(seconds=back))
                    )

            # Two kills while the sweep is ending them: once a quarter have ended, then as
            # soon as the restarted node has ended more (its first sweeps: the backlog).
            for k in range(2):
                node = nodes[-1]
                threshold = SESSIONS // 4 if not kills else kills[-1]["ended"] + 1

                async def enough(threshold: int = threshold) -> bool:
                    return await ended_count() >= threshold

                await until(enough, 30, f"{threshold} sessions ended")
                async with gate.closed():
                    await asyncio.sleep(rng.uniform(0, 0.05))  # anywhere in a sweep period
                    node.kill()
                    killed_at = time.time()
                snapshot = {i: (r.status, r.session_ended_at, r.duration_minutes) for i, r in (await rows()).items()}
                done = sum(1 for s in snapshot.values() if s[0] != "active")
                assert 0 < done < SESSIONS, f"kill {k}: {done} of {SESSIONS} ended, not a sweep in progress; {kills}"
                kills.append({"killed_at": killed_at, "ended": done, "snapshot": snapshot})
                nodes.append(start_node(tmp_path, env, f"run{k + 1}"))
                current["url"] = nodes[-1].url
                kills[-1]["down_s"] = time.time() - killed_at

            async def all_ended() -> bool:
                return await ended_count() == SESSIONS

            await until(all_ended, 30, "every session ended")
            await asyncio.gather(*tasks)

            final = await rows()
            url = current["url"]
            listed = {
                r["id"]: r for r in (await call(http, "GET", f"{url}/api/admin/sessions?limit=500", ADMIN))["results"]
            }
            after_outage = 0
            minutes = 0
            for st in students:
                row = final[st.session_id]
                assert st.last_ok is not None, f"{st.session_id}: no heartbeat answered 200 ({st.answers})"
                assert row.status == "timeout", (st.session_id, row.status)
                assert row.session_ended_at == row.last_activity_at, (st.session_id, row)
                # The last heartbeat answered is the one the session ended at (the wire has milliseconds).
                assert iso(ts(row.session_ended_at)) == st.last_ok["lastActivityAt"], (st.session_id, st.last_ok)
                assert row.duration_minutes == half_up_minutes(row.clicked_at, row.last_activity_at), (
                    st.session_id,
                    row.clicked_at,
                    row.last_activity_at,
                    row.duration_minutes,
                )
                rest = listed[st.session_id]
                assert (rest["status"], rest["sessionEndedAt"], rest["durationMinutes"]) == (
                    "timeout",
                    st.last_ok["lastActivityAt"],
                    row.duration_minutes,
                )
                minutes += row.duration_minutes or 0
                after_outage += any(
                    kill["snapshot"][st.session_id][0] == "active"
                    and ts(row.last_activity_at) + TIMEOUT < kill["killed_at"] + kill["down_s"]
                    for kill in kills
                )
            for kill in kills:  # nothing ended before a kill changed afterwards
                for sid, before in kill["snapshot"].items():
                    if before[0] != "active":
                        now = final[sid]
                        assert (now.status, now.session_ended_at, now.duration_minutes) == before, sid
            ended_lines: dict[str, int] = {}
            for node in nodes:
                for sid in re.findall(r"attendance session ended id=(\S+)", node.log_path.read_text(errors="replace")):
                    ended_lines[sid] = ended_lines.get(sid, 0) + 1
            assert all(n == 1 for n in ended_lines.values()), {s: n for s, n in ended_lines.items() if n > 1}
            assert after_outage, "no session's timeout fell while no node ran"
        FIGURES[f"sessions {database_url.split(':')[0]}"] = {
            "kills": len(kills),
            "sessions": SESSIONS,
            "ended_before_each_kill": [k["ended"] for k in kills],
            "timed_out_while_down": after_outage,
            "minutes": minutes,
            "down_s": [round(k["down_s"], 2) for k in kills],
        }
        print(f"\ncrash figures: {FIGURES}")
    finally:
        for task in tasks:
            task.cancel()
        for node in nodes:
            node.stop()
        await engine.dispose()
