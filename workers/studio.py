"""The studio's step handlers, on the media pool.

Each step moves its session to a working status with a conditional UPDATE (the step's order
is decided there), does its work, stores its files and rows, and moves the session on. A
step that fails puts the session back where it was, so the user can try it again; the first
step, which made the session, leaves it `failed`. Files are keyed by session and job, so a
job that runs twice overwrites its own files and its rows are inserted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
from redis.exceptions import RedisError
from sqlalchemy import func

from domain.job import PermanentError, TransientError
from domain.studio.error import PredictionFailed, PredictionUncertain, StudioError
from domain.studio.model import CLIP_SIZES, ClipRequest, CostLine, ImageRequest
from domain.studio.provider import Provider
from infra.blob.error import InvalidKey
from infra.blob.key import validate_key
from infra.blob.store import BlobStore
from infra.db import studio as repo
from infra.fetch import FetchRefused, fetch, policy_from
from workers.catalog.studio import (
    ApprovePayload,
    ComposePayload,
    GenerateClipsPayload,
    GenerateImagesPayload,
    WebhookDelivery,
    webhook_channel,
)
from workers.context import JobContext, WorkerResources

log = logging.getLogger("switchyard.studio")
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4"}


async def provider_for(res: WorkerResources) -> Provider:
    """Replicate when a token is configured (told of ends by webhooks when they are set up),
    else the offline local provider."""
    settings = res.settings
    if settings.replicate.api_token:
        from infra.replicate import build_provider

        return build_provider(settings.replicate, inbox=await _webhook_inbox(res))
    from domain.studio.local import LocalProvider

    return LocalProvider(fps=settings.studio.local_fps)


# This process's inbox of Replicate webhooks and the task feeding it, per Redis client (one
# per worker) and channel.
_inboxes: dict[tuple[int, str], tuple[Any, asyncio.Task[None]]] = {}


async def _webhook_inbox(res: WorkerResources) -> Any:
    """The inbox the API's verified webhooks reach (over Redis pub/sub), once subscribed;
    None without a webhook URL and secret. A webhook lost on the way costs a poll
    (`webhook_fallback_poll_s`), not the prediction."""
    from infra.replicate import WebhookInbox

    config = res.settings.replicate
    if not (config.webhook_url and config.webhook_secret):
        return None
    channel = webhook_channel(res.settings.redis.prefix)
    held = _inboxes.get((id(res.redis), channel))
    if held is not None and not held[1].done():
        return held[0]
    inbox = WebhookInbox(config.webhook_secret, tolerance_s=config.webhook_tolerance_s)
    pubsub = res.redis.pubsub()
    # Subscribed before any prediction is created, so no completion can pass unheard.
    await pubsub.subscribe(channel)
    _inboxes[(id(res.redis), channel)] = (inbox, asyncio.create_task(_relay(pubsub, inbox)))
    return inbox


async def _relay(pubsub: Any, inbox: Any) -> None:
    """Hand each relayed webhook to the inbox, until the worker's Redis goes away (the next
    generation then subscribes again)."""
    from domain.studio.webhook import WebhookRejected

    try:
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            try:
                delivery = msgspec.json.decode(message["data"], type=WebhookDelivery)
                inbox.receive(delivery.headers, delivery.body)
            except (WebhookRejected, msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.warning("studio: a Replicate webhook was not taken: %s", exc)
    except (RedisError, OSError) as exc:
        log.info("studio: Replicate webhook relay stopped: %s", exc)
    finally:
        with contextlib.suppress(RedisError, OSError):
            await pubsub.aclose()


class Step(msgspec.Struct, frozen=True):
    """The session a step works on, and the folder its owner's files live in."""

    row: Any
    root: str  # users/<number>/

    def key(self, folder: str, name: str) -> str:
        """Where a step's file goes: under the owner's `output/<folder>/`, per session."""
        return f"{self.root}output/{folder}/{self.row.id}/{name}"


def _store(res: WorkerResources) -> BlobStore:
    if res.blob is None:
        raise TransientError("the blob store is not reachable", code="STORAGE_UNAVAILABLE")
    return res.blob


def _job_error(exc: StudioError) -> Exception:
    """An engine error as the job's error: transient ones retry, the rest fail at once."""
    if exc.transient:
        return TransientError(str(exc), code="PROVIDER_UNAVAILABLE")
    if isinstance(exc, PredictionFailed | PredictionUncertain):
        return PermanentError(str(exc), code="GENERATION_FAILED")
    return PermanentError(str(exc), code="INVALID_INPUT")


def _session_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise PermanentError("Session not found", code="NOT_FOUND") from exc


