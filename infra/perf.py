"""Which performance measures are on: one switchboard for every `# perf:` hook.

`PRESENCE_PERF` (our own setting, not in SPEC §1; for A/B benchmarks) lists
them, comma-separated. Unset or empty: every one (the default, what production
runs). `none`: none of them (stock python-socketio / python-engineio
behaviour, per-row departure writes, a database read per widget:online and
per conversation:join). `-name,...`: all but those.

- gc (infra/gc_tuning.py): gc.freeze() after start-up, gen-0 threshold 50,000.
- eio (realtime/sockets/fast/engineio_loop.py): engine.io's WebSocket loop without a
  task + wait_for per message; frames written without waiting for the peer, and a
  socket whose send buffer stays past a bound is closed.
- emit (realtime/sockets/fast/emit.py): emit to a room without a task per recipient.
- rooms (realtime/sockets/fast/rooms.py): disconnect without scanning every room.
- middleware (realtime/sockets/fast/engineio_loop.py): Socket.IO requests skip the
  REST middlewares (~2.5 KB per socket).
- environ (realtime/sockets/fast/__init__.py): a socket's environ emptied once it has
  connected (~2 KB per socket).
- departures (services/widget/departures.py): lastSeen writes group-committed; a
  failed batch is retried.
- registry (realtime/store registrations): widget:online and conversation:join read the
  presence store's copy of the conversation (written by PUT), not the database.
- uvloop (presence/eventloop.py): uvloop's event loop when installed (`presence[fast]`).
"""

from __future__ import annotations

import os

ALL = ("gc", "eio", "emit", "rooms", "middleware", "environ", "departures", "registry", "uvloop")
ENV = "PRESENCE_PERF"


def enabled_set(raw: str | None = None) -> frozenset[str]:
    raw = os.environ.get(ENV) if raw is None else raw
    if raw is None or raw.strip() == "":
        return frozenset(ALL)
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if names == ["none"]:
        return frozenset()
    unknown = [n for n in names if n.lstrip("-") not in ALL]
    if unknown:
        raise ValueError(f"{ENV}: unknown {', '.join(unknown)} (known: {', '.join(ALL)}, none)")
    if all(n.startswith("-") for n in names):
        return frozenset(ALL) - {n[1:] for n in names}
    if any(n.startswith("-") for n in names):
        raise ValueError(f"{ENV}: either names to turn on or -names to turn off, not both")
    return frozenset(names)


def enabled(name: str) -> bool:
    return name in enabled_set()
