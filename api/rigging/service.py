"""The rigging service's operations: sessions, files, jobs and their contract views.

Dependencies come as arguments (the process's resources, the service state); no Litestar
request. Paths the contract shows (`/uploads/<session>/<name>`) are resolved here to the
session's own file rows, so a client can only ever name its own files.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from api.error import ApiError, BadRequest, Conflict, NotFound
from api.rigging.schema import Job, JobResults, JobSummary
from api.rigging.session import new_session_id, token_hash, well_formed
from api.state import Resources
from api.submit import JobRequest, submit
from api.submit import cancel as cancel_job
from api.upload import StoredUpload
from domain.job import ACTIVE
from infra.blob.error import BlobError
from infra.db import rigging as repo
from infra.db.engine import transaction
from workers.catalog.rigging import RigInput, RigPayload

log = logging.getLogger("switchyard.api.rigging")

MiB = 1024 * 1024
# Suffixes the service gives its results; a job on a result names its own from the base.
_STAGE_SUFFIXES = ("_skeleton", "_skinning", "_rigged")
_OUTPUT_SUFFIX = {"skeleton": "_skeleton", "skinning": "_skinning", "merge": "_rigged"}


class SessionNotFound(ApiError):
    status_code, code = 404, "SESSION_NOT_FOUND"


class JobNotFound(ApiError):
    status_code, code = 404, "JOB_NOT_FOUND"


class FileNotFound(ApiError):
    status_code, code = 404, "FILE_NOT_FOUND"


class RiggingState:
    """Per process: the id of the user rigging jobs belong to, found on first use."""

    def __init__(self) -> None:
        self._owner: uuid.UUID | None = None
        self._lock = asyncio.Lock()

    async def owner(self, res: Resources) -> uuid.UUID:
        async with self._lock:
            if self._owner is None:
                async with transaction(res.engine) as conn:
                    self._owner = await repo.service_user(conn)
            return self._owner


def topic(session_pk: uuid.UUID) -> str:
    """The hub topic a session's job events go to (its row id: the secret id never leaves
    the API)."""
    return f"rigging:{session_pk}"


async def find_session(
    conn: AsyncConnection, session_id: str | None, *, lock: bool = False
) -> Row[Any]:
    if session_id is None:
        raise SessionNotFound("Session not found: upload a file first to start a session")
    row = await repo.find_session(conn, token_hash(session_id), lock=lock)
    if row is None:
        raise SessionNotFound("Session not found")
    return row


# --- paths -------------------------------------------------------------------------------


def contract_path(session_id: str, relative: str) -> str:
    """`uploads/x.obj` of a session → `/uploads/<session_id>/x.obj`."""
    folder, _, name = relative.partition("/")
    return f"/{folder}/{session_id}/{name}"


async def resolve(
    conn: AsyncConnection, session: Row[Any], session_id: str, path: str
) -> tuple[Row[Any], str]:
    """The session's file a contract path names, and its relative form; 404 for anything
    else (another session's path, a name never stored, a path of another shape)."""
    parts = path.strip().removeprefix("/").split("/")
    if len(parts) == 3 and parts[0] in repo.FOLDERS and parts[2]:
        folder, owner, name = parts
        if hmac.compare_digest(owner.encode(), session_id.encode()):
            row = await repo.get_file(conn, session.id, folder, name)
            if row is not None:
                return row, f"{folder}/{name}"
    raise FileNotFound(f"File not found: {path}")


def output_name(type_: str, input_name: str, fmt: str) -> str:
    stem = input_name.rsplit(".", 1)[0] or "model"
    for suffix in _STAGE_SUFFIXES:
        stem = stem.removesuffix(suffix)
    return f"{stem}{_OUTPUT_SUFFIX[type_]}.{fmt}"


# --- uploads -----------------------------------------------------------------------------

Counter = Callable[[str], Awaitable[dict[str, str] | None]]


async def record_upload(
    res: Resources,
    stored: StoredUpload,
    session_id: str | None,
    field: str | None,
    count: Counter,
) -> tuple[str, dict[str, str] | None]:
    """Record a stored upload in its session: the caller's (`session_id`, already checked and
    counted), the one the form names, or a new one. (The session id, the upload limit's
    headers when counted here.) The file a same-named upload replaces is deleted."""
    counted = None
    try:
        async with transaction(res.engine) as conn:
            if session_id is None and field:
                if (
                    not well_formed(field)
                    or await repo.find_session(conn, token_hash(field)) is None
                ):
                    raise SessionNotFound("Session not found")
                session_id = field
                counted = await count(session_id)
            if session_id is None:
                session_id = new_session_id()
                await repo.create_session(conn, token_hash(session_id))
                counted = await count(session_id)
            session = await find_session(conn, session_id)
            replaced = await repo.put_file(
                conn,
                session.id,
                "uploads",
                stored.filename,
                stored.key,
                stored.size,
                stored.content_type,
            )
            await repo.touch(conn, session.id)
    except IntegrityError as exc:  # the session was deleted while the file arrived
        raise SessionNotFound("Session not found") from exc
    if replaced is not None:
        store = await res.blobs()
        try:
            await store.delete(replaced)
        except BlobError:
            log.exception("could not delete %s, replaced by a new upload", replaced)
    return session_id, counted


# --- jobs --------------------------------------------------------------------------------


async def create_job(
    res: Resources,
    state: RiggingState,
    session_id: str | None,
    type_: str,
    paths: Sequence[str],
    fmt: str,
) -> tuple[Row[Any], str, str | None]:
    """Submit a rigging job on the session's files: (job row, input, second input)."""
    owner = await state.owner(res)
    async with transaction(res.engine) as conn:
        # Held to the commit: two creates (or a create and the session's deletion) decide
        # one after the other, so a session never has two active jobs.
        session = await find_session(conn, session_id, lock=True)
        assert session_id is not None
        resolved = [await resolve(conn, session, session_id, p) for p in paths]
        if await repo.active_jobs(conn, session.id):
            raise Conflict(
                "Cannot create new job: Active job already exists for this session",
                code="CONCURRENT_JOB_LIMIT",
            )
        first = resolved[0][0]
        payload = RigPayload(
            session=str(session.id),
            inputs=[RigInput(key=row.key, name=row.name) for row, _ in resolved],
            output_name=output_name(type_, first.name, fmt),
            format=fmt,  # type: ignore[arg-type]
        )
        request = JobRequest(kind=f"rigging.{type_}", payload=_builtins(payload))
        (job,) = await submit(res, owner, [request], [topic(session.id)])
        second = resolved[1][1] if len(resolved) > 1 else None
        await repo.link_job(conn, job.id, session.id, type_, resolved[0][1], second, fmt)
        await repo.touch(conn, session.id)
    return job, resolved[0][1], second


def _builtins(payload: RigPayload) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(payload)
    return data


def output_file(session_id: str, row: Any) -> str | None:
    result = row.result if row.status == "completed" else None
    if not isinstance(result, dict) or "output_name" not in result:
        return None
    return f"/results/{session_id}/{result['output_name']}"


def job_view(session_id: str, row: Any) -> Job:
    out = output_file(session_id, row)
    error = row.error or {}
    return Job(
        job_id=str(row.id),
        status=row.status,
        type=row.type,
        input_file=contract_path(session_id, row.input),
        output_file=out,
        progress=row.progress,
        error=error.get("detail"),
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        session_id=session_id,
        filename=row.input.partition("/")[2],
        stage=row.message,
        error_code=error.get("code"),
        results=JobResults(
            skeleton_file=out if row.type == "skeleton" else None,
            skin_file=out if row.type == "skinning" else None,
            final_file=out if row.type == "merge" else None,
        ),
        skinning_file=contract_path(session_id, row.second_input) if row.second_input else None,
        output_format=row.output_format,
    )


def job_summary(session_id: str, row: Any) -> JobSummary:
    return JobSummary(
        job_id=str(row.id),
        status=row.status,
        type=row.type,
        progress=row.progress,
        created_at=row.created_at,
        completed_at=row.completed_at,
        input_file=contract_path(session_id, row.input),
        output_file=output_file(session_id, row),
        error=(row.error or {}).get("detail"),
    )


def parse_job_id(job_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(job_id)
    except ValueError as exc:
        raise JobNotFound(f"Job not found: {job_id}") from exc


async def session_job(res: Resources, session_id: str | None, job_id: str) -> Row[Any]:
    jid = parse_job_id(job_id)
    async with res.autocommit.connect() as conn:
        session = await find_session(conn, session_id)
        row = await repo.get_job(conn, session.id, jid)
    if row is None:
        raise JobNotFound(f"Job not found: {job_id}")
    return row


async def request_cancel(res: Resources, row: Row[Any]) -> int:
    """Cancel a session's job: 200 when it was stopped before it started, 202 when its
    worker was asked to stop it. 400 when it already ended."""
    if row.status not in ACTIVE:
        raise BadRequest(f"Cannot cancel job: Job already {row.status}", code="JOB_NOT_ACTIVE")
    try:
        _, status = await cancel_job(res, row.id, None)
    except Conflict as exc:  # it ended in between
        raise BadRequest(f"Cannot cancel job: {exc.detail}", code="JOB_NOT_ACTIVE") from exc
    return status


async def delete_job(res: Resources, row: Row[Any]) -> None:
    if row.status in ACTIVE:
        raise BadRequest(
            f"Cannot delete job: Job is {row.status}; cancel it first", code="JOB_ACTIVE"
        )
    async with transaction(res.engine) as conn:
        await repo.delete_jobs(conn, [row.id])


# --- sessions ----------------------------------------------------------------------------


async def delete_session(res: Resources, session_id: str) -> tuple[int, int]:
    """Cancel the session's jobs, forget it and free its files: (files, bytes)."""
    async with transaction(res.engine) as conn:
        session = await find_session(conn, session_id, lock=True)
        for job_id in await repo.active_jobs(conn, session.id):
            try:
                await cancel_job(res, job_id, None)
            except (Conflict, NotFound):
                pass  # it ended meanwhile
        stored = await repo.file_keys(conn, session.id)
        finished = await repo.session_job_ids(conn, session.id)
        await repo.delete_jobs(conn, finished)
        await repo.delete_session(conn, session.id)
    store = await res.blobs()
    for item in stored:
        try:
            await store.delete(item.key)
        except BlobError:
            log.exception("could not delete %s of a deleted session", item.key)
    return len(stored), sum(int(item.size) for item in stored)
