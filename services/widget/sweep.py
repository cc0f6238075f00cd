"""The widget lease sweep (the job `widget_leases`, every PRESENCE_WIDGET_SWEEP_EVERY).

A lease is the time of a socket's last heartbeat; the server, not the dashboard,
decides it has expired. Sweeping also settles departures whose reload grace is
over (backstop for the owning node's timer) and forgets nodes that died.
"""

from __future__ import annotations

import logging

from domain.clock import Clock
from infra.broadcast import Broadcaster
from infra.metrics import Metrics
from infra.settings import Settings
from realtime.store.base import PresenceStore, node_lost_after
from realtime.store.connections import Connections
from services.widget.feed import CustomerFeed

log = logging.getLogger("presence.widget")


class LeaseSweep:
    def __init__(
        self,
        store: PresenceStore,
        feed: CustomerFeed,
        connections: Connections,
        broadcaster: Broadcaster,
        settings: Settings,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._store = store
        self._feed = feed
        self._connections = connections
        self._broadcaster = broadcaster
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self._node_lost_after = node_lost_after(settings.widget_sweep_every)

    async def run(self) -> dict[str, int]:
        """Expires leases not refreshed for PRESENCE_WIDGET_OFFLINE_AFTER (their sockets
        are disconnected; agents hear reason `timeout`) and settles departures whose
        grace is over. The job `widget_leases`."""
        now = self._clock()
        offline_after = self._settings.widget_offline_after
        expired = await self._store.expired(now, offline_after)
        for conversation_id, sid in expired:
            outcome = await self._store.expire(conversation_id, sid, now, offline_after)
            if outcome is None:
                continue  # refreshed since it was listed, or another sweep took it
            info = self._connections.get(sid)
            if info is not None and info.binding is not None and info.binding.conversation_id == conversation_id:
                info.binding = None
            await self._feed.record(outcome)
            log.debug("widget lease expired conversation=%s sid=%s", conversation_id, sid)
            await self._broadcaster.disconnect(sid)
        lost = 0
        for node in await self._store.lost_nodes(now, self._node_lost_after):
            for outcome in await self._store.forget_node(node, now):
                lost += 1
                await self._feed.record(outcome)
        settled = 0
        for conversation_id in await self._store.due_departures(now):
            outcome = await self._store.settle(conversation_id, now)
            if outcome is not None and outcome.notices:
                settled += 1
                await self._feed.record(outcome)
        self._metrics.swept.labels("widget_leases").inc(len(expired))
        result = {"expired": len(expired), "settled": settled}
        if lost:
            result["node_lost"] = lost
        return result
