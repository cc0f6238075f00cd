"""`--preload` module for the official protocol suites (/work/shared/protocol-suites `run`):
installs every class-level patch of this package so the suites check them together
(tests/test_protocol_suites.py)."""

from realtime.sockets.fast import emit, engineio_loop, rooms

assert engineio_loop.install() and rooms.install() and emit.install(), "not the pinned versions"
