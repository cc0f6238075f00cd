"""python-socketio's emit to a room without a task per recipient.

Stock `AsyncManager.emit` (python-socketio 5.18) wraps every recipient's send
in `asyncio.create_task` and then `asyncio.wait`s them all: for the usual
`customer:*` event to a conversation room of one or two agents, that is a
task, a `wait` (futures, callbacks) and two extra loop iterations per event.
Once `install()`ed, an emit without a callback encodes the packet once (as
stock) and sends it to each local recipient in turn.

A send never waits for its peer (engineio_loop writes frames without awaiting
a drain, and closes a socket whose unsent bytes pass a bound; stock's queue
put never waits either), so one slow recipient cannot hold up the recipients
after it, nor the feed that called emit (tests/test_slow_consumer.py). A
failing send to one recipient is logged and the others still get theirs
(stock: the task's exception was left unretrieved).

Cluster: the Redis manager's `emit` still publishes every event for the other
nodes and delivers locally through this (`_handle_emit` -> `AsyncManager.emit`),
so agents on other nodes are reached exactly as before.

Also `Packet.data_is_binary`, called on every packet built, is replaced by an
equivalent without `functools.reduce` over a list of lambdas.

Pinned to python-socketio 5.18.x (pyproject.toml).
"""

from __future__ import annotations

import logging

from engineio import packet as eio_packet
from socketio import async_manager, packet
from socketio import packet as sio_packet

from realtime.sockets.fast.versions import pinned

log = logging.getLogger("presence.perf")

_installed = False


def _data_is_binary(cls, data):  # type: ignore[no-untyped-def]
    """Stock's result (any bytes/bytearray anywhere in lists and dict values), without reduce."""
    if isinstance(data, (bytes, bytearray)):
        return True
    if isinstance(data, list):
        for item in data:
            if _data_is_binary(cls, item):
                return True
        return False
    if isinstance(data, dict):
        for item in data.values():
            if _data_is_binary(cls, item):
                return True
    return False


def install() -> bool:
    global _installed
    if _installed:
        return True
    if not pinned("python-socketio"):
        return False
    cls = async_manager.AsyncManager
    stock_emit = cls.emit

    async def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kwargs):  # type: ignore[no-untyped-def]
        if callback:
            return await stock_emit(
                self, event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs
            )
        room = to or room
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            data = list(data)
        elif data is not None:
            data = [data]
        else:
            data = []
        if not isinstance(skip_sid, list):
            skip_sid = [skip_sid]
        recipients = [eio_sid for sid, eio_sid in self.get_participants(namespace, room) if sid not in skip_sid]
        if not recipients:
            return
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace, data=[event, *data]).encode()
        if not isinstance(encoded, list):
            encoded = [encoded]
        eio_pkts = [eio_packet.Packet(eio_packet.MESSAGE, p) for p in encoded]
        send = self.server._send_eio_packet
        for eio_sid in recipients:
            try:
                for p in eio_pkts:
                    await send(eio_sid, p)
            except Exception:
                log.exception("emit %s to %s failed", event, eio_sid)

    cls.emit = emit
    sio_packet.Packet.data_is_binary = classmethod(_data_is_binary)
    _installed = True
    return True