async def _refuse(res: WorkerResources, sid: uuid.UUID, owner: uuid.UUID, needs: str) -> None:
    """Why a session did not move: not the job owner's (404), or in another state (409)."""
    async with res.engine.connect() as conn:
        now = await repo.get_session(conn, sid, owner)
    if now is None:
        raise PermanentError("Session not found", code="NOT_FOUND")
    raise PermanentError(f"Session is {now.status}; this step needs it {needs}", code="WRONG_STATE")


@contextlib.asynccontextmanager
async def _step(
    ctx: JobContext, session_id: str, allowed: Sequence[str], working: str, back: str
) -> AsyncIterator[Step]:
    """The job owner's session moved to `working` for the body; on failure moved to `back`."""
    res = ctx["resources"]
    sid = _session_id(session_id)
    owner = uuid.UUID(ctx["owner_id"])
    async with res.engine.begin() as conn:
        row = await repo.advance(conn, sid, [*allowed, working], working, owner=owner, error=None)
        number = await repo.user_number(conn, owner)
    if row is None:
        await _refuse(res, sid, owner, " or ".join(allowed))
    try:
        yield Step(row=row, root=f"users/{number}/")
    except BaseException as exc:
        async with res.engine.begin() as conn:
            await repo.advance(conn, sid, [working], back, error=str(exc)[:1000] or None)
        if isinstance(exc, StudioError):
            raise _job_error(exc) from exc
        if isinstance(exc, FetchRefused):
            raise PermanentError(str(exc), code="URL_REFUSED") from exc
        raise


async def _record_costs(
    res: WorkerResources, ctx: JobContext, session_id: str, step: str, lines: list[CostLine]
) -> None:
    async with res.engine.begin() as conn:
        await repo.add_costs(
            conn,
            uuid.UUID(session_id),
            uuid.UUID(ctx["job_id"]),
            step,
            [msgspec.structs.asdict(line) for line in lines],
        )


async def generate_images(ctx: JobContext, p: GenerateImagesPayload) -> dict[str, Any]:
    """Step 1: the prompt's images, copied into the blob store (provider URLs expire)."""
    res = ctx["resources"]
    store = _store(res)
    lines: list[CostLine] = []
    async with _step(ctx, p.session_id, ["pending"], "generating_images", "failed") as step:
        ctx["report"](1, "Generating images")
        provider = await provider_for(res)
        try:
            result = await provider.generate_images(
                ImageRequest(
                    prompt=p.prompt, num_outputs=p.num_images, aspect_ratio=p.aspect_ratio
                ),
                progress=lambda pct, _m: ctx["report"](pct * 0.9, "Generating images"),
                on_cost=lines.append,
            )
        finally:
            # A prediction that failed or was canceled may still have been billed.
            await _record_costs(res, ctx, p.session_id, "generate_images", lines)
        rows = []
        for asset in result.assets:
            ext = _EXTENSIONS.get(asset.content_type, "bin")
            key = step.key("images", f"image-{asset.index}.{ext}")
            await store.put(key, asset.data, content_type=asset.content_type)
            rows.append({"type": "image", "key": key, "position": asset.index})
        async with res.engine.begin() as conn:
            await repo.add_assets(conn, uuid.UUID(p.session_id), rows)
            await repo.advance(
                conn, uuid.UUID(p.session_id), ["generating_images"], "reviewing_images"
            )
    return {
        "session_id": p.session_id,
        "images": [{"key": r["key"], "index": r["position"]} for r in rows],
    }


async def approve(ctx: JobContext, p: ApprovePayload) -> dict[str, Any]:
    """Steps 2 and 4: exactly these images (clips) approved, in this order."""
    res = ctx["resources"]
    sid = _session_id(p.session_id)
    owner = uuid.UUID(ctx["owner_id"])
    if p.kind == "image":
        allowed, done = ["reviewing_images", "images_approved"], "images_approved"
    else:
        allowed, done = ["reviewing_clips", "clips_approved"], "clips_approved"
    async with res.engine.begin() as conn:
        row = await repo.advance(conn, sid, allowed, done, owner=owner)
        if row is None:
            await _refuse(res, sid, owner, " or ".join(allowed))
        count = await repo.approve(conn, sid, p.kind, p.asset_ids)
        if count != len(set(p.asset_ids)):
            # Rolled back with the transaction: nothing half-approved stays.
            raise PermanentError(f"not every {p.kind} named is this session's", code="NOT_FOUND")
    return {"session_id": p.session_id, "approved_count": count}


