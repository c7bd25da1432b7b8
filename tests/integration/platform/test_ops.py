"""Operators' endpoints: health, readiness, metrics, pools, OpenAPI."""

from __future__ import annotations

from tests.integration.platform.helper import submit, wait_status


async def test_health_and_ready(http) -> None:
    assert (await http.get("/health")).json() == {"status": "ok"}
    ready = await http.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "postgres": "ok", "redis": "ok"}


async def test_pools_overview_for_operators_only(http, login, worker) -> None:
    alice, op = await login("alice"), await login("ops", roles=["operator"])
    assert (await http.get("/admin/pools", headers=alice["headers"])).status_code == 403
    await worker("media", concurrency=3)
    job = await submit(http, alice["headers"], "platform.noop", pool="media")
    await wait_status(http, alice["headers"], job["id"], "completed")
    waiting = await submit(http, alice["headers"], "platform.noop", pool="rigging")
    body = (await http.get("/admin/pools", headers=op["headers"])).json()
    pools = {p["pool"]: p for p in body["pools"]}
    assert set(pools) == {"gpu", "rigging", "media", "indexing"}
    media = pools["media"]
    assert len(media["workers"]) == 1 and media["concurrency"] == 3
    assert media["completed_last_minute"] == 1 and media["queue_depth"] == 0
    rigging = pools["rigging"]
    assert rigging["workers"] == [] and rigging["queue_depth"] == 1
    assert rigging["oldest_pending_age_s"] is not None
    assert waiting["status"] == "pending"


async def test_metrics_in_prometheus_format(http, login, worker) -> None:
    alice = await login("alice")
    await worker()
    job = await submit(http, alice["headers"], "platform.noop")
    await wait_status(http, alice["headers"], job["id"], "completed")
    text = (await http.get("/metrics")).text
    assert 'switchyard_jobs{kind="platform.noop",status="completed"} 1.0' in text
    assert 'switchyard_queue_depth{pool="indexing"} 0.0' in text
    assert "switchyard_websocket_connections 0.0" in text
    assert 'switchyard_job_duration_seconds{kind="platform.noop",quantile="0.5"}' in text


async def test_openapi_describes_the_platform_routes(http) -> None:
    doc = (await http.get("/openapi.json")).json()
    paths = doc["paths"]
    for path in (
        "/jobs",
        "/jobs/batch",
        "/jobs/{job_id}",
        "/jobs/{job_id}/cancel",
        "/auth/login",
        "/auth/refresh",
        "/auth/me",
        "/health",
        "/ready",
        "/metrics",
        "/admin/pools",
    ):
        assert path in paths, path
    schemas = doc["components"]["schemas"]
    assert "JobRequest" in schemas and "JobView" in schemas
    assert "kind" in schemas["JobRequest"]["properties"]
    docs = await http.get("/docs/")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
