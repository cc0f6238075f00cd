"""Part 2: memory per idle widget socket, and what a socket's bytes are spent on.

For each size (default 1k, 10k, 20k widgets, 10 agents): a fresh server, the
agents join every conversation, the widgets connect and go online, and the
server's RSS is read before and after the widgets (bench/departure.js
--mode=none): RSS per idle widget and per 1k sockets. Then, at the sizes in
--trace (default 1k and 10k), one more run with tracemalloc on
(PRESENCE_PERF_TRACEMALLOC, realtime/perf_memory.py): the difference between
the snapshots before and after the widgets, per allocation site, divided by the
number of widgets: the bytes one idle widget socket costs, and where.
"""

from __future__ import annotations

import linecache
import resource
import tempfile
import tracemalloc
from pathlib import Path

import relay

DEFAULT_SIZES = (1000, 10000, 20000)
FD_MARGIN = 150
"""File descriptors a server needs besides its sockets (listening socket, database, logs, ...)."""


def largest(c: int) -> int:
    """A process here may open at most RLIMIT_NOFILE files (its hard limit may be below 20,000 and
    not raisable in a container): a size past it is measured at the limit less FD_MARGIN."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return min(c, limit - FD_MARGIN - AGENTS)


TRACE_SIZES = (1000, 10000)
AGENTS = 10


def _package(filename: str) -> str:
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    for root in ("realtime", "presence", "api", "db", "domain"):
        if root in parts:
            return root
    return "python"


def _stdlib(filename: str) -> bool:
    return "site-packages" not in filename and "/lib/python3." in filename


def per_socket(before: Path, after: Path, widgets: int, top: int = 12) -> dict:
    """Bytes per widget by allocation site (innermost frame outside asyncio's and the stdlib's plumbing)."""
    old = tracemalloc.Snapshot.load(str(before))
    new = tracemalloc.Snapshot.load(str(after))
    stats = new.compare_to(old, "traceback")
    sites: dict[str, float] = {}
    packages: dict[str, float] = {}
    total = 0.0
    for st in stats:
        if st.size_diff <= 0:
            continue
        frames = list(reversed(st.traceback))  # tracemalloc lists the oldest frame first: allocation site first
        site = next((f for f in frames if not _stdlib(f.filename)), frames[0])
        code = linecache.getline(site.filename, site.lineno).strip()[:70]
        label = f"{_package(site.filename)}:{Path(site.filename).name}:{site.lineno} {code}"
        sites[label] = sites.get(label, 0) + st.size_diff
        pkg = _package(site.filename)
        packages[pkg] = packages.get(pkg, 0) + st.size_diff
        total += st.size_diff
    return {
        "bytes_per_widget": round(total / widgets),
        "by_package": {k: round(v / widgets) for k, v in sorted(packages.items(), key=lambda kv: -kv[1])},
        "top_sites": [(k, round(v / widgets)) for k, v in sorted(sites.items(), key=lambda kv: -kv[1])[:top]],
    }


def run(
    args, sides: list[relay.Side], sizes=DEFAULT_SIZES, trace_sizes=TRACE_SIZES, known=None, node_max=10_000
) -> dict:
    """`known`: {side: {size: departure.js result}} already measured (by the relay part), not run again."""
    work = Path(tempfile.mkdtemp(prefix="presence-bench-memory-"))
    out: dict = {}
    known = known or {}
    for side in sides:
        rows = {}
        for c in sizes:
            if side.node and c > node_max:
                continue
            r = (known.get(side.name) or {}).get(str(c))
            if r is None or not r.get("rss_per_idle_widget_kb"):
                r = relay.run_departure(side, args, work, largest(c), mode="none", agents=AGENTS)
            rows[str(c)] = {
                k: r.get(k)
                for k in (
                    "ok",
                    "error",
                    "rss_before_kb",
                    "rss_agents_kb",
                    "rss_connected_kb",
                    "rss_per_idle_widget_kb",
                    "rss_per_1k_mb",
                    "widgets_online_s",
                )
            }
            measured = largest(c) if r.get("conversations") is None else int(r["conversations"])
            rows[str(c)]["widgets_measured"] = measured
            if measured != c and r.get("rss_per_idle_widget_kb") and r.get("rss_agents_kb"):
                # measured at the file limit: the RSS c widgets would take, at the measured cost per widget
                rows[str(c)]["rss_connected_kb"] = round(r["rss_agents_kb"] + c * r["rss_per_idle_widget_kb"])
                rows[str(c)]["rss_extrapolated_from"] = measured
            relay.log(f"memory {side.name} {c}: {rows[str(c)]}")
        if not side.node:
            for c in trace_sizes:
                snaps = Path(tempfile.mkdtemp(prefix="snaps-", dir=work))
                r = relay.run_departure(
                    side,
                    args,
                    work,
                    c,
                    mode="none",
                    agents=AGENTS,
                    server_env={"PRESENCE_PERF_TRACEMALLOC": "6"},
                    snapshots_dir=snaps,
                )
                rows.setdefault(str(c), {})
                if (snaps / "snap-1.pickle").exists():
                    rows[str(c)]["tracemalloc"] = per_socket(snaps / "snap-0.pickle", snaps / "snap-1.pickle", c)
                else:
                    rows[str(c)]["tracemalloc"] = {"error": r.get("error") or "no snapshot"}
                relay.log(f"tracemalloc {side.name} {c}: {rows[str(c)]['tracemalloc']}")
        out[side.name] = rows
    return out