async def generate_clips(ctx: JobContext, p: GenerateClipsPayload) -> dict[str, Any]:
    """Step 3: a clip from each approved image in turn, copied into the blob store."""
    res = ctx["resources"]
    store = _store(res)
    sid = _session_id(p.session_id)
    lines: list[CostLine] = []
    allowed = ["images_approved", "reviewing_clips", "clips_approved"]
    async with _step(ctx, p.session_id, allowed, "generating_clips", "images_approved") as step:
        async with res.engine.begin() as conn:
            await repo.set_video_prompt(conn, sid, p.video_prompt)
            images = await repo.approved(conn, sid, "image")
        if not images:
            raise PermanentError("no approved images to make clips from", code="WRONG_STATE")
        ratio = step.row.aspect_ratio
        aspect = ratio if ratio in CLIP_SIZES else "16:9"
        provider = await provider_for(res)
        job = ctx["job_id"][:8]
        rows = []
        try:
            for i in range(p.num_clips):
                image = images[i % len(images)]
                data = await store.read(image.key)

                def report(pct: float, _m: str, i: int = i) -> None:
                    ctx["report"](
                        (100 * i + pct) * 0.95 / p.num_clips,
                        f"Generating clip {i + 1} of {p.num_clips}",
                    )

                result = await provider.generate_clip(
                    ClipRequest(
                        prompt=p.video_prompt,
                        image=data,
                        duration=p.duration,
                        aspect_ratio=aspect,
                        seed=i,
                    ),
                    progress=report,
                    on_cost=lines.append,
                )
                key = step.key("videos", f"clip-{job}-{i}.mp4")
                await store.put(key, result.assets[0].data, content_type="video/mp4")
                rows.append(
                    {"type": "clip", "key": key, "position": i, "duration": result.duration}
                )
        finally:
            # Predictions that failed or were canceled may still have been billed.
            await _record_costs(res, ctx, p.session_id, "generate_clips", lines)
        async with res.engine.begin() as conn:
            await repo.add_assets(conn, sid, rows)
            await repo.advance(conn, sid, ["generating_clips"], "reviewing_clips")
    return {
        "session_id": p.session_id,
        "clips": [
            {"key": r["key"], "index": r["position"], "duration": r["duration"]} for r in rows
        ],
    }


async def compose(ctx: JobContext, p: ComposePayload) -> dict[str, Any]:
    """Step 5: the approved clips in order, with the overlays and the audio track."""
    from domain.studio.composition import MediaInput, TextOverlay
    from domain.studio.composition import compose as compose_video

    res = ctx["resources"]
    store = _store(res)
    sid = _session_id(p.session_id)
    allowed = ["clips_approved", "completed"]
    async with _step(ctx, p.session_id, allowed, "composing", "clips_approved") as step:
        async with res.engine.connect() as conn:
            clips = await repo.approved(conn, sid, "clip")
        if not clips:
            raise PermanentError("no approved clips to compose", code="WRONG_STATE")
        with tempfile.TemporaryDirectory(prefix="studio-compose-") as tmp:
            root = Path(tmp)
            inputs = []
            for i, clip in enumerate(clips):
                path = root / f"clip-{i}.mp4"
                path.write_bytes(await store.read(clip.key))
                inputs.append(MediaInput(f"clip {i + 1}", str(path)))
            audio = await _audio(res, p, step.root, root)
            ctx["report"](5, "Composing the final video")
            result = await ctx["run_in_thread"](
                compose_video,
                inputs,
                root / "final.mp4",
                overlays=[
                    TextOverlay(text=o.text, start_time=o.start_time, duration=o.duration)
                    for o in p.text_overlays
                ],
                audio=audio,
                progress=lambda pct, m: ctx["report"](5 + pct * 0.9, m),
                cancelled=ctx["cancelled"].is_set,
            )
            key = step.key("final", f"final-{ctx['job_id'][:8]}.mp4")
            await store.put(key, (root / "final.mp4").read_bytes(), content_type="video/mp4")
        async with res.engine.begin() as conn:
            await repo.add_assets(
                conn,
                sid,
                [{"type": "final_video", "key": key, "position": 0, "duration": result.duration}],
            )
            await repo.advance(
                conn, sid, ["composing"], "completed", final_key=key, completed_at=func.now()
            )
    return {"session_id": p.session_id, "key": key, "duration": result.duration}


async def _audio(res: WorkerResources, p: ComposePayload, owner_root: str, tmp: Path) -> Any:
    from domain.studio.composition import MediaInput

    path = tmp / "audio"
    if p.audio_key:
        # The API named the caller's own file; checked again, the payload is only data.
        try:
            validate_key(p.audio_key)
        except InvalidKey as exc:
            raise PermanentError(str(exc), code="URL_REFUSED") from exc
        if not p.audio_key.startswith(owner_root):
            raise PermanentError("audio_key is not the caller's file", code="URL_REFUSED")
        path.write_bytes(await _store(res).read(p.audio_key))
        return MediaInput("audio", str(path))
    if p.audio_url:
        data, _ = await fetch(p.audio_url, policy_from(res.settings.studio))
        path.write_bytes(data)
        return MediaInput("audio_url", str(path))
    return None
