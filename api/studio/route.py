"""The studio routes: health, the five steps, sessions and storage.

Each step checks the session's order here for a quick 409, then runs as a job on the media
pool (`api.submit.run`: the caller waits; `Prefer: respond-async` answers 202 with the job);
the job checks the order again, and that check decides.
"""

from __future__ import annotations

import asyncio
import mimetypes
import uuid
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import text

from api.error import BadRequest, Conflict, Forbidden, NotFound
from api.state import Resources, from_request
from api.studio.auth import StudioUser
from api.studio.error import ERRORS, JOB_ERRORS
from api.studio.schema import (
    Approved,
    ClipOut,
    ClipsGenerated,
    ComposeFinal,
    CostLineView,
    Costs,
    Deleted,
    FileList,
    FileView,
    FinalVideo,
    GenerateClips,
    GenerateImages,
    Health,
    HealthServices,
    ImageOut,
    ImagesGenerated,
    Presigned,
    PromptConfig,
    PromptConfigSaved,
    Root,
    SaveApprovedClips,
    SaveApprovedImages,
    SessionView,
    Uploaded,
)
from api.studio.service import (
    match_assets,
    named_key,
    own_key,
    owned_session,
    parse_session_id,
    session_view,
)
from api.studio.socket import session_topic, socket_url
from api.submit import JobView, run
from api.upload import UploadPolicy, receive_uploads, upload_route
from domain.studio.model import IMAGE_SIZES
from domain.studio.webhook import WebhookRejected, verify_signature
from infra.blob.error import BlobError
from infra.db import studio as repo
from infra.fetch import policy_from
from infra.pool import live_workers
from workers.catalog.studio import (
    ApprovePayload,
    ComposePayload,
    GenerateClipsPayload,
    GenerateImagesPayload,
    Overlay,
    WebhookDelivery,
    webhook_channel,
)

TAGS = ["studio"]


def _responses(ok: type[Any], *errors: int) -> dict[int, ResponseSpec]:
    """A step's answers: its body, the job when asked to respond async, and its errors."""
    return {
        200: ResponseSpec(ok, description="The step's result"),
        202: ResponseSpec(JobView, description="Accepted: the job (Prefer: respond-async)"),
        **ERRORS.responses(*errors),
    }


# -- health ------------------------------------------------------------------------------------


@get("/", summary="Health check", tags=TAGS, security=[{}], responses=ERRORS.responses())
async def root() -> Root:
    return Root(status="healthy", service="Gauntlet Pipeline Orchestrator", version="1.0.0")


@get(
    "/health",
    summary="Detailed health: Postgres and the media pool",
    tags=TAGS,
    security=[{}],
    responses={
        503: ResponseSpec(Health, description="The database is unreachable"),
        **ERRORS.responses(),
    },
)
async def health(request: Request[Any, Any, Any]) -> Response[Health]:
    res = from_request(request)

    async def ping() -> None:
        async with res.autocommit.connect() as conn:
            await conn.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(ping(), 2)
        database = "connected"
    except Exception:
        database = "disconnected"
    try:
        workers = len(await live_workers(res.redis, res.keys, "media"))
    except Exception:
        workers = 0
    services = HealthServices(
        orchestrator="ready" if workers else "no media workers",
        websocket="ready",
        media_workers=workers,
    )
    if database != "connected":
        return Response(Health("unhealthy", database, services), status_code=503)
    return Response(Health("healthy" if workers else "degraded", database, services))


# -- the five steps ----------------------------------------------------------------------------


async def _run(
    request: Request[Any, Any, Any],
    user: StudioUser,
    kind: str,
    payload: msgspec.Struct,
    session_id: str,
) -> Any:
    """Run one step's job for the caller, its events also on the session's topic."""
    return await run(
        request,
        user.principal,
        kind,
        payload,
        deadline_s=from_request(request).settings.studio.step_deadline_s,
        topics=[session_topic(session_id)],
        job_errors=JOB_ERRORS,
    )


async def _session_in(
    res: Resources,
    user: NamedDependency[StudioUser],
    session_id: str,
    allowed: tuple[str, ...],
    step: str,
) -> Any:
    async with res.autocommit.connect() as conn:
        row = await owned_session(conn, session_id, user.id)
    if row.status not in allowed:
        raise Conflict(
            f"Session is {row.status}; {step} needs it {' or '.join(allowed)}",
            code="WRONG_STATE",
        )
    return row


