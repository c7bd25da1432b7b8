"""Submitting jobs and waiting for them: the one module `/jobs` and every service route use.

`submit` records jobs and sends their commands; `cancel` stops one; `run` submits one job
for a route that answers synchronously and waits for its terminal event with a deadline
(`Prefer: respond-async` answers 202 with the job instead; a client that goes away cancels a
cancellable job; a failed job becomes the service's error; a deadline passed is a 504 that
leaves the job running).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from sqlalchemy import Row

from api.error import ApiError, BadRequest, Conflict, GatewayTimeout, NotFound
from api.state import Resources, from_request
from events.hub import Subscriber
from events.model import (
    JOB_CANCELLED,
    JOB_CREATED,
    TERMINAL_EVENTS,
    job_event_data,
    job_topic,
    job_topics,
)
from infra.db import job as repo
from infra.security import Principal
from infra.settings import POOLS
from workers.catalog import CATALOG, JobKind

log = logging.getLogger("switchyard.api.submit")


class JobRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: str
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    pool: str | None = None
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] | None = None


class JobErrorView(msgspec.Struct):
    code: str
    detail: str


class JobView(msgspec.Struct):
    id: str
    kind: str
    pool: str
    status: str
    progress: int
    message: str
    payload: dict[str, Any]
    result: Any
    error: JobErrorView | None
    attempts: int
    max_tries: int
    owner_id: str
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    cancel_requested: bool = False


def job_view(row: Row[Any]) -> JobView:
    return JobView(
        id=str(row.id),
        kind=row.kind,
        pool=row.pool,
        status=row.status,
        progress=row.progress,
        message=row.message,
        payload=row.payload,
        result=row.result,
        error=JobErrorView(**row.error) if row.error else None,
        attempts=row.attempts,
        max_tries=row.max_tries,
        owner_id=str(row.owner_id),
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        cancel_requested=row.cancel_requested,
    )


def build_row(
    req: JobRequest, owner_id: uuid.UUID, where: str = "", topics: Sequence[str] = ()
) -> dict[str, Any]:
    """Validate one request against the catalog; the row to insert, or a 400 naming the field."""
    kind: JobKind | None = CATALOG.get(req.kind)
    if kind is None:
        raise BadRequest(
            f"{where}kind: unknown job kind {req.kind!r}; "
            f"known kinds: {', '.join(sorted(CATALOG))}",
            code="UNKNOWN_KIND",
        )
    try:
        payload = msgspec.convert(req.payload, kind.payload)
    except msgspec.ValidationError as exc:
        raise BadRequest(
            f"{where}payload: {str(exc).replace('`$', '`$.payload')}", code="INVALID_PAYLOAD"
        ) from exc
    pool = kind.pool
    if req.pool is not None:
        if req.pool not in POOLS:
            raise BadRequest(f"{where}pool: unknown pool {req.pool!r}", code="INVALID_REQUEST")
        if req.pool != kind.pool and not kind.any_pool:
            raise BadRequest(
                f"{where}pool: {kind.name} runs only on the {kind.pool!r} pool",
                code="INVALID_REQUEST",
            )
        pool = req.pool
    timeout_s = kind.timeout_s
    if req.timeout_s is not None:
        if req.timeout_s > kind.timeout_s:
            raise BadRequest(
                f"{where}timeout_s: at most {kind.timeout_s:g} for {kind.name}",
                code="INVALID_REQUEST",
            )
        timeout_s = req.timeout_s
    return {
        "id": uuid.uuid4(),
        "kind": kind.name,
        "pool": pool,
        "payload": msgspec.to_builtins(payload),
        "max_tries": kind.max_tries,
        "timeout_s": timeout_s,
        "owner_id": owner_id,
        "idempotency_key": req.idempotency_key,
        "topics": list(topics),
    }


async def submit(
    res: Resources,
    owner_id: uuid.UUID,
    requests: Sequence[JobRequest],
    topics: Sequence[str] = (),
) -> list[Row[Any]]:
    """Record jobs (and their outbox rows) in one transaction, then send their commands.

    The commit comes first: a command never names a job that does not exist. If Redis is down
    the jobs are still accepted; the outbox relay sends their commands once it is back.
    """
    prefix = len(requests) > 1
    rows = [
        build_row(r, owner_id, f"jobs[{i}]." if prefix else "", topics)
        for i, r in enumerate(requests)
    ]
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row["idempotency_key"]
        if key is not None and key in seen:
            raise BadRequest(f"idempotency_key {key!r} appears twice in one batch")
        if key is not None:
            seen[key] = row
    # One statement (jobs + outbox), atomic on its own: no BEGIN/COMMIT round trips.
    async with res.autocommit.connect() as conn:
        results = await repo.insert_jobs(conn, rows)
    for (job, created), row in zip(results, rows, strict=True):
        if not created and (job.kind != row["kind"] or job.payload != row["payload"]):
            raise Conflict(
                f"idempotency_key {row['idempotency_key']!r} was used for a different job",
                code="IDEMPOTENCY_CONFLICT",
            )
    new = [job for job, created in results if created]
    if new:
        await _dispatch(res, new)
    return [job for job, _ in results]


async def _dispatch(res: Resources, new: Sequence[Row[Any]]) -> None:
    """Commands and `job.created` events in one round trip; then the outbox rows can go."""
    try:
        async with res.redis.pipeline(transaction=False) as pipe:
            for job in new:
                pipe.xadd(res.keys.command(job.pool), {"job_id": str(job.id), "kind": job.kind})
            for job in new:
                res.publisher.add_to(pipe, JOB_CREATED, job_event_data(job), _topics(job))
            await pipe.execute()
    except Exception as exc:
        # The outbox keeps the commands: the relay sends them once Redis is back.
        log.warning("commands for %d job(s) left to the outbox relay: %s", len(new), exc)
        return
    # The commands are out: their outbox rows go with the next batched delete, off this path.
    for job in new:
        res.outbox.defer(job.id)


def parse_job_id(job_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(job_id)
    except ValueError as exc:
        raise NotFound(f"job {job_id} not found") from exc


def visible_to(principal: Principal) -> uuid.UUID | None:
    """Whose jobs the caller may see: its own, or everyone's for an admin."""
    return None if principal.is_admin else uuid.UUID(principal.id)


