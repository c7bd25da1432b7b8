"""The pool overview operators read in `/admin/pools` and `switchyard pools`."""

from __future__ import annotations

import msgspec
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from events.stream import StreamKeys
from infra.db import job as repo
from infra.settings import POOLS


class WorkerView(msgspec.Struct):
    worker_id: str
    concurrency: int
    running: int
    host: str
    pid: int
    started_at: float


class PoolView(msgspec.Struct):
    pool: str
    workers: list[WorkerView]
    concurrency: int
    queue_depth: int
    running: int
    completed_last_minute: int
    failed_last_minute: int
    oldest_pending_age_s: float | None


class PoolsOverview(msgspec.Struct):
    pools: list[PoolView]


async def queue_depth(redis: Redis, keys: StreamKeys, pool: str) -> int:
    """Commands not yet done: acknowledged entries are deleted, so the length is the backlog."""
    return int(await redis.xlen(keys.command(pool)))


async def live_workers(redis: Redis, keys: StreamKeys, pool: str) -> list[WorkerView]:
    found = [k async for k in redis.scan_iter(match=keys.workers_pattern(pool), count=500)]
    if not found:
        return []
    out = []
    for raw in await redis.mget(found):
        if raw:
            out.append(msgspec.json.decode(raw, type=WorkerView, strict=False))
    return sorted(out, key=lambda w: w.worker_id)


async def overview(engine: AsyncEngine, redis: Redis, keys: StreamKeys) -> PoolsOverview:
    async with engine.connect() as conn:
        stats = await repo.pool_stats(conn)
    pools = []
    for pool in POOLS:
        workers = await live_workers(redis, keys, pool)
        s = stats.get(pool, {})
        oldest = s.get("oldest_pending_s")
        pools.append(
            PoolView(
                pool=pool,
                workers=workers,
                concurrency=sum(w.concurrency for w in workers),
                queue_depth=await queue_depth(redis, keys, pool),
                running=int(s.get("running", 0)),
                completed_last_minute=int(s.get("completed_1m", 0)),
                failed_last_minute=int(s.get("failed_1m", 0)),
                oldest_pending_age_s=round(float(oldest), 3) if oldest is not None else None,
            )
        )
    return PoolsOverview(pools=pools)


def render_table(ov: PoolsOverview) -> str:
    """The overview as a fixed-width table for terminals."""
    head = ("POOL", "WORKERS", "CONCURRENCY", "QUEUE", "RUNNING", "DONE/1m", "FAILED/1m", "OLDEST")
    rows = [head]
    for p in ov.pools:
        oldest = "-" if p.oldest_pending_age_s is None else f"{p.oldest_pending_age_s:.1f}s"
        rows.append(
            (
                p.pool,
                str(len(p.workers)),
                str(p.concurrency),
                str(p.queue_depth),
                str(p.running),
                str(p.completed_last_minute),
                str(p.failed_last_minute),
                oldest,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