async def _ws(request: Request[Any, Any, Any], session_id: str) -> str:
    return socket_url(request, session_id, from_request(request).settings.studio.socket_url_ttl_s)


@post(
    "/api/generate-images",
    status_code=200,
    summary="Step 1: images from a prompt (a new session)",
    tags=TAGS,
    responses=_responses(ImagesGenerated, 400, 401, 409, 502, 503, 504),
)
async def generate_images(
    request: Request[Any, Any, Any],
    data: JSONBody[GenerateImages],
    user: NamedDependency[StudioUser],
) -> Response[Any]:
    if data.aspect_ratio not in IMAGE_SIZES:
        raise BadRequest(f"aspect_ratio must be one of {', '.join(IMAGE_SIZES)}")
    if not data.prompt.strip():
        raise BadRequest("prompt is empty")
    res = from_request(request)
    async with res.engine.begin() as conn:
        sid = str(await repo.create_session(conn, user.id, data.prompt, data.aspect_ratio))
    payload = GenerateImagesPayload(
        session_id=sid,
        prompt=data.prompt,
        num_images=data.num_images,
        aspect_ratio=data.aspect_ratio,
    )
    outcome = await _run(request, user, "studio.generate_images", payload, sid)
    if isinstance(outcome, Response):
        return outcome
    store = await res.blobs()
    images = [
        ImageOut(url=await store.download_url(i["key"]), index=i["index"])
        for i in outcome.result["images"]
    ]
    return Response(ImagesGenerated(session_id=sid, status="completed", images=images))


async def _approve(
    request: Request[Any, Any, Any],
    user: NamedDependency[StudioUser],
    session_id: str,
    urls: list[str],
    kind: Literal["image", "clip"],
    allowed: tuple[str, ...],
) -> Response[Any]:
    res = from_request(request)
    row = await _session_in(res, user, session_id, allowed, f"approving {kind}s")
    async with res.autocommit.connect() as conn:
        assets = await repo.list_assets(conn, [row.id])
    ids = match_assets(urls, assets, kind)
    payload = ApprovePayload(session_id=str(row.id), kind=kind, asset_ids=ids)
    outcome = await _run(request, user, "studio.approve", payload, str(row.id))
    if isinstance(outcome, Response):
        return outcome
    count = outcome.result["approved_count"]
    return Response(Approved(status="success", session_id=str(row.id), approved_count=count))


@post(
    "/api/save-approved-images",
    status_code=200,
    summary="Step 2: the images the user approved",
    tags=TAGS,
    responses=_responses(Approved, 400, 401, 404, 409, 504),
)
async def save_approved_images(
    request: Request[Any, Any, Any],
    data: JSONBody[SaveApprovedImages],
    user: NamedDependency[StudioUser],
) -> Response[Any]:
    allowed = ("reviewing_images", "images_approved")
    return await _approve(
        request, user, data.session_id, data.approved_image_urls, "image", allowed
    )


@post(
    "/api/generate-clips",
    status_code=200,
    summary="Step 3: clips from the approved images",
    tags=TAGS,
    responses=_responses(ClipsGenerated, 400, 401, 404, 409, 502, 503, 504),
)
async def generate_clips(
    request: Request[Any, Any, Any],
    data: JSONBody[GenerateClips],
    user: NamedDependency[StudioUser],
) -> Response[Any]:
    if not data.video_prompt.strip():
        raise BadRequest("video_prompt is empty")
    res = from_request(request)
    allowed = ("images_approved", "reviewing_clips", "clips_approved")
    row = await _session_in(res, user, data.session_id, allowed, "generating clips")
    sid = str(row.id)
    payload = GenerateClipsPayload(
        session_id=sid,
        video_prompt=data.video_prompt,
        num_clips=data.num_clips,
        # The clip models make 5 or 10 s clips.
        duration=5 if data.duration <= 7.5 else 10,
    )
    outcome = await _run(request, user, "studio.generate_clips", payload, sid)
    if isinstance(outcome, Response):
        return outcome
    store = await res.blobs()
    clips = [
        ClipOut(url=await store.download_url(c["key"]), index=c["index"], duration=c["duration"])
        for c in outcome.result["clips"]
    ]
    return Response(ClipsGenerated(session_id=sid, status="completed", clips=clips))


