"""The rigging routes under /rigging: the contract's `/api/...`, `/results/...` and `/ws`.

Every route but the upload sits in one router with the per-session request limit and the
CSRF guard; the upload takes the guard too and counts both limits itself, because its
session may only be known once its form is read (the original page sends `session_id` as a
form field) and its headers are the upload limit's.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, WebSocket, delete, get, post, route, websocket
from litestar.enums import HttpMethod
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, PathParameter, QueryParameter
from litestar.response import Stream
from litestar.types import ControllerRouterHandler
from multipart import parse_options_header

from api.blob import parse_range
from api.error import ApiError, BadRequest, TooLarge, UnsupportedMediaType
from api.rigging.error import ERRORS
from api.rigging.limit import API_LIMIT, UPLOAD_LIMIT, session_bucket
from api.rigging.schema import (
    Cancelled,
    CsrfToken,
    DiskSpace,
    Health,
    Job,
    JobPage,
    MergeRequest,
    Message,
    SessionDeleted,
    SessionStats,
    SkeletonRequest,
    SkinningRequest,
    Upload,
)
from api.rigging.service import (
    MiB,
    RiggingState,
    SessionNotFound,
    contract_path,
    create_job,
    delete_job,
    delete_session,
    find_session,
    job_summary,
    job_view,
    output_file,
    record_upload,
    request_cancel,
    session_job,
    topic,
)
from api.rigging.session import (
    cookie_session,
    csrf_cookie,
    csrf_guard,
    expired_session_cookie,
    issue_csrf,
    session_cookie,
    token_hash,
    well_formed,
)
from api.service import StateOf
from api.state import from_request, resources
from api.submit import wait
from api.upload import UploadPolicy, discard_uploads, receive_uploads, upload_route
from api.ws import Frame, serve_topics
from domain.job import JobStatus
from events.model import Event
from infra.blob.error import BlobNotFound, InvalidRange
from infra.blob.mediatype import FBX
from infra.blob.store import content_disposition
from infra.db import rigging as repo

NAME = "rigging"
VERSION = "1.0.0"
UPLOAD_PREFIX = "rigging/uploads"
# The contract's formats, by the extension a client's file name has and its sniffed type.
EXTENSIONS = {
    ".obj": "model/obj",
    ".fbx": FBX,
    ".glb": "model/gltf-binary",
    ".vrm": "model/gltf-binary",
}
BAD_FORMAT = "Invalid file format. Supported: .obj, .fbx, .glb, .vrm"
# The most an upload may be (the contract's 100 MB); the setting may lower it.
MAX_UPLOAD = 100 * MiB
UPLOAD_POLICY = UploadPolicy(
    prefix=UPLOAD_PREFIX,
    max_bytes=MAX_UPLOAD,
    accept=frozenset(EXTENSIONS.values()),
    file_fields=frozenset({"file"}),
    max_fields=4,
)
SessionId = Annotated[str, PathParameter(min_length=1, max_length=200)]
JobId = Annotated[str, PathParameter(min_length=1, max_length=100)]
# No bearer token: the session cookie (or the session id in a path) and the CSRF token are
# the credentials; OpenAPI's "no authentication" is one empty requirement.
OPEN: list[dict[str, list[str]]] = [{}]
_DOWNLOAD = ResponseSpec(
    bytes,
    description="The result file",
    media_type="application/octet-stream",
    generate_examples=False,
)


class InvalidFormat(ApiError):
    status_code, code = 400, "INVALID_FILE_FORMAT"


class FileTooLarge(ApiError):
    status_code, code = 413, "FILE_TOO_LARGE"


_state: StateOf[RiggingState] = StateOf(NAME)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- open routes -------------------------------------------------------------------------


@get("/api/health", summary="Check API health", responses=ERRORS.responses(429))
async def health() -> Health:
    return Health(status="healthy", timestamp=_now(), version=VERSION)


@get("/api/csrf-token", summary="Get a CSRF token", responses=ERRORS.responses(429))
async def csrf_token(request: Request[Any, Any, Any]) -> Response[CsrfToken]:
    """A signed, expiring token, bound to the caller's session when it has one; also set as
    the `csrf_token` cookie."""
    ttl = from_request(request).settings.rigging.csrf_ttl_s
    session_id = cookie_session(request)
    if session_id is not None:
        async with from_request(request).autocommit.connect() as conn:
            if await repo.find_session(conn, token_hash(session_id)) is None:
                session_id = None  # a stale cookie: the token is the unbound kind
    token = issue_csrf(request, session_id, ttl)
    return Response(CsrfToken(csrf_token=token), cookies=[csrf_cookie(request, token, ttl)])


@get("/api/disk-space", summary="Get disk space", responses=ERRORS.responses(429))
async def disk_space(request: Request[Any, Any, Any]) -> DiskSpace:
    """The volume holding the blob store's files (the data directory when they are on S3)."""
    settings = from_request(request).settings
    usage = await asyncio.to_thread(
        _usage, settings.blob.root if settings.blob.backend == "local" else settings.data_dir
    )
    free_gb = usage.free / 1024**3
    rigging = settings.rigging
    status: Literal["ok", "warning", "critical"] = "ok"
    if free_gb < rigging.disk_critical_gb:
        status = "critical"
    elif free_gb < rigging.disk_warning_gb:
        status = "warning"
    return DiskSpace(
        total=usage.total,
        used=usage.used,
        free=usage.free,
        percent_used=round(100.0 * usage.used / usage.total, 1) if usage.total else 0.0,
        status=status,
        warning_threshold_gb=rigging.disk_warning_gb,
        critical_threshold_gb=rigging.disk_critical_gb,
    )


