"""What the benchmarks borrow from ../shared/bench-peer (the Node reference and its load generator).

`run-compare` is a script, not a module: it is loaded from its path so its npm
install cache (`npm_modules`), token minting (`mint`) and server process
handling (`Server`, `free_port`) are used exactly as `make bench-compare` uses them.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import resource
import shutil
import socket
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
BENCH_PEER = Path(os.environ.get("BENCH_PEER", ROOT.parent / "shared" / "bench-peer")).resolve()
RESULTS = ROOT / "bench" / "results"
COMPANY = "perf-co"


def run_compare() -> ModuleType:
    path = BENCH_PEER / "run-compare"
    if not path.exists():
        raise SystemExit(f"bench: {path} not found (set BENCH_PEER=/path/to/shared/bench-peer)")
    loader = importlib.machinery.SourceFileLoader("run_compare", str(path))
    spec = importlib.util.spec_from_loader("run_compare", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_compare"] = module
    loader.exec_module(module)
    return module


def node_modules() -> tuple[Path, Path]:
    """(loadgen's node_modules, the Node reference server's node_modules), installed once under /tmp."""
    rc = run_compare()
    return rc.npm_modules(BENCH_PEER), rc.npm_modules(BENCH_PEER / "node-ref")


def pins() -> tuple[list[str], list[str]]:
    """(server, load generator) taskset prefixes: core 0 and core 1 when there are two cores."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", "0"], ["taskset", "-c", "1"]
    return [], []


def raise_nofile(want: int = 65536) -> int:
    """Raises this process's open-file limit (children inherit it); root may raise the hard limit too."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target in ((want, max(hard, want)), (min(want, hard), hard)):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, target)
            break
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def python_exe() -> Path:
    venv = Path(os.environ.get("PRESENCE_VENV", ROOT / ".venv"))
    return (venv if venv.is_absolute() else ROOT / venv) / "bin"
