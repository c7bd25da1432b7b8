"""Operations: liveness, readiness, Prometheus metrics and the pool overview."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import SkipValidation
from prometheus_client import CollectorRegistry, Gauge, Metric, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import text

from api.error import PLATFORM_ERRORS, Forbidden
from api.state import Resources, from_request
from infra.db import job as repo
from infra.pool import PoolsOverview, live_workers, overview, queue_depth
from infra.redis import restarts_key
from infra.security import Principal
from infra.settings import POOLS


class Health(msgspec.Struct):
    status: str


class Ready(msgspec.Struct):
    status: str
    postgres: str
    redis: str


# OpenAPI's "no authentication" is one empty requirement: probes and scrapers send no token.
_NO_AUTH: list[dict[str, list[str]]] = [{}]


@get(
    "/health",
    tags=["ops"],
    summary="Liveness",
    security=_NO_AUTH,
    responses=PLATFORM_ERRORS.responses(),
)
async def health() -> Health:
    return Health(status="ok")


async def _check(coro: Any) -> str:
    try:
        await asyncio.wait_for(coro, 2)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:200]


async def _pg_ping(res: Resources) -> None:
    async with res.autocommit.connect() as conn:
        await conn.execute(text("SELECT 1"))


@get(
    "/ready",
    tags=["ops"],
    summary="Readiness: Postgres and Redis reachable",
    security=_NO_AUTH,
    responses={
        503: ResponseSpec(
            Ready, description="Postgres or Redis unreachable", generate_examples=False
        ),
        **PLATFORM_ERRORS.responses(),
    },
)
async def ready(request: Request[Any, Any, Any]) -> Response[Ready]:
    res = from_request(request)
    pg, rd = await asyncio.gather(_check(_pg_ping(res)), _check(res.redis.ping()))
    ok = pg == "ok" and rd == "ok"
    body = Ready(status="ok" if ok else "unavailable", postgres=pg, redis=rd)
    return Response(body, status_code=200 if ok else 503)


@get(
    "/admin/pools",
    tags=["ops"],
    summary="Worker pools: workers, backlog, throughput",
    responses=PLATFORM_ERRORS.responses(401, 403),
)
async def admin_pools(
    request: Request[Any, Any, Any],
    principal: SkipValidation[Principal],
) -> PoolsOverview:
    if not principal.has_any("admin", "operator"):
        raise Forbidden("operators and admins only")
    res = from_request(request)
    return await overview(res.autocommit, res.redis, res.keys)


class _Families(Collector):
    """Metric families built for one response."""

    def __init__(self, *families: Metric) -> None:
        self.families = families

    def collect(self) -> tuple[Metric, ...]:
        return self.families


@get(
    "/metrics",
    tags=["ops"],
    summary="Prometheus metrics",
    security=_NO_AUTH,
    media_type=CONTENT_TYPE_LATEST,
    responses=PLATFORM_ERRORS.responses(),
)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    res = from_request(request)
    reg = CollectorRegistry()
    jobs = Gauge("switchyard_jobs", "Jobs by kind and status", ["kind", "status"], registry=reg)
    durations = Gauge(
        "switchyard_job_duration_seconds",
        "Run time of jobs completed in the last 5 minutes",
        ["kind", "quantile"],
        registry=reg,
    )
    depth = Gauge("switchyard_queue_depth", "Commands waiting or running", ["pool"], registry=reg)
    workers = Gauge("switchyard_workers", "Live workers", ["pool"], registry=reg)
    ws = Gauge("switchyard_websocket_connections", "Open WebSocket connections", registry=reg)
    async with res.autocommit.connect() as conn:
        for row in await repo.counts_by_kind_status(conn):
            jobs.labels(row.kind, row.status).set(row.n)
        by_kind: dict[str, list[float]] = {}
        for row in await repo.recent_durations(conn):
            by_kind.setdefault(row.kind, []).append(float(row.seconds))
    for kind, values in by_kind.items():
        values.sort()
        for q in (0.5, 0.9, 0.99):
            durations.labels(kind, str(q)).set(values[min(len(values) - 1, int(q * len(values)))])
    for pool in POOLS:
        depth.labels(pool).set(await queue_depth(res.redis, res.keys, pool))
        workers.labels(pool).set(len(await live_workers(res.redis, res.keys, pool)))
    ws.set(res.hub.connections)
    # Counted by `switchyard up` (another process), which restarts its children when they exit.
    restarts = CounterMetricFamily(
        "switchyard_restarts", "Restarts by switchyard up", labels=["process"]
    )
    counts: dict[bytes, bytes] = await res.redis.hgetall(restarts_key(res.keys.prefix))  # type: ignore[misc]
    for name, n in counts.items():
        restarts.add_metric([name.decode()], int(n))
    reg.register(_Families(restarts))
    return Response(generate_latest(reg), media_type=CONTENT_TYPE_LATEST)
