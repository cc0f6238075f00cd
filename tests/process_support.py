"""Real processes for fault tests: `presence serve` nodes, nginx, a private Redis
and a private PostgreSQL, each started from a temp folder and stopped by pid.

Nothing here touches the shared services the other tests use (PostgreSQL on
5432, Redis on 6379): a fault test that restarts its database or Redis starts
its own, on a free port, and a missing program skips the test (or fails it
when PRESENCE_TEST_REQUIRE_ALL=1, as in CI).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from tests.conftest import SECRET, skip_unless_required
from tests.helpers import EventLog, free_port

REPO = Path(__file__).resolve().parent.parent
SITE_FILE = REPO / "deploy" / "nginx" / "presence.conf"


def node_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a node: no PRESENCE_* of the caller's, the test secret, these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESENCE_")}
    env.update(PRESENCE_JWT_SECRET=SECRET, PRESENCE_DATABASE_URL=database_url, PRESENCE_LOG_FORMAT="text")
    env.update(settings)
    return env


class Node:
    """One `presence serve` process; its log is kept in the test's folder."""

    def __init__(self, folder: Path, env: dict[str, str], name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "presence.cli", "serve", "--port", str(self.port)],
            cwd=folder,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def healthy_once(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/health", timeout=1):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def stop_all(nodes: list[Node]) -> None:
    """SIGTERM to every node at once, then waits for each (SIGKILL after 10 s)."""
    for n in nodes:
        if n.proc.poll() is None:
            n.proc.terminate()
    for n in nodes:
        n.stop()


def start_nodes(folder: Path, env: dict[str, str], count: int, timeout: float = 30) -> list[Node]:
    """`count` nodes started at once; returns when every one answers /api/health."""
    nodes = [Node(folder, env, f"node{i}") for i in range(count)]
    deadline = time.monotonic() + timeout
    waiting = list(nodes)
    while waiting:
        waiting = [n for n in waiting if not n.healthy_once()]
        for n in waiting:
            if n.proc.poll() is not None or time.monotonic() > deadline:
                for m in nodes:
                    m.stop()
                raise AssertionError(f"node on {n.port} did not start:\n{n.tail()}")
        if waiting:
            time.sleep(0.05)
    return nodes


async def health(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(f"{url}/api/health", timeout=aiohttp.ClientTimeout(total=30)) as r:
        return r.status, await r.json(content_type=None)


async def until(check: Any, timeout: float, what: str) -> float:
    """Polls an async condition every 50 ms; the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        await asyncio.sleep(0.05)
    return time.monotonic()


async def sockets_connected(url: str) -> float:
    """This node's `presence_sockets_connected` from its /metrics."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as r:
        text = await r.text()
    match = re.search(r"^presence_sockets_connected (\S+)$", text, re.M)
    assert match, "no presence_sockets_connected in /metrics"
    return float(match.group(1))


# ---------------------------------------------------------------- nginx
def require(program: str) -> str:
    """The path of a program (also where Debian puts daemons, /usr/sbin, if not on PATH)."""
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        skip_unless_required(f"{program} not installed (apt-get install -y {Path(program).name})")
    assert path is not None
    return path


class Nginx:
    """Debian's nginx run from a temp prefix in the foreground, serving the
    repository's site file with the listen port and upstream ports substituted."""

    def __init__(self, folder: Path, upstream_ports: list[int]) -> None:
        binary = require("nginx")
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        site = SITE_FILE.read_text()
        site, listens = re.subn(r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{self.port};", site, flags=re.M)
        assert listens == 1, "the site file should have one `listen 80;`"
        servers = iter(upstream_ports)
        site, count = re.subn(
            r"^(\s*)server 127\.0\.0\.1:\d+",
            lambda m: f"{m.group(1)}server 127.0.0.1:{next(servers)}",
            site,
            flags=re.M,
        )
        assert count == len(upstream_ports), (
            f"the site file lists {count} nodes, the test started {len(upstream_ports)}"
        )
        (folder / "presence.conf").write_text(site)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
            (folder / sub).mkdir(exist_ok=True)
        # As root, nginx's workers would switch to `nobody`, who cannot enter pytest's
        # 0700 temp folders: keep them as root (unprivileged runs ignore `user`).
        user = "user root root;" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(
            f"""{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/logs/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {folder}/logs/access.log;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/presence.conf;
}}
"""
        )
        args = [binary, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"]
        check = subprocess.run([*args[:-2], "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=1):
                    break
            except urllib.error.HTTPError:
                break  # nginx answers (a node may say 503): it is up
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"nginx did not start:\n{self.errors()}") from None
                time.sleep(0.05)

    def errors(self) -> str:
        with contextlib.suppress(OSError):
            return (self.folder / "logs" / "error.log").read_text()
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: the master stops its workers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# ---------------------------------------------------------------- clients
class Client:
    """A python-socketio client that behaves like widget.js and the agent page:
    reconnects by itself and says who it is (`hello`) again on every connect;
    every ack of that hello is queued, so a test awaits the next one."""

    def __init__(
        self, hello: str, payload: dict[str, Any], token: str | None = None, heartbeat: str | None = None
    ) -> None:
        self.sio = socketio.AsyncClient(
            reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1.0, randomization_factor=0.2
        )
        self.log = EventLog(self.sio)
        self.hello = hello
        self.payload = payload
        self.token = token
        self.acks: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self.sio.on("connect", self._connected)
        self._beat = heartbeat

    async def _heartbeats(self, every: float) -> None:
        """Like widget.js: a heartbeat at the interval the server acked, while connected;
        a refused one (the server holds no lease for this socket) says hello again."""
        while True:
            await asyncio.sleep(every)
            if not (self.sio.connected and self._beat is not None):
                continue
            try:
                ack = await self.sio.call(self._beat, self.payload, timeout=5)
            except Exception:
                continue  # no answer: keep the pace; the transport notices a dead link
            if not ack.get("ok"):
                await self._say_hello()

    async def _connected(self) -> None:
        # Not awaited here: the ack arrives through the loop that runs this handler.
        self._spawn(self._say_hello(), "hello")

    def _spawn(self, work: Any, name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _say_hello(self) -> None:
        """Says hello until the server accepts it (refused, e.g. while the server's
        Redis is away: again after a pause, as widget.js does), while connected."""
        while True:
            try:
                ack = await self.sio.call(self.hello, self.payload, timeout=5)
            except Exception as e:  # the connection went before the ack: the next connect says it
                ack = {"ok": False, "error": repr(e)}
            self.acks.put_nowait((time.monotonic(), ack))
            if ack.get("ok"):
                if self._beat is not None and not any(t.get_name() == "beat" for t in self._tasks):
                    self._spawn(self._heartbeats(float(ack["heartbeatInterval"])), "beat")
                return
            await asyncio.sleep(0.5)
            if not self.sio.connected:
                return

    async def connect(self, url: str, **kw: Any) -> None:
        auth = {"token": self.token} if self.token else None
        await self.sio.connect(url, auth=auth, wait_timeout=10, **kw)

    async def next_ack(self, timeout: float = 10) -> tuple[float, Any]:
        try:
            return await asyncio.wait_for(self.acks.get(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {self.hello} ack within {timeout}s") from None

    async def next_ok(self, timeout: float = 10) -> tuple[float, Any]:
        """The next hello that the server accepted (a refused one is skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            at, ack = await self.next_ack(max(0.1, deadline - time.monotonic()))
            if ack.get("ok"):
                return at, ack

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        # A long-polling client waits for its pending poll to end (up to the ping
        # interval); a browser would just drop it, and so does this after a moment.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(), 2)
        if self.sio.eio.http is not None:
            with contextlib.suppress(Exception):
                await self.sio.eio.http.close()


@contextlib.contextmanager
def stopping(*things: Any) -> Iterator[None]:
    try:
        yield
    finally:
        for thing in things:
            with contextlib.suppress(Exception):
                thing.stop()


# ---------------------------------------------------------------- a private PostgreSQL
class PrivatePostgres:
    """A PostgreSQL cluster of this test's own (initdb in a temp folder, its own
    port and socket folder), which the test may stop and start at will without
    disturbing the shared server on 5432. As root, initdb and postgres refuse
    to run, so they run as the `postgres` user (runuser)."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            skip_unless_required("PostgreSQL server binaries not installed (/usr/lib/postgresql/*/bin/initdb)")
        self.bin = Path(found[-1]).parent
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                skip_unless_required("running as root without runuser: cannot start a private PostgreSQL")
            self.as_user = [str(runuser), "-u", "postgres", "--"]
        import tempfile

        self.folder = Path(tempfile.mkdtemp(prefix="presence-pg-"))
        if self.as_user:
            shutil.chown(self.folder, "postgres", "postgres")
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/presence"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "presence")

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bin / program), *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{program} failed: {done.stdout}{done.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash (no checkpoint; recovery from the WAL on the next start)."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


# ---------------------------------------------------------------- a private Redis
class PrivateRedis:
    """A redis-server of this test's own on a free port, without persistence (as
    the shared one): stopping it loses every key, as a restart of such a Redis does."""

    def __init__(self, folder: Path) -> None:
        self.binary = require("redis-server")
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        from redis import Redis

        deadline = time.monotonic() + 10
        with Redis(host="127.0.0.1", port=self.port) as client:
            while True:
                try:
                    if client.ping():
                        return
                except Exception:
                    assert self.proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    stop = kill
