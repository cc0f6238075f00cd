"""`make bench`: the performance suite, one table, and bench/results/latest.json.

    make bench                          # every part, default sizes (about 10 minutes)
    make bench PARTS=relay,memory       # some parts
    make bench ARGS="--relay-sizes 1000 --reps 2 --variants base=PRESENCE_PERF=none"

Parts (each selectable):
  relay     (1) heartbeat relay beside the Node reference at 1k and 10k widgets: bench-peer's
            loadgen.js (closed loop, then paced at half of Node's rate; then a run paced at
            --target-rate, 5,000/s, the issue's p99 target), and bench/departure.js
            (connect storm, then a mass departure: each customer:offline timed)
  memory    (2) RSS per idle widget socket at 1k, 10k, 20k; tracemalloc bytes per socket by site
  rest      (3) REST user heartbeats: requests/s and database writes (PostgreSQL counters)
  sweeps    (4) users / widget leases (sessions, streams: hook) sweeps at 10k, 100k, 1M rows, 0.1% expired
  activity  (5) DAU/WAU/MAU on 1M users (PostgreSQL)

Python variants: `--variants NAME=ENV,...` (default `python=` i.e. the server as configured;
`base=PRESENCE_PERF=none` adds stock python-socketio behaviour for comparison).
PostgreSQL: PRESENCE_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import peer
import relay

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PARTS = ("relay", "memory", "rest", "sweeps", "activity")


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def part_relay(args) -> dict:
    sides = [relay.Side("node", node=True)] + [relay.parse_variant(v) for v in args.variants]
    work = Path(tempfile.mkdtemp(prefix="presence-bench-relay-"))
    out: dict = {}
    for c in args.relay_sizes:
        a = 50 if c <= 1000 else 100
        ns = argparse.Namespace(
            conversations=c, agents=a, duration=args.duration, warmup=2, paced_duration=4,
            connect_concurrency=100, grace=0.5, profile=args.profile, profile_delay=None,
        )  # fmt: skip
        size: dict = {}
        for rep in range(args.reps):
            for side in sides:
                # paced at half of the Node reference's closed-loop rate (the same absolute rate for every side)
                node_hb = [r["hb_per_s"] for r in size.get("node", []) if r.get("hb_per_s")]
                paced = str(round(0.5 * statistics.median(node_hb))) if node_hb else "auto:0.5"
                r = relay.run_loadgen(side, ns, work, paced)
                if args.target_rate:
                    # the target: p99 at a fixed 5,000/s, below either side's capacity
                    # (half of Node's rate is above ours on a quiet box), after a 1 s closed loop
                    tns = argparse.Namespace(**{**vars(ns), "duration": 1, "warmup": 1, "paced_duration": 10})
                    t = relay.run_loadgen(side, tns, work, str(args.target_rate))
                    r["target"] = {k: t.get(k) for k in ("paced_rate_achieved", "paced_latency_p50_ms",
                                                        "paced_latency_p99_ms", "other_cpu_pct")}  # fmt: skip
                d = relay.run_departure(side, ns, work, c)
                r["departure"] = d
                size.setdefault(side.name, []).append(r)
                log(
                    f"relay {c} {side.name} rep {rep + 1}: {r.get('hb_per_s')} hb/s, paced p99 "
                    f"{r.get('paced_latency_p99_ms')} ms, offline in deadline {d.get('offline_in_deadline')}/{c}"
                    + (f", error {r.get('error') or d.get('error')}" if (r.get("error") or d.get("error")) else "")
                )
        out[str(c)] = size
    return out


def part_activity(pg: str, users: int) -> dict:
    import activity_metrics as am

    from db.engine import create_engine
    from db.migrate import upgrade

    url = am.scratch_database(pg)
    upgrade(url)
    started = time.perf_counter()
    asyncio.run(am.load(url, users))
    load_s = time.perf_counter() - started

    async def measure() -> dict:
        engine = create_engine(url)
        tracker = am.tracker_on(engine)
        await tracker.metrics(detailed=True)
        res: dict = {"users": users}
        for detailed in (False, True):
            times = []
            for _ in range(10):
                t = time.perf_counter()
                m = await tracker.metrics(detailed=detailed)
                times.append(1000 * (time.perf_counter() - t))
            res["detailed" if detailed else "plain"] = {
                "median_ms": round(statistics.median(times), 1),
                "min_ms": round(min(times), 1),
                "dau": m.figures.dau,
                "wau": m.figures.wau,
                "mau": m.figures.mau,
            }
        await engine.dispose()
        return res

    res = asyncio.run(measure())
    res["load_s"] = round(load_s, 1)
    return res


# ------------------------------------------------------------------ the table
def med(rs: list[dict], key: str, sub: str | None = None):
    vals = [(r.get(sub) or {}).get(key) if sub else r.get(key) for r in rs]
    vals = [v for v in vals if isinstance(v, (int, float))]
    return statistics.median(vals) if vals else None


def fmt(v, d=1) -> str:
    return "-" if v is None else f"{v:,.{d}f}"


RELAY_ROWS = [
    ("hb_per_s", None, "heartbeats acked /s (closed loop)", 0),
    ("server_hb_per_cpu_s", None, "heartbeats per server CPU-second", 0),
    ("latency_p50_ms", None, "fan-out p50 ms (closed loop)", 1),
    ("latency_p99_ms", None, "fan-out p99 ms (closed loop)", 1),
    ("paced_rate_achieved", None, "paced heartbeats /s (half of Node's)", 0),
    ("paced_latency_p50_ms", None, "fan-out p50 ms (paced)", 2),
    ("paced_latency_p99_ms", None, "fan-out p99 ms (paced)", 2),
    ("paced_latency_p50_ms", "target", "fan-out p50 ms (paced at --target-rate)", 2),
    ("paced_latency_p99_ms", "target", "fan-out p99 ms (paced at --target-rate)", 2),
    ("rss_per_1k_sockets_mb", None, "RSS per 1k sockets MB (loadgen)", 1),
    ("widgets_online_s", "departure", "widgets connect + online s", 2),
    ("agents_join_s", "departure", "agents connect + join s", 2),
    ("offline_p50_ms", "departure", "mass departure: offline p50 ms", 0),
    ("offline_max_ms", "departure", "mass departure: offline max ms", 0),
    ("offline_in_deadline", "departure", "offline within grace + 2 s (count)", 0),
    ("other_cpu_pct", None, "other processes CPU % (noise)", 0),
]


def table(results: dict) -> list[str]:
    lines: list[str] = []
    if "relay" in results:
        for c, size in results["relay"].items():
            names = list(size)
            lines.append(
                f"(1) heartbeat relay, {int(c):,} widgets (median of reps; ratio = first python variant / node)"
            )
            w = max(len(r[2]) for r in RELAY_ROWS)
            lines.append(f"  {'':<{w}}  " + "  ".join(f"{n:>12}" for n in names) + "  python/node")
            py = next((n for n in names if n != "node"), None)
            for key, sub, label, d in RELAY_ROWS:
                vals = {n: med(size[n], key, sub) for n in names}
                ratio = "-"
                if py and vals.get("node") and vals.get(py) is not None:
                    ratio = f"{vals[py] / vals['node']:.2f}"
                lines.append(
                    f"  {label:<{w}}  " + "  ".join(f"{fmt(vals[n], d):>12}" for n in names) + f"  {ratio:>11}"
                )
    if "memory" in results:
        lines.append("(2) memory per idle widget socket (10 agents)")
        for side, rows in results["memory"].items():
            for c, r in rows.items():
                t = r.get("tracemalloc") or {}
                lines.append(
                    f"  {side:>8} {int(c):>6,} widgets: RSS {fmt(r.get('rss_per_idle_widget_kb'))} KB/widget, "
                    f"{fmt(r.get('rss_per_1k_mb'))} MB per 1k sockets, "
                    f"total {fmt((r.get('rss_connected_kb') or 0) / 1024, 0)} MB"
                    + (
                        f" (measured with {r['rss_extrapolated_from']:,}, the file limit; same cost per widget)"
                        if r.get("rss_extrapolated_from")
                        else ""
                    )
                    + (f" [{r['error']}]" if r.get("error") else "")
                    + (f"; tracemalloc {t['bytes_per_widget']:,} B/widget" if t.get("bytes_per_widget") else "")
                )
                if t.get("by_package"):
                    lines.append(
                        "           by package: "
                        + ", ".join(f"{k} {v:,}" for k, v in list(t["by_package"].items())[:6])
                    )
                for site, b in (t.get("top_sites") or [])[:8]:
                    lines.append(f"           {b:>6,} B  {site}")
    if "rest" in results:
        r = results["rest"]
        if r.get("error"):
            lines.append(f"(3) REST user heartbeats: {r['error']}")
        else:
            lines.append(
                f"(3) REST user heartbeats ({r['users']:,} users, {r['concurrency']} in flight): "
                f"{fmt(r['requests_per_s'], 0)} req/s at {fmt(r['server_cpu_pct'], 0)}% server CPU, "
                f"p99 {fmt(r['p99_ms'])} ms; database: {r['db_commits_per_request']} commits/request, "
                f"{fmt(r['users_written_per_s'])} user rows written/s "
                f"({r['db']['users_index_scans']:,} index scans on users)"
            )
    if "sweeps" in results:
        lines.append(
            "(4) sweeps on PostgreSQL (widget leases: in process), min ms of the runs: 0.1% expired (swept) | "
            "100 expired on the same rows"
        )
        for name, rows in results["sweeps"].items():
            if "status" in rows or "error" in rows:
                lines.append(f"  {name:>14}: {rows.get('status') or rows.get('error')}")
                continue
            cells = [
                f"{int(n):>9,} rows {fmt(r['min_ms'], 1):>7} ms ({int(r['swept']):,})"
                f" | {fmt(r.get('fixed_min_ms'), 1)} ms"
                for n, r in rows.items()
            ]
            lines.append(f"  {name:>14}: " + "; ".join(cells))
    if "activity" in results:
        a = results["activity"]
        if a.get("error"):
            lines.append(f"(5) DAU/WAU/MAU: {a['error']}")
        else:
            lines.append(
                f"(5) DAU/WAU/MAU on {a.get('users', 0):,} users: {a['plain']['median_ms']} ms median "
                f"({a['detailed']['median_ms']} ms with the 30-day breakdown); dau {a['plain']['dau']:,}, "
                f"wau {a['plain']['wau']:,}, mau {a['plain']['mau']:,}"
            )
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default=os.environ.get("PARTS") or ",".join(PARTS))
    ap.add_argument("--variants", action="append", default=None, help="NAME=ENV for a python server (repeatable)")
    ap.add_argument("--relay-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 10000])
    ap.add_argument("--memory-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 10000, 20000])
    ap.add_argument("--trace-sizes", type=lambda s: [int(x) for x in s.split(",") if x], default=[1000])
    ap.add_argument("--activity-users", type=int, default=1_000_000)
    ap.add_argument("--node-memory-max", type=int, default=10_000, help="largest memory size run on the Node reference")
    ap.add_argument("--sweep-runs", type=int, default=3)
    ap.add_argument(
        "--sweep-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000, 1_000_000]
    )
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument(
        "--target-rate", type=int, default=5000, help="relay: also 10 s paced at this rate, every side (0: off)"
    )
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="py-spy the python servers during the closed loop")
    ap.add_argument("--json", type=Path, default=peer.RESULTS / "latest.json")
    args = ap.parse_args()
    args.variants = args.variants or ["python="]
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts {', '.join(sorted(unknown))} (known: {', '.join(PARTS)})")
    peer.raise_nofile()
    pg = os.environ.get("PRESENCE_BENCH_POSTGRES_URL", DEFAULT_PG)
    results: dict = {
        "meta": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "parts": parts,
            "variants": args.variants,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        }
    }
    started = time.monotonic()
    for part in parts:
        t = time.monotonic()
        try:
            if part == "relay":
                results["relay"] = part_relay(args)
            elif part == "memory":
                import memory

                ns = argparse.Namespace(agents=10, connect_concurrency=100, grace=0.5)
                sides = [relay.Side("node", node=True)] + [relay.parse_variant(v) for v in args.variants]
                # sizes the relay part measured already (its connect storm reads the same RSS) are not run again
                known = {
                    side: {
                        c: size[side][0]["departure"] for c, size in results.get("relay", {}).items() if side in size
                    }
                    for side in [s.name for s in sides]
                }
                results["memory"] = memory.run(
                    ns, sides, args.memory_sizes, args.trace_sizes, known=known, node_max=args.node_memory_max
                )
            elif part == "rest":
                import rest

                results["rest"] = rest.run(pg, log=log)
            elif part == "sweeps":
                import sweeps

                results["sweeps"] = sweeps.run(pg, args.sweep_sizes, runs=args.sweep_runs, log=log)
            elif part == "activity":
                results["activity"] = part_activity(pg, args.activity_users)
        except Exception as e:
            log(f"part {part} failed: {e!r}")
            results[part] = {"error": repr(e)}
        log(f"part {part}: {time.monotonic() - t:.0f} s")
    results["meta"]["seconds"] = round(time.monotonic() - started)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print()
    for line in table(results):
        print(line)
    print(f"\nresults: {args.json}  ({results['meta']['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