@post(
    "/api/save-approved-clips",
    status_code=200,
    summary="Step 4: the clips the user approved, in order",
    tags=TAGS,
    responses=_responses(Approved, 400, 401, 404, 409, 504),
)
async def save_approved_clips(
    request: Request[Any, Any, Any],
    data: JSONBody[SaveApprovedClips],
    user: NamedDependency[StudioUser],
) -> Response[Any]:
    allowed = ("reviewing_clips", "clips_approved")
    return await _approve(request, user, data.session_id, data.approved_clip_urls, "clip", allowed)


def _our_hosts(request: Request[Any, Any, Any], res: Resources) -> set[str]:
    """Where links to our own store point: this API, its public URL, the S3 endpoints."""
    settings = res.settings
    hosts = {request.headers.get("host", ""), f"{settings.api.host}:{settings.api.port}"}
    for url in (
        settings.api.public_url,
        settings.blob.s3_endpoint,
        settings.blob.s3_public_endpoint,
    ):
        if url:
            hosts.add(urlsplit(url).netloc)
    return {h.lower() for h in hosts if h}


async def _audio(
    request: Request[Any, Any, Any], res: Resources, user: NamedDependency[StudioUser], url: str
) -> tuple[str | None, str | None]:
    """(audio_key, audio_url): the caller's own stored file, or a public URL to fetch."""
    key = url if url.startswith("users/") else None
    if key is None:
        try:
            host = urlsplit(url).netloc.lower()
        except ValueError as exc:
            raise BadRequest(f"audio_url is not a valid URL: {exc}") from exc
        if host in _our_hosts(request, res):
            key = named_key(url)
            if key is None:
                raise BadRequest("audio_url points at this server but names no stored file")
    if key is not None:
        own_key(key, user.root)
        store = await res.blobs()
        if not await store.exists(key):
            raise BadRequest("audio_url names a file that does not exist")
        return key, None
    await policy_from(res.settings.studio).check(url)
    return None, url


@post(
    "/api/compose-final-video",
    status_code=200,
    summary="Step 5: the final video from the approved clips, with overlays and audio",
    tags=TAGS,
    responses=_responses(FinalVideo, 400, 401, 403, 404, 409, 504),
)
async def compose_final_video(
    request: Request[Any, Any, Any], data: JSONBody[ComposeFinal], user: NamedDependency[StudioUser]
) -> Response[Any]:
    res = from_request(request)
    row = await _session_in(
        res, user, data.session_id, ("clips_approved", "completed"), "composing"
    )
    sid = str(row.id)
    audio_key, audio_url = (
        await _audio(request, res, user, data.audio_url) if data.audio_url else (None, None)
    )
    payload = ComposePayload(
        session_id=sid,
        text_overlays=[
            Overlay(text=o.text, start_time=o.start_time, duration=o.duration)
            for o in data.text_overlays
        ],
        audio_key=audio_key,
        audio_url=audio_url,
    )
    outcome = await _run(request, user, "studio.compose", payload, sid)
    if isinstance(outcome, Response):
        return outcome
    url = await (await res.blobs()).download_url(outcome.result["key"])
    return Response(FinalVideo(session_id=sid, status="completed", video_url=url))


WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@post(
    "/api/replicate/webhook",
    status_code=200,
    summary="Replicate's signed completion webhooks (relayed to the media workers)",
    tags=TAGS,
    security=[{}],
    responses=ERRORS.responses(403, 404, 413),
)
async def replicate_webhook(request: Request[Any, Any, Any]) -> dict[str, str]:
    res = from_request(request)
    config = res.settings.replicate
    if not config.webhook_secret:
        raise NotFound("Replicate webhooks are not enabled on this server")
    body = await request.body()
    headers = {k: request.headers.get(k, "") for k in WEBHOOK_HEADERS}
    try:
        verify_signature(
            headers, body, config.webhook_secret, tolerance_s=config.webhook_tolerance_s
        )
    except WebhookRejected as exc:
        raise Forbidden(str(exc)) from exc
    delivery = WebhookDelivery(headers=headers, body=body)
    await res.redis.publish(
        webhook_channel(res.settings.redis.prefix), msgspec.json.encode(delivery)
    )
    return {"status": "received"}


