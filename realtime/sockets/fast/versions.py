"""The versions the patches of this package were written against (pyproject.toml pins them too)."""

from __future__ import annotations

import importlib.metadata
import logging

log = logging.getLogger("presence.perf")

PINNED = {"python-engineio": "4.15.", "python-socketio": "5.18.", "aiohttp": "3.14."}


def pinned(*dists: str) -> bool:
    """True when every named distribution has its pinned version; else logs which does not."""
    for dist in dists:
        version = importlib.metadata.version(dist)
        if not version.startswith(PINNED[dist]):
            log.warning("%s %s is not %sx: the stock code is kept", dist, version, PINNED[dist])
            return False
    return True
