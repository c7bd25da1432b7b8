"""`/jobs`: submit (single and batch), read, list, cancel and delete jobs."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter, SkipValidation

from api.error import PLATFORM_ERRORS, BadRequest, Conflict, NotFound
from api.input import MAX_BIGINT
from api.state import from_request
from api.submit import (
    JobRequest,
    JobView,
    job_view,
    parse_job_id,
    submit,
    visible_to,
)
from api.submit import cancel as cancel_job
from domain.job import JobStatus
from events.model import job_topic
from infra.db import job as repo
from infra.security import Principal
from workers.catalog import CATALOG

log = logging.getLogger("switchyard.api.job")


def _public(requests: list[JobRequest], where: str = "") -> None:
    """Refuse a service's own kinds: only its routes, which check what the payload names,
    submit them."""
    for number, req in enumerate(requests):
        kind = CATALOG.get(req.kind)
        if kind is not None and not kind.public:
            raise BadRequest(
                f"{where.format(number)}kind: {req.kind} is submitted by its service's routes,"
                " not through /jobs",
                code="NOT_PUBLIC",
            )


class BatchRequest(msgspec.Struct, forbid_unknown_fields=True):
    jobs: Annotated[list[JobRequest], msgspec.Meta(min_length=1, max_length=1000)]


class BatchResponse(msgspec.Struct):
    jobs: list[JobView]


class JobPage(msgspec.Struct):
    items: list[JobView]
    total: int
    limit: int
    offset: int


PrincipalDep = SkipValidation[Principal]


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]

    @post(
        "/",
        status_code=202,
        summary="Submit a job",
        responses=PLATFORM_ERRORS.responses(400, 401, 409, 413),
    )
    async def create(
        self, request: Request[Any, Any, Any], data: JSONBody[JobRequest], principal: PrincipalDep
    ) -> JobView:
        res = from_request(request)
        _public([data])
        (row,) = await submit(res, uuid.UUID(principal.id), [data])
        return job_view(row)

    @post(
        "/batch",
        status_code=202,
        summary="Submit many jobs in one transaction",
        responses=PLATFORM_ERRORS.responses(400, 401, 409, 413),
    )
    async def create_batch(
        self, request: Request[Any, Any, Any], data: JSONBody[BatchRequest], principal: PrincipalDep
    ) -> BatchResponse:
        res = from_request(request)
        _public(data.jobs, "jobs[{}].")
        rows = await submit(res, uuid.UUID(principal.id), data.jobs)
        return BatchResponse(jobs=[job_view(r) for r in rows])

    @get("/{job_id:str}", summary="One job", responses=PLATFORM_ERRORS.responses(400, 401, 404))
    async def read(
        self, request: Request[Any, Any, Any], job_id: FromPath[str], principal: PrincipalDep
    ) -> JobView:
        res = from_request(request)
        async with res.autocommit.connect() as conn:
            row = await repo.get_job(conn, parse_job_id(job_id), visible_to(principal))
        if row is None:
            raise NotFound(f"job {job_id} not found")
        return job_view(row)

    @get(
        "/",
        summary="List jobs (own jobs; every job for admins), newest first",
        responses=PLATFORM_ERRORS.responses(400, 401),
    )
    async def list_(
        self,
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        status: FromQuery[JobStatus | None] = None,
        kind: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_BIGINT)] = 0,
    ) -> JobPage:
        res = from_request(request)
        async with res.autocommit.connect() as conn:
            rows, total = await repo.list_jobs(
                conn,
                visible_to(principal),
                status=status.value if status else None,
                kind=kind,
                limit=limit,
                offset=offset,
            )
        return JobPage(items=[job_view(r) for r in rows], total=total, limit=limit, offset=offset)

    @post(
        "/{job_id:str}/cancel",
        status_code=200,
        summary="Cancel a pending (200) or running (202) job",
        response_description="The job had not started: it is cancelled",
        responses={
            202: ResponseSpec(
                JobView,
                description="The job is running: cancel requested; the worker stops it",
                generate_examples=False,
            ),
            **PLATFORM_ERRORS.responses(400, 401, 404, 409),
        },
    )
    async def cancel(
        self, request: Request[Any, Any, Any], job_id: FromPath[str], principal: PrincipalDep
    ) -> Response[JobView]:
        row, status = await cancel_job(
            from_request(request), parse_job_id(job_id), visible_to(principal)
        )
        return Response(job_view(row), status_code=status)

    @delete(
        "/{job_id:str}",
        status_code=204,
        summary="Delete a finished job",
        responses=PLATFORM_ERRORS.responses(400, 401, 404, 409),
    )
    async def remove(
        self, request: Request[Any, Any, Any], job_id: FromPath[str], principal: PrincipalDep
    ) -> None:
        res = from_request(request)
        jid = parse_job_id(job_id)
        async with res.engine.begin() as conn:
            row = await repo.get_job(conn, jid, visible_to(principal))
            if row is None:
                raise NotFound(f"job {job_id} not found")
            if not await repo.delete_finished(conn, jid):
                raise Conflict(
                    f"job {job_id} is {row.status}; cancel it before deleting it",
                    code="JOB_ACTIVE",
                )
        await res.redis.delete(res.keys.topic(job_topic(job_id)))
