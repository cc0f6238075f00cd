"""python-socketio's disconnect without a scan of every room: mass departures in linear time.

Stock `BaseManager.basic_disconnect` copies the namespace's whole room table
and tests every room for the leaving sid: with N connected sockets there are
at least N rooms (each socket's own sid room), so N sockets leaving cost
O(N^2). Measured (bench/NOTES.md, "rooms"): 10,000 sockets disconnecting
back to back in the manager alone: stock 10.3 s of CPU, with this 0.03 s.

This keeps, per (namespace, sid), the set of rooms the sid entered besides
`None` (the namespace's member list) and its own sid room, and leaves exactly
those. Widget sockets, which join no room, cost no index entry at all.

Pinned to python-socketio 5.18 (pyproject.toml; it replaces `basic_enter_room`,
`basic_leave_room`, `basic_disconnect` and `get_rooms` of `BaseManager`; the
Redis manager inherits them): on another version `install()` refuses
and the stock code runs. Assumes every room change goes through those three
methods (true of 5.18: close_room and the pub/sub managers call them).
"""

from __future__ import annotations

import logging

from socketio import base_manager

from realtime.sockets.fast.versions import pinned

log = logging.getLogger("presence.perf")

_installed = False


def install() -> bool:
    global _installed
    if _installed:
        return True
    if not pinned("python-socketio"):
        return False
    cls = base_manager.BaseManager
    stock_enter, stock_leave = cls.basic_enter_room, cls.basic_leave_room

    def extra(self):  # type: ignore[no-untyped-def]
        try:
            return self._perf_sid_rooms
        except AttributeError:
            self._perf_sid_rooms = {}
            return self._perf_sid_rooms

    def basic_enter_room(self, sid, namespace, room, eio_sid=None):  # type: ignore[no-untyped-def]
        stock_enter(self, sid, namespace, room, eio_sid=eio_sid)
        if room is not None and room != sid:
            extra(self).setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid, namespace, room):  # type: ignore[no-untyped-def]
        stock_leave(self, sid, namespace, room)
        rooms = extra(self).get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._perf_sid_rooms[(namespace, sid)]

    def basic_disconnect(self, sid, namespace, **kwargs):  # type: ignore[no-untyped-def]
        if namespace not in self.rooms:
            return
        for room in list(extra(self).get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        # its own sid room, then the namespace's member list (the order stock leaves them in)
        for room in (sid, None):
            ns = self.rooms.get(namespace)
            if ns is not None and room in ns and sid in ns[room]:
                self.basic_leave_room(sid, namespace, room)
        if sid in self.callbacks:
            del self.callbacks[sid]
        if namespace in self.pending_connect and sid in self.pending_connect[namespace]:
            self.pending_connect[namespace].remove(sid)
            if len(self.pending_connect[namespace]) == 0:
                del self.pending_connect[namespace]
        if namespace in self.pending_disconnect and sid in self.pending_disconnect[namespace]:
            self.pending_disconnect[namespace].remove(sid)
            if len(self.pending_disconnect[namespace]) == 0:
                del self.pending_disconnect[namespace]

    def get_rooms(self, sid, namespace):  # type: ignore[no-untyped-def]
        ns = self.rooms.get(namespace, {})
        r = [sid] if sid in ns and sid in ns[sid] else []
        return r + [room for room in extra(self).get((namespace, sid), ()) if room in ns and sid in ns[room]]

    cls.basic_enter_room = basic_enter_room
    cls.basic_leave_room = basic_leave_room
    cls.basic_disconnect = basic_disconnect
    cls.get_rooms = get_rooms
    _installed = True
    return True
