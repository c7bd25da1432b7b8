"""Every query on jobs and the outbox. Callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

import msgspec
from sqlalchemy import Row, Table, and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.job import ACTIVE
from infra.db import driver
from infra.db.model import Job, Outbox

jobs = cast(Table, Job.__table__)
outbox = cast(Table, Outbox.__table__)


_INSERT = text(
    """
    WITH v AS (
        SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:kinds AS text[]),
                             CAST(:pools AS text[]), CAST(:payloads AS text[]),
                             CAST(:max_tries AS int[]), CAST(:timeouts AS float8[]),
                             CAST(:owners AS uuid[]), CAST(:keys AS text[]),
                             CAST(:topics AS text[]))
               AS v(id, kind, pool, payload, max_tries, timeout_s, owner_id, idempotency_key,
                    topics)
    ), new_jobs AS (
        INSERT INTO jobs (id, kind, pool, payload, max_tries, timeout_s, owner_id,
                          idempotency_key, topics)
        -- Each job's extra topics travel as one JSON array (unnest cannot take ragged arrays).
        SELECT id, kind, pool, payload::jsonb, max_tries, timeout_s, owner_id, idempotency_key,
               ARRAY(SELECT jsonb_array_elements_text(topics::jsonb))
          FROM v
        ON CONFLICT ON CONSTRAINT uq_jobs_owner_idempotency DO NOTHING
        RETURNING *
    ), new_outbox AS (
        INSERT INTO outbox (job_id, pool) SELECT id, pool FROM new_jobs
    )
    SELECT * FROM new_jobs
    """
)


async def insert_jobs(
    conn: AsyncConnection, rows: Sequence[dict[str, Any]]
) -> list[tuple[Any, bool]]:
    """Insert jobs and their outbox rows; returns (job, created) in the order given.

    One statement with array parameters: atomic even on an autocommit connection, one round
    trip, and the same SQL text for any batch size, so Postgres plans it once per connection.
    A row whose (owner, idempotency_key) already exists is not inserted: the existing job
    comes back with created=False, so a retried submit never creates a second job.
    """
    params = {
        "ids": [r["id"] for r in rows],
        "kinds": [r["kind"] for r in rows],
        "pools": [r["pool"] for r in rows],
        "payloads": [msgspec.json.encode(r["payload"]).decode() for r in rows],
        "max_tries": [r["max_tries"] for r in rows],
        "timeouts": [float(r["timeout_s"]) for r in rows],
        "owners": [r["owner_id"] for r in rows],
        "keys": [r["idempotency_key"] for r in rows],
        "topics": [msgspec.json.encode(r.get("topics", [])).decode() for r in rows],
    }
    created = {r.id: r for r in await driver.fetch(conn, _INSERT, params)}
    out: list[tuple[Any, bool]] = []
    for row in rows:
        if row["id"] in created:
            out.append((created[row["id"]], True))
            continue
        existing = (
            await conn.execute(
                select(jobs).where(
                    jobs.c.owner_id == row["owner_id"],
                    jobs.c.idempotency_key == row["idempotency_key"],
                )
            )
        ).one()
        out.append((existing, False))
    return out


_DELETE_OUTBOX = text("DELETE FROM outbox WHERE job_id = ANY(CAST(:ids AS uuid[]))")


async def delete_outbox(conn: AsyncConnection, job_ids: Sequence[uuid.UUID]) -> None:
    if job_ids:
        await driver.fetch(conn, _DELETE_OUTBOX, {"ids": list(job_ids)})


async def get_job(
    conn: AsyncConnection, job_id: uuid.UUID, owner_id: uuid.UUID | None
) -> Row[Any] | None:
    """The job, or None when it does not exist or belongs to someone else (owner_id given)."""
    cond = jobs.c.id == job_id
    if owner_id is not None:
        cond = and_(cond, jobs.c.owner_id == owner_id)
    return (await conn.execute(select(jobs).where(cond))).one_or_none()


async def list_jobs(
    conn: AsyncConnection,
    owner_id: uuid.UUID | None,
    *,
    status: str | None,
    kind: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Row[Any]], int]:
    conds = []
    if owner_id is not None:
        conds.append(jobs.c.owner_id == owner_id)
    if status:
        conds.append(jobs.c.status == status)
    if kind:
        conds.append(jobs.c.kind == kind)
    where = and_(True, *conds)
    total = (await conn.execute(select(func.count()).select_from(jobs).where(where))).scalar_one()
    rows = (
        await conn.execute(
            select(jobs)
            .where(where)
            .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return list(rows), int(total)


async def cancel_pending(conn: AsyncConnection, job_id: uuid.UUID) -> Row[Any] | None:
    """Cancel a job that has not started; None if it is no longer pending."""
    return (
        await conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == "pending")
            .values(
                status="cancelled",
                cancel_requested=True,
                completed_at=func.now(),
                message="cancelled before it started",
            )
            .returning(*jobs.c)
        )
    ).one_or_none()


async def request_cancel(conn: AsyncConnection, job_id: uuid.UUID) -> Row[Any] | None:
    """Flag a running job for cancellation; the worker running it stops it and records it."""
    return (
        await conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == "running")
            .values(cancel_requested=True)
            .returning(*jobs.c)
        )
    ).one_or_none()


async def delete_finished(conn: AsyncConnection, job_id: uuid.UUID) -> bool:
    res = await conn.execute(
        delete(jobs).where(jobs.c.id == job_id, jobs.c.status.not_in(ACTIVE)).returning(jobs.c.id)
    )
    return res.one_or_none() is not None


# --- worker side -------------------------------------------------------------------------

_CLAIM = text(
    """
    UPDATE jobs
       SET status = 'running',
           attempts = attempts + 1,
           started_at = coalesce(started_at, now()),
           heartbeat_at = now(),
           worker_id = :worker,
           message = ''
     WHERE id = ANY(CAST(:ids AS uuid[]))
       AND NOT cancel_requested
       AND (status = 'pending'
            OR (status = 'running' AND worker_id IS DISTINCT FROM :worker
                AND heartbeat_at < now() - make_interval(secs => :stale_s)))
    RETURNING id, kind, pool, payload, attempts, max_tries, timeout_s, owner_id, progress,
              topics
    """
)


async def claim(
    conn: AsyncConnection, ids: Sequence[uuid.UUID], worker_id: str, stale_s: float
) -> list[driver.AttrRecord]:
    """Move pending jobs (or running ones whose worker went silent) to running for us.

    The row lock plus the status condition make this the single point where a job is given to
    exactly one worker: a second claimer waits for the first one's row lock, re-checks the
    condition (the row is running now) and gets no row back, as does a duplicate command.
    """
    if not ids:
        return []
    return await driver.fetch(
        conn, _CLAIM, {"ids": list(ids), "worker": worker_id, "stale_s": stale_s}
    )


async def set_progress(
    conn: AsyncConnection, job_id: uuid.UUID, worker_id: str, progress: int, message: str
) -> bool | None:
    """Record progress (also a heartbeat); returns cancel_requested, None if no longer ours."""
    row = (
        await conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.worker_id == worker_id, jobs.c.status == "running")
            .values(progress=progress, message=message, heartbeat_at=func.now())
            .returning(jobs.c.cancel_requested)
        )
    ).one_or_none()
    return None if row is None else bool(row.cancel_requested)


async def heartbeat(
    conn: AsyncConnection, ids: Sequence[uuid.UUID], worker_id: str
) -> dict[uuid.UUID, bool]:
    """Refresh heartbeats; returns {id: cancel_requested} for the jobs still ours."""
    if not ids:
        return {}
    rows = await conn.execute(
        update(jobs)
        .where(
            jobs.c.id == func.any(bindparam("ids", list(ids), type_=ARRAY(UUID(as_uuid=True)))),
            jobs.c.worker_id == worker_id,
            jobs.c.status == "running",
        )
        .values(heartbeat_at=func.now())
        .returning(jobs.c.id, jobs.c.cancel_requested)
    )
    return {r.id: bool(r.cancel_requested) for r in rows}


async def retrying(
    conn: AsyncConnection, job_id: uuid.UUID, worker_id: str, message: str
) -> Row[Any] | None:
    """Count another attempt of a job this worker keeps running after a transient error."""
    return (
        await conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.worker_id == worker_id, jobs.c.status == "running")
            .values(attempts=jobs.c.attempts + 1, message=message, heartbeat_at=func.now())
            .returning(*jobs.c)
        )
    ).one_or_none()


_FINISH_MANY = text(
    """
    UPDATE jobs AS j
       SET status = v.status,
           result = v.result::jsonb,
           error = v.error::jsonb,
           message = v.message,
           completed_at = now(),
           progress = CASE WHEN v.status = 'completed' THEN 100 ELSE j.progress END
      FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:results AS text[]),
                  CAST(:errors AS text[]), CAST(:messages AS text[]))
           AS v(id, status, result, error, message)
     WHERE j.id = v.id AND j.status = 'running' AND j.worker_id = :worker
    RETURNING j.id, j.progress, j.message, j.attempts
    """
)


async def finish_many(
    conn: AsyncConnection, worker_id: str, items: Sequence[dict[str, Any]]
) -> dict[uuid.UUID, driver.AttrRecord]:
    """Terminal transitions for many jobs in one statement (group commit of finishing jobs).

    Items carry id, status, result/error as JSON text (or None) and message. Only jobs still
    running on this worker change; the rows that did come back, by id.
    """
    res = await driver.fetch(
        conn,
        _FINISH_MANY,
        {
            "ids": [i["id"] for i in items],
            "statuses": [i["status"] for i in items],
            "results": [i["result"] for i in items],
            "errors": [i["error"] for i in items],
            "messages": [i["message"] for i in items],
            "worker": worker_id,
        },
    )
    return {r.id: r for r in res}


async def reap(conn: AsyncConnection, stale_s: float, limit: int = 200) -> list[Row[Any]]:
    """Running jobs whose worker stopped heartbeating: back to pending (with a new outbox row),
    or failed when they have used all their tries. Returns the rows changed."""
    stale = (
        select(jobs.c.id)
        .where(
            jobs.c.status == "running",
            jobs.c.heartbeat_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, stale_s),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    failed = (
        await conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(stale), jobs.c.attempts >= jobs.c.max_tries)
            .values(
                status="failed",
                completed_at=func.now(),
                error={"code": "WORKER_LOST", "detail": "the worker running it stopped responding"},
                message="worker lost",
            )
            .returning(*jobs.c)
        )
    ).all()
    requeued = (
        await conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(stale))
            .values(status="pending", worker_id=None, message="requeued: its worker was lost")
            .returning(*jobs.c)
        )
    ).all()
    if requeued:
        await conn.execute(insert(outbox), [{"job_id": r.id, "pool": r.pool} for r in requeued])
    return [*failed, *requeued]


async def due_outbox(conn: AsyncConnection, after_s: float, limit: int = 500) -> list[Any]:
    """Outbox rows old enough that the publish after commit evidently did not happen."""
    cutoff = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, after_s)
    return list(
        (
            await conn.execute(
                select(outbox.c.id, outbox.c.job_id, outbox.c.pool, jobs.c.kind, jobs.c.status)
                .join(jobs, jobs.c.id == outbox.c.job_id)
                .where(
                    outbox.c.created_at < cutoff,
                    or_(outbox.c.published_at.is_(None), outbox.c.published_at < cutoff),
                )
                .order_by(outbox.c.id)
                .limit(limit)
                .with_for_update(of=outbox, skip_locked=True)
            )
        ).all()
    )


async def delete_outbox_rows(conn: AsyncConnection, ids: Sequence[int]) -> None:
    if ids:
        await conn.execute(delete(outbox).where(outbox.c.id.in_(ids)))


async def pool_stats(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """Per pool: running jobs, pending jobs and the oldest pending age, last-minute outcomes."""
    rows = await conn.execute(
        text(
            """
            SELECT pool,
                   count(*) FILTER (WHERE status = 'running') AS running,
                   count(*) FILTER (WHERE status = 'pending') AS pending,
                   extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending'))
                       AS oldest_pending_s,
                   count(*) FILTER (WHERE status = 'completed'
                                    AND completed_at > now() - interval '1 minute')
                       AS completed_1m,
                   count(*) FILTER (WHERE status = 'failed'
                                    AND completed_at > now() - interval '1 minute') AS failed_1m
              FROM jobs
             WHERE status IN ('pending', 'running') OR completed_at > now() - interval '1 minute'
             GROUP BY pool
            """
        )
    )
    return {r.pool: dict(r._mapping) for r in rows}


async def counts_by_kind_status(conn: AsyncConnection) -> list[Row[Any]]:
    return list(
        (
            await conn.execute(
                select(jobs.c.kind, jobs.c.status, func.count().label("n")).group_by(
                    jobs.c.kind, jobs.c.status
                )
            )
        ).all()
    )


async def recent_durations(conn: AsyncConnection, window_s: int = 300) -> list[Row[Any]]:
    return list(
        (
            await conn.execute(
                text(
                    """
                    SELECT kind, extract(epoch FROM completed_at - started_at) AS seconds
                      FROM jobs
                     WHERE status = 'completed' AND started_at IS NOT NULL
                       AND completed_at > now() - make_interval(secs => :w)
                     LIMIT 100000
                    """
                ),
                {"w": window_s},
            )
        ).all()
    )
