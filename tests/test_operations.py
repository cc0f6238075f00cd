"""Operations (§6 health, §10): health, metrics, OpenAPI, JSON logs."""

from __future__ import annotations

from api.keys import SERVICES
from tests.conftest import Server


async def test_health_reports_database_redis_and_jobs(server: Server) -> None:
    await server.app[SERVICES].jobs.run("widget_leases")
    status, body = await server.request("GET", "/api/health", role=None)
    assert status == 200
    assert body["status"] == "ok" and body["database"] == "ok" and body["redis"] == "disabled"
    job = body["jobs"]["widget_leases"]
    assert job["last_run"].endswith("Z") and job["last_result"] == {"expired": 0, "settled": 0}


async def test_health_is_degraded_when_the_database_is_gone(make_server) -> None:
    # Nothing listens on port 1: every connection is refused at once.
    server = await make_server(database_url="postgresql+psycopg://presence@127.0.0.1:1/gone")
    status, body = await server.request("GET", "/api/health", role=None)
    assert status == 503 and body["status"] == "degraded" and body["database"] == "error"


async def test_metrics_count_sockets_events_and_requests(server: Server) -> None:
    await server.conversation("c1")
    widget, _ = await server.widget("c1")
    await widget.call("widget:heartbeat", {"conversationId": "c1", "sessionId": "s-c1"})
    status, text = await server.request("GET", "/metrics", role=None)
    assert status == 200
    assert "presence_sockets_connected 1.0" in text
    assert 'presence_socket_events_total{event="widget:heartbeat",outcome="ok"} 1.0' in text
    assert 'presence_heartbeats_total{kind="widget"} 2.0' in text
    assert (
        'presence_http_request_duration_seconds_count{method="PUT",route="/api/conversations/{id}",status="201"}'
        in text
    )


async def test_openapi_covers_every_registered_api_path(server: Server) -> None:
    status, doc = await server.request("GET", "/api/openapi.json", role=None)
    assert status == 200 and doc["openapi"].startswith("3.1")
    registered = {
        (r.method, r.resource.canonical)
        for r in server.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/") and r.method != "HEAD"
    }
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert registered <= documented
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)), sorted(ids)
    put = doc["paths"]["/api/conversations/{id}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "companyId",
        "platform",
        "sessionId",
    ]


def test_json_logs_are_one_object_per_line(capsys) -> None:
    import json
    import logging

    from infra.logs import configure
    from tests.helpers import preserved_logging

    with preserved_logging():
        configure("json")
        logging.getLogger("presence.widget").info("customer online conversation=%s devices=%d", "c1", 2)
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("infra.jobs").exception("job failed")
    lines = capsys.readouterr().err.strip().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "customer online conversation=c1 devices=2" and first["level"] == "info"
    assert first["logger"] == "presence.widget" and first["ts"].endswith("Z")
    assert second["level"] == "error" and "ValueError: boom" in second["exc"]