# -- sessions ----------------------------------------------------------------------------------


@get(
    "/api/sessions/",
    summary="The caller's sessions, newest first",
    tags=TAGS,
    responses=ERRORS.responses(400, 401),
)
async def list_sessions(
    request: Request[Any, Any, Any],
    user: NamedDependency[StudioUser],
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
    offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
) -> list[SessionView]:
    res = from_request(request)
    async with res.autocommit.connect() as conn:
        rows = await repo.list_sessions(conn, user.id, limit, offset)
        assets = await repo.list_assets(conn, [r.id for r in rows])
    store = await res.blobs()
    views = []
    for row in rows:
        mine = [a for a in assets if a.session_id == row.id]
        views.append(await session_view(store, row, mine, await _ws(request, str(row.id))))
    return views


@get(
    "/api/sessions/{session_id:str}",
    summary="One session with its assets",
    tags=TAGS,
    responses=ERRORS.responses(400, 401, 404),
)
async def get_session(
    request: Request[Any, Any, Any], session_id: FromPath[str], user: NamedDependency[StudioUser]
) -> SessionView:
    res = from_request(request)
    async with res.autocommit.connect() as conn:
        row = await owned_session(conn, session_id, user.id)
        assets = await repo.list_assets(conn, [row.id])
    store = await res.blobs()
    return await session_view(store, row, assets, await _ws(request, str(row.id)))


@get(
    "/api/sessions/{session_id:str}/costs",
    summary="A session's costs per step",
    tags=TAGS,
    responses=ERRORS.responses(400, 401, 404),
)
async def session_costs(
    request: Request[Any, Any, Any], session_id: FromPath[str], user: NamedDependency[StudioUser]
) -> Costs:
    res = from_request(request)
    async with res.autocommit.connect() as conn:
        row = await owned_session(conn, session_id, user.id)
        lines = await repo.list_costs(conn, row.id)
    breakdown = [
        CostLineView(service=c.service, cost=c.cost, tokens_used=c.tokens_used, details=c.details)
        for c in lines
    ]
    total = round(sum(c.cost for c in lines), 10)
    return Costs(session_id=str(row.id), total_cost=total, breakdown=breakdown)


# -- storage -----------------------------------------------------------------------------------

MiB = 1024 * 1024
UPLOAD_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/gif",
        "audio/mpeg",
        "audio/ogg",
        "audio/flac",
        "audio/wav",
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "application/json",
    }
)
# The route's ceiling; the setting `studio.max_upload_bytes` may only lower it.
UPLOAD = UploadPolicy(prefix="users", max_bytes=1024 * MiB, accept=UPLOAD_TYPES)
OUTPUT_FOLDERS = ("images", "videos", "final", "audio")


@upload_route(
    "/api/storage/upload-input",
    UPLOAD,
    status_code=200,
    summary="Upload a file to the caller's input folder",
    tags=TAGS,
    responses=ERRORS.responses(400, 401, 413, 415),
)
async def upload_input(
    request: Request[Any, Any, Any], user: NamedDependency[StudioUser]
) -> Uploaded:
    res = from_request(request)
    store = await res.blobs()
    policy = msgspec.structs.replace(
        UPLOAD, max_bytes=min(UPLOAD.max_bytes, res.settings.studio.max_upload_bytes)
    )
    form = await receive_uploads(request, store, policy, prefix=f"{user.root}input")
    (stored,) = form.files
    # The original's key: users/<id>/input/<uuid hex><ext>; the client's name only in the reply.
    key = f"{user.root}input/{uuid.uuid4().hex}{PurePosixPath(stored.key).suffix}"
    try:
        await store.move(stored.key, key)
    except BaseException:
        await store.delete(stored.key)
        raise
    return Uploaded(
        url=await store.download_url(key),
        key=key,
        size=stored.size,
        content_type=stored.content_type,
        original_filename=stored.filename,
    )


