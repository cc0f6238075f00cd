"""The rules of SPEC.md as plain functions of data and a clock.

Nothing here imports aiohttp, Socket.IO or a database driver: each rule can be
tested by moving a number, and reused by any front end.

- `widget_presence`: leases of widget sockets, the reload grace, away, devices (§3)
- `clock`: the clock type and ISO 8601 UTC formatting used on the wire (§2)
"""