def _usage(folder: str) -> Any:
    """Disk usage of the volume holding `folder` (its nearest existing parent, before the
    store wrote anything)."""
    place = Path(folder)
    while not place.exists() and place != place.parent:
        place = place.parent
    return shutil.disk_usage(place)


# --- upload ------------------------------------------------------------------------------


@upload_route(
    "/api/upload",
    UPLOAD_POLICY,
    status_code=200,
    summary="Upload a 3D model (OBJ, FBX, GLB, VRM)",
    guards=[csrf_guard],
    security=OPEN,
    responses=ERRORS.responses(400, 403, 404, 413, 429),
)
async def upload(request: Request[Any, Any, Any]) -> Response[Upload]:
    """Store a model in the caller's session, starting one when it has none. The session is
    the cookie's, else the `session_id` form field's; an id the server never issued is
    refused (404) and a stale cookie gets a new session."""
    res = from_request(request)
    settings = res.settings.rigging
    await API_LIMIT.hit(request)
    media, _ = parse_options_header(request.headers.get("content-type") or "")
    if media != "multipart/form-data":
        raise BadRequest("expected a multipart/form-data body with the model in 'file'")
    session_id = cookie_session(request)
    limit_headers: dict[str, str] | None = None
    if session_id is not None:
        async with res.autocommit.connect() as conn:
            if await repo.find_session(conn, token_hash(session_id)) is None:
                session_id = None
        if session_id is not None:  # refused before the body is read
            limit_headers = await _count_upload(request, session_id)
    store = await res.blobs()
    policy = UploadPolicy(
        prefix=UPLOAD_PREFIX,
        max_bytes=min(MAX_UPLOAD, settings.max_upload_bytes),
        accept=UPLOAD_POLICY.accept,
        file_fields=UPLOAD_POLICY.file_fields,
        max_fields=UPLOAD_POLICY.max_fields,
    )
    try:
        form = await receive_uploads(request, store, policy)
    except TooLarge as exc:
        size = (
            f"{policy.max_bytes // MiB}MB"
            if policy.max_bytes >= MiB
            else f"{policy.max_bytes} bytes"
        )
        raise FileTooLarge(f"File size exceeds maximum allowed size of {size}") from exc
    except UnsupportedMediaType as exc:
        raise InvalidFormat(f"{BAD_FORMAT} ({exc.detail})") from exc
    stored = form.files[0]
    try:
        ext = Path(stored.filename).suffix.lower()
        if EXTENSIONS.get(ext) != stored.content_type:
            raise InvalidFormat(f"{BAD_FORMAT} ({stored.filename!r} holds {stored.content_type})")
        session_id, counted = await record_upload(
            res, stored, session_id, form.fields.get("session_id"), partial(_count_upload, request)
        )
    except BaseException:
        await discard_uploads(store, form.files)
        raise
    limit_headers = counted or limit_headers
    cookies = [] if cookie_session(request) == session_id else [session_cookie(request, session_id)]
    body = Upload(
        filename=stored.filename,
        path=contract_path(session_id, f"uploads/{stored.filename}"),
        size=stored.size,
        mime_type=stored.content_type,
        uploaded_at=_now(),
        session_id=session_id,
    )
    return Response(body, cookies=cookies, headers=limit_headers or {})


