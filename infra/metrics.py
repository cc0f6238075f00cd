"""Prometheus metrics (SPEC.md §10), in a registry of the app's own (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sockets = Gauge("presence_sockets_connected", "Socket.IO connections open on this node", registry=r)
        self.events = Counter(
            "presence_socket_events_total", "Socket.IO events received", ["event", "outcome"], registry=r
        )
        self.heartbeats = Counter("presence_heartbeats_total", "Heartbeats accepted", ["kind"], registry=r)
        self.sweeps = Counter("presence_sweeps_total", "Periodic job runs", ["job", "outcome"], registry=r)
        self.swept = Counter(
            "presence_swept_total", "Items a sweep ended (leases, users, sessions)", ["job"], registry=r
        )
        self.sessions_started = Counter(
            "presence_attendance_sessions_started_total", "Attendance sessions opened by a click", registry=r
        )
        self.sessions_ended = Counter(
            "presence_attendance_sessions_ended_total",
            "Attendance sessions ended, by how (completed, timeout)",
            ["status"],
            registry=r,
        )
        self.charges = Counter("presence_credit_charges_total", "Credit blocks charged", registry=r)
        self.stream_warnings = Counter(
            "presence_stream_warnings_total", "Livestream inactivity warnings sent", registry=r
        )
        self.stream_ends = Counter("presence_stream_ends_total", "Livestreams ended", ["reason"], registry=r)
        self.requests = Histogram(
            "presence_http_request_duration_seconds",
            "REST request latency",
            ["method", "route", "status"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
