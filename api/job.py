"""`/jobs`: submit (single and batch), read, list, cancel and delete jobs."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter, SkipValidation
from sqlalchemy import Row

from api.error import BadRequest, Conflict, NotFound
from api.state import Resources, from_request
from domain.job import STATUSES
from events.model import JOB_CANCELLED, JOB_CREATED, job_event_data, job_topic, user_topic
from infra.db import job as repo
from infra.security import Principal
from infra.settings import POOLS
from workers.catalog import CATALOG, JobKind

log = logging.getLogger("switchyard.api.job")


class JobRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: str
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    pool: str | None = None
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] | None = None


class BatchRequest(msgspec.Struct, forbid_unknown_fields=True):
    jobs: Annotated[list[JobRequest], msgspec.Meta(min_length=1, max_length=1000)]


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


class BatchResponse(msgspec.Struct):
    jobs: list[JobView]


class JobPage(msgspec.Struct):
    items: list[JobView]
    total: int
    limit: int
    offset: int


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


def _topics(row: Row[Any]) -> list[str]:
    return [job_topic(str(row.id)), user_topic(str(row.owner_id))]


def build_row(req: JobRequest, owner_id: uuid.UUID, where: str = "") -> dict[str, Any]:
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
    }


async def submit(
    res: Resources, owner_id: uuid.UUID, requests: Sequence[JobRequest]
) -> list[Row[Any]]:
    """Record jobs (and their outbox rows) in one transaction, then send their commands.

    The commit comes first: a command never names a job that does not exist. If Redis is down
    the jobs are still accepted; the outbox relay sends their commands once it is back.
    """
    prefix = len(requests) > 1
    rows = [
        build_row(r, owner_id, f"jobs[{i}].") if prefix else build_row(r, owner_id)
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


def _parse_id(job_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(job_id)
    except ValueError as exc:
        raise NotFound(f"job {job_id} not found") from exc


def _scope(principal: Principal) -> uuid.UUID | None:
    """Whose jobs the caller may see: its own, or everyone's for an admin."""
    return None if principal.is_admin else uuid.UUID(principal.id)


PrincipalDep = SkipValidation[Principal]


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]

    @post("/", status_code=202, summary="Submit a job")
    async def create(
        self, request: Request[Any, Any, Any], data: JSONBody[JobRequest], principal: PrincipalDep
    ) -> JobView:
        res = from_request(request)
        (row,) = await submit(res, uuid.UUID(principal.id), [data])
        return job_view(row)

    @post("/batch", status_code=202, summary="Submit many jobs in one transaction")
    async def create_batch(
        self, request: Request[Any, Any, Any], data: JSONBody[BatchRequest], principal: PrincipalDep
    ) -> BatchResponse:
        res = from_request(request)
        rows = await submit(res, uuid.UUID(principal.id), data.jobs)
        return BatchResponse(jobs=[job_view(r) for r in rows])

    @get("/{job_id:str}", summary="One job")
    async def read(
        self, request: Request[Any, Any, Any], job_id: FromPath[str], principal: PrincipalDep
    ) -> JobView:
        res = from_request(request)
        async with res.autocommit.connect() as conn:
            row = await repo.get_job(conn, _parse_id(job_id), _scope(principal))
        if row is None:
            raise NotFound(f"job {job_id} not found")
        return job_view(row)

    @get("/", summary="List jobs (own jobs; every job for admins), newest first")
    async def list_(
        self,
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        status: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> JobPage:
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status: must be one of {', '.join(STATUSES)}")
        res = from_request(request)
        async with res.autocommit.connect() as conn:
            rows, total = await repo.list_jobs(
                conn, _scope(principal), status=status, kind=kind, limit=limit, offset=offset
            )
        return JobPage(items=[job_view(r) for r in rows], total=total, limit=limit, offset=offset)

    @post("/{job_id:str}/cancel", summary="Cancel a pending or running job")
    async def cancel(
        self, request: Request[Any, Any, Any], job_id: FromPath[str], principal: PrincipalDep
    ) -> Response[JobView]:
        res = from_request(request)
        jid = _parse_id(job_id)
        async with res.engine.begin() as conn:
            row = await repo.get_job(conn, jid, _scope(principal))
            if row is None:
                raise NotFound(f"job {job_id} not found")
            kind = CATALOG.get(row.kind)
            if kind is not None and not kind.cancellable:
                raise Conflict(f"{row.kind} jobs cannot be cancelled", code="NOT_CANCELLABLE")
            cancelled = await repo.cancel_pending(conn, jid)
            flagged = None if cancelled else await repo.request_cancel(conn, jid)
        if cancelled is not None:
            await res.publisher.publish(
                JOB_CANCELLED, job_event_data(cancelled), _topics(cancelled)
            )
            return Response(job_view(cancelled), status_code=200)
        if flagged is not None:
            # The worker running it hears this at once; its heartbeat would notice it anyway.
            await res.redis.publish(res.keys.cancel_channel, str(jid))
            return Response(job_view(flagged), status_code=202)
        raise Conflict(f"job {job_id} is already {row.status}", code="ALREADY_FINISHED")

    @delete("/{job_id:str}", status_code=204, summary="Delete a finished job")
    async def remove(
        self, request: Request[Any, Any, Any], job_id: FromPath[str], principal: PrincipalDep
    ) -> None:
        res = from_request(request)
        jid = _parse_id(job_id)
        async with res.engine.begin() as conn:
            row = await repo.get_job(conn, jid, _scope(principal))
            if row is None:
                raise NotFound(f"job {job_id} not found")
            if not await repo.delete_finished(conn, jid):
                raise Conflict(
                    f"job {job_id} is {row.status}; cancel it before deleting it",
                    code="JOB_ACTIVE",
                )
        await res.redis.delete(res.keys.topic(job_topic(job_id)))
