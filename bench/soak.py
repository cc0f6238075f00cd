"""`make soak`: presence under churn for a bounded time (issue 12).

    make soak                                   # about 3 minutes
    make soak ARGS="--duration 600 --conversations 5000"

Starts `presence serve` (SQLite, grace 1 s) pinned to core 0 and bench/soak.js on core 1:
thousands of widget tabs connecting, heartbeating, reloading within the grace, dropping,
saying offline and coming back, while agents watch every conversation. Checks, and exits
non-zero when one fails:

- presence counts exact and every agent's view agrees with the snapshot (soak.js compares,
  for every conversation, the tabs it holds, the snapshot's devices and isOnline, and the
  last customer event the agents got);
- RSS flat after warm-up: the server's RSS at the end of the load is within 10 % (+ 8 MB)
  of its RSS once warmed up (a third of the way in);
- no leaked tasks or sockets: once every client is gone, the server holds no engine.io
  socket and no more asyncio tasks than before the load (PRESENCE_PERF_STATS_FILE, SIGUSR2).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import peer
import relay

HERE = Path(__file__).resolve().parent


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def server_stats(pid: int, path: Path) -> dict:
    path.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return json.loads(path.read_text()) if path.exists() else {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=150, help="seconds of churn")
    ap.add_argument("--conversations", type=int, default=3000)
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--churn-share", type=float, default=0.01, help="share of conversations changed every second")
    ap.add_argument("--grace", type=float, default=1.0)
    ap.add_argument("--env", action="append", default=[], help="K=V for the server (e.g. PRESENCE_PERF=none)")
    ap.add_argument("--json", type=Path, default=peer.RESULTS / "soak.json")
    args = ap.parse_args()
    peer.raise_nofile()
    work = Path(tempfile.mkdtemp(prefix="presence-soak-"))
    stats_file = work / "stats.json"
    side = relay.Side("python", dict(kv.split("=", 1) for kv in args.env))
    server_pin, load_pin = peer.pins()
    server, port, tokens, _ = relay.start(
        side, work, args.grace, server_pin, {"PRESENCE_PERF_STATS_FILE": str(stats_file)}
    )
    pid = server.proc.pid
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        t0 = time.monotonic()
        while not stop.wait(2.0):
            kb = rss_kb(pid)
            if kb:
                samples.append((time.monotonic() - t0, kb))

    out: dict = {"duration_s": args.duration, "conversations": args.conversations, "agents": args.agents}
    checks: dict[str, bool] = {}
    try:
        time.sleep(1)
        before = server_stats(pid, stats_file)
        out["tasks_before"] = before.get("tasks")
        sampler = threading.Thread(target=sample, daemon=True)
        started = time.monotonic()
        sampler.start()
        argv = [
            *load_pin, "node", str(HERE / "soak.js"), f"--url=http://127.0.0.1:{port}",
            f"--conversations={args.conversations}", f"--agents={args.agents}", f"--duration={args.duration}",
            f"--churn-share={args.churn_share}", f"--grace={args.grace}", f"--company={peer.COMPANY}",
        ]  # fmt: skip
        r = subprocess.run(
            argv, env=relay.node_env(tokens), capture_output=True, text=True, timeout=args.duration + 600
        )
        load_s = time.monotonic() - started
        stop.set()
        (work / "soak.err").write_text(r.stderr)
        client = relay.last_json(r.stdout)
        out["client"] = client
        time.sleep(3)  # the last disconnects are handled
        after = server_stats(pid, stats_file)
        out["tasks_after"] = after.get("tasks")
        out["engineio_sockets_after"] = after.get("engineio_sockets")
        out["task_kinds_after"] = after.get("task_kinds")
        # RSS: warmed up a third of the way into the churn; the end of the load is the last sample before it stopped
        churn_start = load_s - args.duration - 3
        in_churn = [(t, kb) for t, kb in samples if t >= churn_start]
        warm = [kb for t, kb in in_churn if t <= churn_start + args.duration / 3]
        end = [kb for t, kb in in_churn if t >= churn_start + args.duration * 0.9]
        out["rss_warm_mb"] = round(max(warm) / 1024, 1) if warm else None
        out["rss_end_mb"] = round(max(end) / 1024, 1) if end else None
        out["rss_series_mb"] = [(round(t), round(kb / 1024, 1)) for t, kb in samples][::5]
        checks["client ok (counts exact, agents agree with snapshots)"] = (
            bool(client.get("ok")) and client.get("mismatches") == 0
        )
        checks["RSS flat after warm-up (end <= 1.10 x warm + 8 MB)"] = bool(
            warm and end and max(end) <= 1.10 * max(warm) + 8 * 1024
        )
        checks["no leaked tasks"] = (
            before.get("tasks") is not None and after.get("tasks") is not None and after["tasks"] <= before["tasks"] + 2
        )
        checks["no sockets left"] = after.get("engineio_sockets") == 0
        checks["server alive"] = server.proc.poll() is None
    finally:
        stop.set()
        server.stop()
    out["checks"] = checks
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    c = out.get("client", {})
    print(
        f"soak: {args.conversations:,} conversations, {args.agents} agents, {args.duration:.0f} s of churn; "
        f"tabs at start {c.get('tabs_at_start')}, at end {c.get('tabs_at_end')}; connect {c.get('connect_s')} s"
    )
    print(f"  client counts: {json.dumps(c.get('counts', {}), sort_keys=True)}")
    print(f"  mismatches: {c.get('mismatches')} {c.get('mismatch_examples') or ''} {c.get('error') or ''}")
    print(
        f"  RSS warm {out.get('rss_warm_mb')} MB, end {out.get('rss_end_mb')} MB; "
        f"tasks before {out.get('tasks_before')}, after {out.get('tasks_after')}; "
        f"engine.io sockets after {out.get('engineio_sockets_after')}"
    )
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    print(f"results: {args.json}")
    return 0 if checks and all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