async def _count_upload(request: Request[Any, Any, Any], session_id: str) -> dict[str, str] | None:
    limit = from_request(request).settings.rigging.uploads_per_hour
    return await UPLOAD_LIMIT.count(request, session_bucket(session_id), limit)


# --- jobs --------------------------------------------------------------------------------

JOB_ERRORS = ERRORS.responses(400, 403, 404, 409, 429)


async def _created(request: Request[Any, Any, Any], type_: str, paths: list[str], fmt: str) -> Job:
    session_id = cookie_session(request)
    row, _, _ = await create_job(
        from_request(request), _state(request), session_id, type_, paths, fmt
    )
    assert session_id is not None
    async with from_request(request).autocommit.connect() as conn:
        session = await find_session(conn, session_id)
        joined = await repo.get_job(conn, session.id, row.id)
    return job_view(session_id, joined)


@post("/api/jobs/skeleton", status_code=200, summary="Create a skeleton job", responses=JOB_ERRORS)
async def skeleton_job(request: Request[Any, Any, Any], data: JSONBody[SkeletonRequest]) -> Job:
    return await _created(request, "skeleton", [data.input_file], data.output_format)


@post("/api/jobs/skinning", status_code=200, summary="Create a skinning job", responses=JOB_ERRORS)
async def skinning_job(request: Request[Any, Any, Any], data: JSONBody[SkinningRequest]) -> Job:
    return await _created(request, "skinning", [data.input_file], data.output_format)


@post("/api/jobs/merge", status_code=200, summary="Create a merge job", responses=JOB_ERRORS)
async def merge_job(request: Request[Any, Any, Any], data: JSONBody[MergeRequest]) -> Job:
    return await _created(
        request, "merge", [data.skeleton_file, data.skinning_file], data.output_format
    )


@get("/api/jobs/{job_id:str}", summary="Get job status", responses=ERRORS.responses(400, 404, 429))
async def get_job(request: Request[Any, Any, Any], job_id: JobId) -> Job:
    session_id = cookie_session(request)
    row = await session_job(from_request(request), session_id, job_id)
    assert session_id is not None
    return job_view(session_id, row)


@get("/api/jobs", summary="List session jobs", responses=ERRORS.responses(400, 404, 429))
async def list_jobs(
    request: Request[Any, Any, Any],
    status: Annotated[JobStatus | None, QueryParameter()] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
) -> JobPage:
    session_id = cookie_session(request)
    async with from_request(request).autocommit.connect() as conn:
        session = await find_session(conn, session_id)
        rows, total = await repo.list_jobs(
            conn, session.id, status.value if status else None, limit, offset
        )
    assert session_id is not None
    return JobPage(
        jobs=[job_summary(session_id, r) for r in rows], total=total, limit=limit, offset=offset
    )


