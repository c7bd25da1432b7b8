"""Rigging job handlers: fetch the inputs from the blob store, run the engine in a thread,
store the result and record it as a file of the session.

The engine works on local files, so each job gets a scratch directory. Cancellation reaches
the engine through its progress callback, which raises once the job's flag is set: the
engine stops at its next stage or bone instead of running to the end.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from domain.job import JobCancelled, PermanentError, TransientError
from domain.rigging.model import Limits, Progress, RigSummary
from domain.rigging.pipeline import merge_job, skeleton_job, skinning_job
from infra.blob.error import BackendUnavailable, BlobNotFound
from infra.blob.mediatype import FBX
from infra.blob.store import BlobStore
from infra.db import rigging as repo
from infra.db.engine import transaction
from workers.catalog.rigging import RigPayload
from workers.context import JobContext, check_cancelled

RESULT_PREFIX = "rigging/results"
_TYPES = {"glb": "model/gltf-binary", "fbx": FBX}
# Shares of the progress bar: fetching inputs, the engine, storing the result.
_FETCHED, _COMPUTED = 5.0, 95.0


class ProcessingFailed(PermanentError):
    """The engine could not rig this input: the contract's PROCESSING_FAILED."""

    code = "PROCESSING_FAILED"


async def skeleton(ctx: JobContext, payload: RigPayload) -> dict[str, Any]:
    """A model → the same mesh with a generated skeleton."""

    def work(inputs: list[Path], out: Path, limits: Limits, progress: Progress) -> RigSummary:
        return skeleton_job(inputs[0], out, limits, payload.format, progress=progress)

    return await _run(ctx, payload, work, "skeleton")


async def skinning(ctx: JobContext, payload: RigPayload) -> dict[str, Any]:
    """A skeleton file → the mesh with skin weights on that skeleton."""

    def work(inputs: list[Path], out: Path, limits: Limits, progress: Progress) -> RigSummary:
        return skinning_job(inputs[0], out, limits, payload.format, progress=progress)

    return await _run(ctx, payload, work, "skinning")


async def merge(ctx: JobContext, payload: RigPayload) -> dict[str, Any]:
    """A skeleton file and a skin file of one model → the rigged model."""

    def work(inputs: list[Path], out: Path, limits: Limits, progress: Progress) -> RigSummary:
        if len(inputs) != 2:
            raise ProcessingFailed("merge needs a skeleton file and a skinning file")
        return merge_job(inputs[0], inputs[1], out, limits, payload.format, progress=progress)

    return await _run(ctx, payload, work, "merge")


Work = Callable[[list[Path], Path, Limits, Progress], RigSummary]


async def _run(ctx: JobContext, payload: RigPayload, work: Work, stage: str) -> dict[str, Any]:
    store = ctx["resources"].blob
    if store is None:
        raise TransientError("the blob store is not reachable")
    settings = ctx["resources"].settings.rigging
    limits = Limits(
        max_faces=settings.max_faces,
        max_vertices=settings.max_vertices,
        max_file_bytes=settings.max_file_bytes,
        joint_budget=settings.joint_budget,
    )
    with tempfile.TemporaryDirectory(prefix="rigging-") as scratch:
        folder = Path(scratch)
        await ctx["progress"](0, "fetching input")
        inputs = [
            await _fetch(store, item.key, item.name, folder / f"in{i}", limits)
            for i, item in enumerate(payload.inputs)
        ]
        await ctx["progress"](_FETCHED, f"{stage}: starting")
        out = folder / "out" / payload.output_name
        out.parent.mkdir()
        summary = await ctx["run_in_thread"](
            _engine, work, inputs, out, limits, _reporter(ctx), stage
        )
        await ctx["progress"](_COMPUTED, "storing result")
        size = await _store_result(ctx, store, payload, out)
    return {
        "output_name": payload.output_name,
        "format": payload.format,
        "size": size,
        "joints": summary.joints,
        "vertices": summary.vertices,
        "faces": summary.faces,
    }


def _engine(
    work: Work, inputs: list[Path], out: Path, limits: Limits, progress: Progress, stage: str
) -> RigSummary:
    """Run the engine; anything it raises but cancellation is this input's failure."""
    try:
        return work(inputs, out, limits, progress)
    except (JobCancelled, PermanentError):
        raise
    except Exception as exc:
        # The engine's own errors say what is wrong with the model; anything else it raised
        # still means this input could not be rigged, and retrying it would fail again.
        detail = str(exc) or type(exc).__name__
        raise ProcessingFailed(f"{stage} failed: {detail}") from exc


def _reporter(ctx: JobContext) -> Progress:
    """The engine's progress callback: scaled into the engine's share, and the point where a
    cancelled job's thread stops."""
    flag, report = ctx["cancelled"], ctx["report"]

    def progress(pct: float, message: str) -> None:
        check_cancelled(flag)
        report(_FETCHED + (_COMPUTED - _FETCHED) * pct / 100.0, message)

    return progress


async def _fetch(store: BlobStore, key: str, name: str, folder: Path, limits: Limits) -> Path:
    """Copy one input blob to the scratch folder, under its session name (the engine reads
    formats by content, and a glTF's sidecar files would resolve next to it)."""
    await asyncio.to_thread(folder.mkdir)
    path = folder / Path(name).name
    try:
        reader = await store.get(key)
    except BlobNotFound as exc:
        raise ProcessingFailed(f"input file {name!r} no longer exists") from exc
    except BackendUnavailable as exc:
        raise TransientError(f"blob store unavailable: {exc}") from exc
    if reader.meta.size > limits.max_file_bytes:
        await reader.aclose()
        raise ProcessingFailed(
            f"input file {name!r} is {reader.meta.size} bytes, over the limit of "
            f"{limits.max_file_bytes}"
        )
    async with reader:
        f = await asyncio.to_thread(path.open, "wb")
        try:
            async for chunk in reader:
                # Off the event loop: a large model must not hold up the worker's heartbeats.
                await asyncio.to_thread(f.write, chunk)
        finally:
            f.close()
    return path


async def _store_result(ctx: JobContext, store: BlobStore, payload: RigPayload, out: Path) -> int:
    """Put the result in the store, then record it as the session's file of that name (the
    file it replaces is deleted). A session deleted meanwhile gets nothing left behind."""
    key = f"{RESULT_PREFIX}/{uuid.uuid4().hex}/{payload.output_name}"
    data = await asyncio.to_thread(out.read_bytes)
    meta = await store.put(key, data, content_type=_TYPES[payload.format])
    try:
        async with transaction(ctx["resources"].engine) as conn:
            replaced = await repo.put_file(
                conn,
                uuid.UUID(payload.session),
                "results",
                payload.output_name,
                key,
                meta.size,
                meta.content_type,
            )
    except IntegrityError as exc:
        await store.delete(key)
        raise ProcessingFailed("the session was deleted while the job ran") from exc
    except BaseException:
        await store.delete(key)
        raise
    if replaced is not None:
        await store.delete(replaced)
    return meta.size