def _topics(row: Row[Any]) -> list[str]:
    return job_topics(str(row.id), str(row.owner_id), row.topics)


async def cancel(
    res: Resources, job_id: uuid.UUID, owner: uuid.UUID | None
) -> tuple[Row[Any], int]:
    """Cancel a job: (the job, 200) when it had not started, (the job, 202) when its worker
    was asked to stop it. NotFound when `owner` may not see it; Conflict when it is done."""
    async with res.engine.begin() as conn:
        row = await repo.get_job(conn, job_id, owner)
        if row is None:
            raise NotFound(f"job {job_id} not found")
        kind = CATALOG.get(row.kind)
        if kind is not None and not kind.cancellable:
            raise Conflict(f"{row.kind} jobs cannot be cancelled", code="NOT_CANCELLABLE")
        cancelled = await repo.cancel_pending(conn, job_id)
        flagged = None if cancelled else await repo.request_cancel(conn, job_id)
    if cancelled is not None:
        await res.publisher.publish(JOB_CANCELLED, job_event_data(cancelled), _topics(cancelled))
        return cancelled, 200
    if flagged is not None:
        # The worker running it hears this at once; its heartbeat would notice it anyway.
        await res.redis.publish(res.keys.cancel_channel, str(job_id))
        return flagged, 202
    raise Conflict(f"job {job_id} is already {row.status}", code="ALREADY_FINISHED")


def wants_async(request: Request[Any, Any, Any]) -> bool:
    """`Prefer: respond-async` (RFC 7240): answer 202 with the job instead of waiting."""
    prefer = request.headers.get("prefer", "")
    return any(p.split("=")[0].strip().lower() == "respond-async" for p in prefer.split(","))


def accepted(row: Row[Any]) -> Response[JobView]:
    """202 with the job; `Location` is where its status can be polled."""
    return Response(
        job_view(row),
        status_code=202,
        headers={"Location": f"/jobs/{row.id}", "Preference-Applied": "respond-async"},
    )


async def run(
    request: Request[Any, Any, Any],
    principal: Principal,
    kind: str,
    payload: msgspec.Struct | Mapping[str, Any],
    *,
    deadline_s: float,
    topics: Sequence[str] = (),
    job_errors: Mapping[str, int] | None = None,
) -> Row[Any] | Response[JobView]:
    """Submit one job and wait for it: its completed row, or 202 when the client prefers.

    A failed job raises ApiError with the job's error code and the status `job_errors` gives
    it (500 unless listed); a cancelled one raises Conflict; past the deadline a
    GatewayTimeout names the job, which keeps running.
    """
    res = from_request(request)
    body = payload if isinstance(payload, Mapping) else msgspec.to_builtins(payload)
    (row,) = await submit(
        res, uuid.UUID(principal.id), [JobRequest(kind=kind, payload=dict(body))], topics
    )
    if wants_async(request):
        return accepted(row)
    ended = await wait(request, row.id, deadline_s)
    if ended is None:
        raise GatewayTimeout(
            f"job {row.id} did not finish within {deadline_s:g} s; it keeps running: "
            f"GET /jobs/{row.id}",
            headers={"Location": f"/jobs/{row.id}"},
        )
    if ended.status == "completed":
        return ended
    if ended.status == "cancelled":
        raise Conflict(f"job {row.id} was cancelled", code="CANCELLED")
    error = ended.error or {"code": "FAILED", "detail": "the job failed"}
    status = (job_errors or {}).get(error["code"], 500)
    raise ApiError(error["detail"], code=error["code"], status_code=status)


async def wait(
    request: Request[Any, Any, Any], job_id: uuid.UUID, deadline_s: float
) -> Row[Any] | None:
    """The job once it ended, or None at the deadline. A client that disconnects first
    cancels the job when its kind allows (and this raises CancelledError)."""
    res = from_request(request)
    topic = job_topic(str(job_id))
    sub = Subscriber(f"wait:{job_id}", queue_size=1000)
    # Replay from the start of the job's topic: an end that came before the subscription is
    # in the replay, a later one arrives live; the hub delivers each once.
    await res.hub.subscribe(sub, [topic], {topic: "0"})
    ended = asyncio.ensure_future(_terminal(sub))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait(
            {ended, gone}, timeout=deadline_s, return_when="FIRST_COMPLETED"
        )
    finally:
        res.hub.unsubscribe(sub, [topic])
        for task in (ended, gone):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if gone in done:
        with contextlib.suppress(Conflict, NotFound):
            await cancel(res, job_id, None)
            log.info("job %s cancelled: the client waiting for it went away", job_id)
        raise asyncio.CancelledError
    if ended not in done:
        return None
    async with res.autocommit.connect() as conn:
        return await repo.get_job(conn, job_id, None)


async def _terminal(sub: Subscriber) -> None:
    while True:
        event = await sub.queue.get()
        if event.type in TERMINAL_EVENTS:
            return


async def _disconnected(request: Request[Any, Any, Any]) -> None:
    # The body was read before the handler ran; what the server sends next is the end.
    while (await request.receive())["type"] != "http.disconnect":
        pass