@post(
    "/api/jobs/{job_id:str}/cancel",
    status_code=200,
    summary="Cancel a job",
    responses={202: ResponseSpec(Cancelled, description="Asked to stop"), **JOB_ERRORS},
)
async def cancel(request: Request[Any, Any, Any], job_id: JobId) -> Response[Cancelled]:
    """A pending job ends at once; a running one is stopped at the engine's next checkpoint,
    waited for (bounded), 202 if it has not stopped by then."""
    res = from_request(request)
    row = await session_job(res, cookie_session(request), job_id)
    if await request_cancel(res, row) == 202:
        ended = await wait(request, row.id, res.settings.rigging.cancel_wait_s)
        if ended is None or ended.status == "running":
            body = Cancelled(str(row.id), "running", "Cancellation requested; the job is stopping")
            return Response(body, status_code=202)
        if ended.status != "cancelled":
            return Response(Cancelled(str(row.id), ended.status, f"Job {ended.status} first"))
    return Response(Cancelled(str(row.id), "cancelled", "Job cancelled successfully"))


@delete(
    "/api/jobs/{job_id:str}",
    status_code=200,
    summary="Delete a job",
    responses=ERRORS.responses(400, 403, 404, 429),
)
async def remove_job(request: Request[Any, Any, Any], job_id: JobId) -> Message:
    res = from_request(request)
    await delete_job(res, await session_job(res, cookie_session(request), job_id))
    return Message("Job deleted successfully")


# --- sessions ----------------------------------------------------------------------------


@get(
    "/api/sessions/{session_id:str}/stats",
    summary="Get session statistics",
    responses=ERRORS.responses(400, 404, 429),
)
async def session_stats(request: Request[Any, Any, Any], session_id: SessionId) -> SessionStats:
    async with from_request(request).autocommit.connect() as conn:
        session = await find_session(conn, session_id if well_formed(session_id) else None)
        found = await repo.stats(conn, session.id)
    by_status = found["by_status"]
    last = max(
        t for t in (session.last_activity, found["last_file"], found["last_job"]) if t is not None
    )
    return SessionStats(
        session_id=session_id,
        total_jobs=sum(by_status.values()),
        completed_jobs=by_status.get("completed", 0),
        failed_jobs=by_status.get("failed", 0),
        pending_jobs=by_status.get("pending", 0),
        total_uploads=found["uploads"],
        storage_used_mb=round(found["bytes"] / MiB, 2),
        created_at=session.created_at,
        last_activity=last,
        running_jobs=by_status.get("running", 0),
        cancelled_jobs=by_status.get("cancelled", 0),
    )


@delete(
    "/api/sessions/{session_id:str}",
    status_code=200,
    summary="Delete a session",
    responses=ERRORS.responses(400, 403, 404, 429),
)
async def remove_session(
    request: Request[Any, Any, Any], session_id: SessionId
) -> Response[SessionDeleted]:
    if not well_formed(session_id):
        raise SessionNotFound("Session not found")
    count, size = await delete_session(from_request(request), session_id)
    body = SessionDeleted(
        message="Session deleted successfully",
        files_deleted=count,
        storage_freed_mb=round(size / MiB, 2),
    )
    forget = [expired_session_cookie(request)] if cookie_session(request) == session_id else []
    return Response(body, cookies=forget)


# --- results and the socket --------------------------------------------------------------


