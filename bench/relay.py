"""Part 1: the heartbeat relay beside the Node reference (SPEC §3 subset).

Each run starts a fresh server (the Node reference, or `presence serve` with a
variant's environment) pinned to core 0, drives it from core 1 with
bench-peer's `loadgen.js` (closed loop, then paced), then with
`bench/departure.js` (connect storm, then every widget leaves at once: when
does each customer:offline arrive). Variants make A/B comparisons in one run:

    python bench/relay.py -c 1000 --variant base=PRESENCE_PERF=none --variant all= --reps 2
    python bench/relay.py -c 1000 --variant base=PRESENCE_PERF=none --profile   # py-spy, in bench/results/

A variant is NAME=ENV (space-separated K=V pairs given to the server).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer

HERE = Path(__file__).resolve().parent


def log(msg: str) -> None:
    print(f"[bench relay] {msg}", file=sys.stderr, flush=True)


class Side:
    """One server process: node, or python with extra environment."""

    def __init__(self, name: str, env_extra: dict[str, str] | None = None, node: bool = False):
        self.name, self.env_extra, self.node = name, env_extra or {}, node


def parse_variant(text: str) -> Side:
    name, _, env = text.partition("=")
    extra = dict(kv.split("=", 1) for kv in shlex.split(env)) if env else {}
    return Side(name, extra)


def start(side: Side, work: Path, grace: float, server_pin: list[str], extra_env: dict[str, str] | None = None):
    rc = peer.run_compare()
    port = peer.free_port()
    secret = secrets.token_hex(32)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{side.name}-", dir=work))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESENCE_") and k != "NODE_PATH"}
    env["PRESENCE_WIDGET_OFFLINE_GRACE"] = str(grace)
    if side.node:
        env["NODE_PATH"] = str(peer.node_modules()[1])
        argv = [*server_pin, "node", str(peer.BENCH_PEER / "node-ref" / "server.js"), "--port", str(port)]
        cwd = run_dir
    else:
        env["PRESENCE_DATABASE_URL"] = f"sqlite+aiosqlite:///{run_dir / 'perf.db'}"
        env["PRESENCE_JWT_SECRET"] = secret
        # Every simulated client comes from 127.0.0.1: no per-address cap, no per-socket event cap.
        env["PRESENCE_MAX_CONNECTIONS_PER_IP"] = "0"
        env["PRESENCE_RATE_LIMIT"] = "0"
        env.update(side.env_extra)
        env.update(extra_env or {})
        argv = [*server_pin, str(peer.python_exe() / "presence"), "serve", "--port", str(port)]
        argv += shlex.split(env.pop("BENCH_SERVE_ARGS", ""))
        cwd = peer.ROOT
    server = rc.Server(argv, env, cwd, run_dir / "server.log", port)
    try:
        server.wait_healthy(90)
    except Exception:
        server.stop()
        raise
    tokens = {
        "PERF_SERVICE_TOKEN": rc.mint(secret, "perf-service", "service"),
        "PERF_AGENT_TOKEN": rc.mint(secret, "perf-agent", "agent", peer.COMPANY),
    }
    return server, port, tokens, run_dir


def node_env(tokens: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERF_")}
    env["NODE_PATH"] = str(peer.node_modules()[0])
    env.update(tokens)
    return env


def last_json(stdout: str) -> dict:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {"ok": False, "error": "no JSON printed"}


def run_loadgen(side: Side, args, work: Path, paced_rate: str) -> dict:
    # BENCH_NOPIN=1 in a variant: no taskset (a --workers N server needs every core)
    server_pin, load_pin = ([], []) if side.env_extra.get("BENCH_NOPIN") else peer.pins()
    server, port, tokens, run_dir = start(side, work, args.grace, server_pin)
    prof = None
    try:
        argv = [
            *load_pin, "node", str(peer.BENCH_PEER / "loadgen.js"),
            f"--url=http://127.0.0.1:{port}", f"--server-pid={server.proc.pid}", f"--label={side.name}",
            f"--conversations={args.conversations}", f"--agents={args.agents}", f"--duration={args.duration}",
            f"--warmup={args.warmup}", "--inflight=1", f"--connect-concurrency={args.connect_concurrency}",
            f"--company={peer.COMPANY}", f"--paced-rate={paced_rate}", f"--paced-duration={args.paced_duration}",
        ]  # fmt: skip
        if args.profile and not side.node:
            prof = profile(server.proc.pid, run_dir, args, side.name, "loadgen")
        budget = 200 + args.warmup + args.duration + args.paced_duration + args.conversations / 20
        r = subprocess.run(argv, env=node_env(tokens), capture_output=True, text=True, timeout=budget)
        (run_dir / "loadgen.err").write_text(r.stderr)
        result = last_json(r.stdout)
        if server.proc.poll() is not None:
            result.update(ok=False, error=f"server died: {peer.run_compare().tail(server.logfile)}")
        return result
    finally:
        if prof is not None:
            prof.wait(timeout=60)
        server.stop()


def run_departure(
    side: Side,
    args,
    work: Path,
    conversations: int,
    mode: str = "leave",
    agents: int | None = None,
    server_env: dict[str, str] | None = None,
    snapshots_dir: Path | None = None,
) -> dict:
    """departure.js: connect storm (agents join, widgets online), idle RSS, then every widget leaves at once."""
    server_pin, load_pin = peer.pins()
    server_env = dict(server_env or {})
    if snapshots_dir is not None:
        server_env["PRESENCE_PERF_TRACEMALLOC_DIR"] = str(snapshots_dir)
    server, port, tokens, run_dir = start(side, work, args.grace, server_pin, server_env)
    if snapshots_dir is not None:
        tokens = {**tokens, "PRESENCE_PERF_TRACEMALLOC_DIR": str(snapshots_dir)}
    try:
        argv = [
            *load_pin, "node", f"--max-old-space-size={4096 + conversations // 4}", str(HERE / "departure.js"),
            f"--url=http://127.0.0.1:{port}", f"--server-pid={server.proc.pid}", f"--conversations={conversations}",
            f"--agents={agents or args.agents}", f"--connect-concurrency={args.connect_concurrency}",
            f"--grace={args.grace}", f"--company={peer.COMPANY}", f"--mode={mode}",
            f"--snapshots={1 if snapshots_dir else 0}",
        ]  # fmt: skip
        budget = 240 + conversations / 20 + (conversations / 10 if snapshots_dir else 0)
        r = subprocess.run(argv, env=node_env(tokens), capture_output=True, text=True, timeout=budget)
        (run_dir / "departure.err").write_text(r.stderr)
        result = last_json(r.stdout)
        if server.proc.poll() is not None:
            result.update(ok=False, error=f"server died: {peer.run_compare().tail(server.logfile)}")
        return result
    finally:
        server.stop()


def profile(pid: int, run_dir: Path, args, name: str, phase: str) -> subprocess.Popen:
    """py-spy on the server during the closed loop (started after connect; pinned with the load generator)."""
    out = peer.RESULTS / f"profile-{name}-c{args.conversations}-{phase}"
    peer.RESULTS.mkdir(parents=True, exist_ok=True)
    delay = args.profile_delay if args.profile_delay is not None else 8 + args.conversations / 700
    cmd = (
        f"sleep {delay}; exec {shlex.quote(str(peer.python_exe() / 'py-spy'))} record --pid {pid} "
        f"--duration {int(args.duration)} --rate 200 --format raw --output {shlex.quote(str(out))}.txt --nonblocking"
    )
    _, load_pin = peer.pins()
    return subprocess.Popen([*load_pin, "bash", "-c", cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top_frames(raw: Path, n: int = 25) -> list[tuple[str, float]]:
    """Self and inclusive time per function from a py-spy raw (collapsed stacks) file: [(frame, inclusive %)]."""
    incl: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        c = int(count)
        total += c
        seen = set()
        for frame in stack.split(";"):
            key = (
                frame.split(" (")[0] + " (" + frame.split(" (")[1].split(":")[0].split("/")[-1] + ")"
                if " (" in frame
                else frame
            )
            if key not in seen:
                seen.add(key)
                incl[key] = incl.get(key, 0) + c
    return [(k, 100 * v / total) for k, v in sorted(incl.items(), key=lambda kv: -kv[1])[:n]] if total else []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--conversations", type=int, default=1000)
    ap.add_argument("-a", "--agents", type=int, default=50)
    ap.add_argument("-d", "--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--paced-rate", default="5000")
    ap.add_argument("--paced-duration", type=float, default=4)
    ap.add_argument("--connect-concurrency", type=int, default=100)
    ap.add_argument("--grace", type=float, default=0.5)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--node", action="store_true", help="include the Node reference")
    ap.add_argument("--variant", action="append", default=[], help="NAME=ENV for a python server")
    ap.add_argument("--departure", action="store_true", help="also run departure.js per side")
    ap.add_argument("--no-loadgen", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--profile-delay", type=float)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    peer.raise_nofile()
    sides = ([Side("node", node=True)] if args.node else []) + [parse_variant(v) for v in args.variant or ["python="]]
    work = Path(tempfile.mkdtemp(prefix="presence-bench-"))
    results: dict[str, list[dict]] = {s.name: [] for s in sides}
    keys = [
        "hb_per_s", "server_cpu_pct", "server_hb_per_cpu_s", "latency_p50_ms", "latency_p99_ms", "paced_rate_achieved",
        "paced_latency_p50_ms", "paced_latency_p99_ms", "rss_per_1k_sockets_mb", "agents_connect_s", "joins_s",
        "widgets_connect_s", "offline_events", "other_cpu_pct",
    ]  # fmt: skip
    dkeys = [
        "widgets_online_s",
        "agents_join_s",
        "offline_p50_ms",
        "offline_max_ms",
        "offline_in_deadline",
        "rss_per_1k_mb",
    ]
    for rep in range(args.reps):
        for side in sides:
            r: dict = {}
            if not args.no_loadgen:
                r = run_loadgen(side, args, work, args.paced_rate)
                log(
                    f"{side.name} rep {rep + 1}: "
                    + ", ".join(f"{k}={r.get(k)}" for k in keys)
                    + f" problems={r.get('problems')} err={r.get('error')}"
                )
            if args.departure:
                d = run_departure(side, args, work, args.conversations)
                log(
                    f"{side.name} rep {rep + 1} departure: "
                    + ", ".join(f"{k}={d.get(k)}" for k in dkeys)
                    + f" err={d.get('error')}"
                )
                r["departure"] = d
            results[side.name].append(r)
    print(f"\nC={args.conversations} A={args.agents} reps={args.reps} paced={args.paced_rate}")
    for side in sides:
        rs = results[side.name]
        cells = []
        for k in keys:
            vals = [x[k] for x in rs if isinstance(x.get(k), (int, float))]
            cells.append(f"{k}={statistics.median(vals):g}" if vals else f"{k}=-")
        for k in dkeys:
            vals = [x["departure"][k] for x in rs if isinstance(x.get("departure", {}).get(k), (int, float))]
            if vals:
                cells.append(f"{k}={statistics.median(vals):g}")
        print(f"{side.name:>12}: " + " ".join(cells))
    if args.profile:
        for side in sides:
            raw = peer.RESULTS / f"profile-{side.name}-c{args.conversations}-loadgen.txt"
            if raw.exists():
                print(f"\npy-spy {side.name} (inclusive % of samples):")
                for frame, pct in top_frames(raw, 40):
                    print(f"  {pct:5.1f}%  {frame}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    with contextlib.suppress(OSError):
        import shutil

        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