@post(
    "/api/storage/upload-prompt-config",
    status_code=200,
    summary="Store a prompt configuration as JSON in the input folder",
    tags=TAGS,
    responses=ERRORS.responses(400, 401, 413),
)
async def upload_prompt_config(
    request: Request[Any, Any, Any], data: JSONBody[PromptConfig], user: NamedDependency[StudioUser]
) -> PromptConfigSaved:
    store = await from_request(request).blobs()
    key = f"{user.root}input/prompt-{data.session_id}.json"
    await store.put(key, msgspec.json.encode(data.config_data), content_type="application/json")
    return PromptConfigSaved(status="success", key=key, session_id=data.session_id)


@get(
    "/api/storage/files",
    summary="The caller's files in a folder, with presigned URLs",
    tags=TAGS,
    responses=ERRORS.responses(400, 401),
)
async def list_files(
    request: Request[Any, Any, Any],
    user: NamedDependency[StudioUser],
    folder: FromQuery[str],
    asset_type: FromQuery[str | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0,
) -> FileList:
    if folder not in ("input", "output"):
        raise BadRequest("folder must be 'input' or 'output'")
    prefix = f"{user.root}{folder}/"
    if asset_type is not None:
        if folder != "output" or asset_type not in OUTPUT_FOLDERS:
            raise BadRequest(
                f"asset_type must be one of {', '.join(OUTPUT_FOLDERS)}, with folder=output"
            )
        prefix += f"{asset_type}/"
    store = await from_request(request).blobs()
    entries = [e async for e in store.iter(prefix)]
    page = entries[offset : offset + limit]
    files = [
        FileView(
            key=e.key,
            size=e.size,
            last_modified=e.modified,
            content_type=mimetypes.guess_type(e.key)[0] or "application/octet-stream",
            presigned_url=await store.download_url(e.key),
        )
        for e in page
    ]
    return FileList(files=files, total=len(entries), limit=limit, offset=offset)


def _file_key(file_key: FromPath[str], user: NamedDependency[StudioUser]) -> str:
    return own_key(file_key.lstrip("/"), user.root)


@get(
    "/api/storage/files/{file_key:path}",
    summary="A presigned URL for one of the caller's files (…/presigned-url)",
    tags=TAGS,
    responses=ERRORS.responses(400, 401, 403, 404),
)
async def presigned_url(
    request: Request[Any, Any, Any],
    file_key: FromPath[str],
    user: NamedDependency[StudioUser],
    expires_in: FromQuery[int] = 3600,
) -> Presigned:
    path = file_key.lstrip("/")
    if not path.endswith("/presigned-url"):
        raise NotFound("Not found: ask for /api/storage/files/{file_key}/presigned-url")
    key = _file_key(path.removesuffix("/presigned-url"), user)
    ceiling = from_request(request).settings.studio.max_url_ttl_s
    if not 1 <= expires_in <= ceiling:
        raise BadRequest(f"expires_in must be 1 to {ceiling} seconds")
    store = await from_request(request).blobs()
    if not await store.exists(key):
        raise NotFound("File not found")
    return Presigned(
        presigned_url=await store.download_url(key, ttl_s=expires_in), expires_in=expires_in
    )


@delete(
    "/api/storage/files/{file_key:path}",
    status_code=200,
    summary="Delete one of the caller's files",
    tags=TAGS,
    responses=ERRORS.responses(400, 401, 403, 404),
)
async def delete_file(
    request: Request[Any, Any, Any], file_key: FromPath[str], user: NamedDependency[StudioUser]
) -> Deleted:
    key = _file_key(file_key, user)
    store = await from_request(request).blobs()
    try:
        removed = await store.delete(key)
    except BlobError as exc:
        raise BadRequest(str(exc)) from exc
    if not removed:
        raise NotFound("File not found")
    return Deleted(status="success", message="File deleted successfully", key=key)


ROUTES = [
    root,
    health,
    generate_images,
    save_approved_images,
    generate_clips,
    save_approved_clips,
    compose_final_video,
    replicate_webhook,
    list_sessions,
    get_session,
    session_costs,
    upload_input,
    upload_prompt_config,
    list_files,
    presigned_url,
    delete_file,
]

__all__ = ["ROUTES", "parse_session_id"]