@get(
    "/results/{session_id:str}/{filename:str}",
    summary="Download a result file",
    responses={
        200: _DOWNLOAD,
        206: ResponseSpec(
            bytes,
            description="The range asked for",
            media_type="application/octet-stream",
            generate_examples=False,
        ),
        **ERRORS.responses(400, 404, 416, 429),
    },
)
async def download(
    request: Request[Any, Any, Any], session_id: SessionId, filename: FromPath[str]
) -> Response[Any]:
    """A session's result as an attachment; the session id in the path is the credential
    (the contract's `curl -O` sends no cookie). Honours one `Range`."""
    res = from_request(request)
    async with res.autocommit.connect() as conn:
        session = await find_session(conn, session_id if well_formed(session_id) else None)
        row = await repo.get_file(conn, session.id, "results", filename)
    if row is None:
        raise NotFoundException(f"File not found: {filename}")
    store = await res.blobs()
    try:
        window = parse_range(request.headers.get("range"), int(row.size))
        offset, length = window if window is not None else (0, None)
        reader = await store.get(row.key, offset=offset, length=length)
    except InvalidRange:
        return ERRORS.response(
            "Requested range not satisfiable",
            "RANGE_NOT_SATISFIABLE",
            416,
            {"Content-Range": f"bytes */{row.size}"},
        )
    except BlobNotFound as exc:
        raise NotFoundException(f"File not found: {filename}") from exc
    headers = {
        "Content-Disposition": content_disposition(filename),
        "Content-Length": str(reader.length),
        "Accept-Ranges": "bytes",
        "ETag": f'"{reader.meta.etag}"',
    }
    if window is not None:
        end = reader.start + reader.length - 1
        headers["Content-Range"] = f"bytes {reader.start}-{end}/{reader.meta.size}"

    async def body() -> AsyncIterator[bytes]:
        async with reader:
            async for chunk in reader:
                yield chunk

    return Stream(
        body(),
        status_code=206 if window is not None else 200,
        media_type="application/octet-stream",
        headers=headers,
    )


@websocket("/ws")
async def socket(
    socket: WebSocket[Any, Any, Any], session: FromQuery[str], since: FromQuery[str | None] = None
) -> None:
    """The session's job events in the contract's frames; `since` (an `event_id` a frame
    carried) replays what came after it, for a client that reconnects."""
    res = resources(socket.app.state)
    found = None
    if well_formed(session):
        async with res.autocommit.connect() as conn:
            found = await repo.find_session(conn, token_hash(session))
    if found is None:
        await socket.accept()
        await socket.close(code=4404, reason="no such session")
        return
    await serve_topics(socket, [topic(found.id)], _framer(session), since=since)


def _framer(session_id: str) -> Frame:
    def frame(event: Event) -> dict[str, Any] | None:
        data = msgspec.json.decode(event.data)
        base = {"job_id": data["job_id"], "status": data["status"], "event_id": event.id}
        if event.type in ("job.started", "job.progress", "job.retrying"):
            return {
                "type": "job_progress",
                **base,
                "progress": data["progress"],
                "message": data.get("message", ""),
            }
        if event.type == "job.completed":
            row = _Ended(data)
            return {"type": "job_completed", **base, "output_file": output_file(session_id, row)}
        if event.type == "job.failed":
            error = data.get("error") or {}
            return {
                "type": "job_failed",
                **base,
                "error": error.get("detail", "the job failed"),
                "error_code": error.get("code"),
            }
        if event.type == "job.cancelled":
            return {"type": "job_cancelled", **base}
        return None  # job.created: the create response already said so

    return frame


class _Ended:
    """A completed job event read like a job row, for `output_file`."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.status = data["status"]
        self.result = data.get("result")


# Litestar answers unknown paths before any router sees them, in the platform's shape; these
# hidden routes catch them under /rigging so the contract's clients get its shape there too.
@route(
    ["/", "/{rest:path}", "/api/{rest:path}"],
    http_method=[
        HttpMethod.GET,
        HttpMethod.POST,
        HttpMethod.PUT,
        HttpMethod.PATCH,
        HttpMethod.DELETE,
        HttpMethod.HEAD,
    ],
    include_in_schema=False,
)
async def unknown_route(request: Request[Any, Any, Any]) -> None:
    raise NotFoundException(f"no rigging route {request.method} {request.url.path}")


ROUTES: list[ControllerRouterHandler] = [
    upload,
    Router(
        path="/",
        route_handlers=[
            health,
            csrf_token,
            disk_space,
            skeleton_job,
            skinning_job,
            merge_job,
            get_job,
            list_jobs,
            cancel,
            remove_job,
            session_stats,
            remove_session,
            download,
        ],
        guards=[csrf_guard],
        middleware=[API_LIMIT],
        security=OPEN,
    ),
    socket,
    unknown_route,
]
