"""Inspection handlers on the gpu pool, around one warm engine per worker process.

The backbone is loaded once per process (at worker start by `warm`, or by the first job).
Memory banks are cached by blob key, which names their version: a refit writes a new key, so
every worker's cached copy goes stale with no message to send. /infer jobs for the same
memory bank that arrive within `batch_wait_ms` of each other share one pass through the
backbone (`infra.batching.GroupCommit` with a linger), on CUDA unless `batch` says otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from domain.inspection.calibration import calibrate
from domain.inspection.error import (
    ArtifactError,
    EmptyTrainingSetError,
    GridMismatchError,
    InspectionError,
    InvalidImageError,
    InvalidShapeError,
    WeightsError,
)
from domain.inspection.image import as_rgb
from domain.inspection.inspector import Inspector
from domain.inspection.memory import MemoryBank
from domain.inspection.model import InferResult, Region
from domain.inspection.recipe import check_label, is_meta, meta_name
from domain.inspection.shape import Shape, check_inside, parse_shape
from domain.job import PermanentError
from infra.batching import GroupCommit
from infra.blob.error import BlobNotFound
from infra.blob.store import BlobStore
from infra.inspection import ENGINE_KEY, ModelRef, save_calibration, save_memory
from infra.redis import make_redis
from infra.settings import InspectionSettings, Settings
from workers.catalog.inspection import (
    BACKBONE_UNAVAILABLE,
    INSUFFICIENT_SAMPLES,
    INVALID_IMAGE,
    INVALID_PARAMETER,
    INVALID_SHAPE,
    MEMORY_REPLACED,
    NO_IMAGES,
    NO_SAMPLES,
    TOKEN_GRID_MISMATCH,
    CalibrateDatasetPayload,
    FitPayload,
    InferDatasetPayload,
    InferPayload,
)
from workers.context import JobContext, check_cancelled

log = logging.getLogger("switchyard.inspection")


# -- the warm engine ---------------------------------------------------------------------------


@dataclass
class Engine:
    """The process's backbone and the memory banks it has loaded."""

    inspector: Inspector
    reason: str | None
    cache_size: int
    banks: OrderedDict[str, MemoryBank]
    loads: int = 0


_engine: Engine | None = None
_engine_lock = threading.Lock()
_banks_lock = threading.Lock()
# One batcher per memory bank and event loop (a batcher's task belongs to its loop).
_batchers: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, GroupCommit[InferItem, Any]]
] = weakref.WeakKeyDictionary()
# Loads in flight, per event loop, so concurrent jobs on one new bank load it once.
_loading: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Future[MemoryBank]]
] = weakref.WeakKeyDictionary()


def _load_engine(settings: InspectionSettings) -> Engine:
    global _engine
    with _engine_lock:
        if _engine is None:
            import faiss
            import torch

            from domain.inspection.backbone import load_backbone, resolve_device

            device, _ = resolve_device(settings.device)
            # /health says why the gpu pool runs on the CPU, also when it was told to.
            reason = None if torch.cuda.is_available() else "cuda_not_available"
            inspector = Inspector(load_backbone(settings.dinov2_weights or None, device))
            _engine = Engine(inspector, reason, max(1, settings.cache_size), OrderedDict())
            gpu_faiss = hasattr(faiss, "StandardGpuResources")
            log.info(
                "inspection engine: backbone=%s device=%s%s faiss=%s (%s build) search=%s",
                inspector.model,
                device,
                f" ({reason})" if reason else "",
                faiss.__version__,
                "gpu" if gpu_faiss else "cpu",
                inspector.search,
            )
        return _engine


async def engine(settings: InspectionSettings) -> Engine:
    """The process's engine, loaded on first use (in a thread: it takes seconds)."""
    if _engine is not None:
        return _engine
    try:
        return await asyncio.to_thread(_load_engine, settings)
    except WeightsError as exc:
        raise PermanentError(str(exc), code=BACKBONE_UNAVAILABLE) from exc


async def warm(settings: Settings) -> None:
    """Load the backbone when the worker starts, so the first job does not pay for it, and
    say which backbone and device this pool runs (`/inspection/health` reports it)."""
    eng = await engine(settings.inspection)
    info = {
        "model": eng.inspector.model,
        "device": eng.inspector.device.type,
        "reason": eng.reason,
    }
    redis = make_redis(settings.redis)
    try:
        await redis.set(f"{settings.redis.prefix}:{ENGINE_KEY}", msgspec.json.encode(info))
    finally:
        await redis.aclose()


async def bank(eng: Engine, blob: BlobStore, key: str) -> tuple[MemoryBank, bool]:
    """The memory bank stored under `key`, and whether this call had to load it. Jobs that
    want a bank another job is loading wait for that load instead of loading it again."""
    with _banks_lock:
        cached = eng.banks.get(key)
        if cached is not None:
            eng.banks.move_to_end(key)
            return cached, False
    loading = _loading.setdefault(asyncio.get_running_loop(), {})
    pending = loading.get(key)
    if pending is not None:
        return await asyncio.shield(pending), False
    future: asyncio.Future[MemoryBank] = asyncio.get_running_loop().create_future()
    loading[key] = future
    try:
        loaded = await _load(eng, blob, key)
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: a load nobody else waited for is not an unhandled error
        raise
    finally:
        loading.pop(key, None)
    future.set_result(loaded)
    return loaded, True


async def _load(eng: Engine, blob: BlobStore, key: str) -> MemoryBank:
    try:
        data = await blob.read(key)
    except BlobNotFound as exc:
        raise PermanentError(
            "the memory bank was replaced by a newer fit while this request waited; send it again",
            code=MEMORY_REPLACED,
        ) from exc
    try:
        loaded = await asyncio.to_thread(MemoryBank.from_bytes, data, device=eng.inspector.device)
    except ArtifactError as exc:
        raise PermanentError(str(exc), code=TOKEN_GRID_MISMATCH) from exc
    with _banks_lock:
        eng.banks[key] = loaded
        eng.banks.move_to_end(key)
        while len(eng.banks) > eng.cache_size:
            eng.banks.popitem(last=False)
        eng.loads += 1
    log.info("loaded memory bank %s (%d features)", key, loaded.coreset_size)
    return loaded


# -- errors ------------------------------------------------------------------------------------


def job_error(exc: InspectionError) -> PermanentError:
    """An engine error as the job's permanent failure with the contract's wording."""
    if isinstance(exc, GridMismatchError | ArtifactError):
        return PermanentError(f"Token grid mismatch: {exc}", code=TOKEN_GRID_MISMATCH)
    if isinstance(exc, InvalidImageError):
        return PermanentError(str(exc), code=INVALID_IMAGE)
    if isinstance(exc, InvalidShapeError):
        return PermanentError(str(exc), code=INVALID_SHAPE)
    if isinstance(exc, EmptyTrainingSetError):
        return PermanentError("No images provided", code=NO_IMAGES)
    if isinstance(exc, WeightsError):
        return PermanentError(str(exc), code=BACKBONE_UNAVAILABLE)
    return PermanentError(str(exc), code=INVALID_PARAMETER)


# -- infer: batched through the backbone --------------------------------------------------------


class InferItem(msgspec.Struct, frozen=True):
    """One ROI to score; items with equal settings go through the engine together."""

    image: bytes
    mm_per_px: float
    threshold: float | None
    area_mm2_thr: float | None
    shape: Shape | None


def _infer_group(
    inspector: Inspector, memory: MemoryBank, items: Sequence[InferItem]
) -> list[InferResult | InspectionError]:
    """Score items of one memory bank: those with the same settings and ROI size in one call."""
    out: list[InferResult | InspectionError | None] = [None] * len(items)
    groups: dict[tuple[Any, ...], list[tuple[int, Any]]] = {}
    for i, item in enumerate(items):
        try:
            rgb = as_rgb(item.image)
            if item.shape is not None:
                check_inside(item.shape, rgb.shape[0], rgb.shape[1])
        except InspectionError as exc:
            out[i] = exc
            continue
        key = (item.mm_per_px, item.threshold, item.area_mm2_thr, item.shape, rgb.shape)
        groups.setdefault(key, []).append((i, rgb))
    for members in groups.values():
        first = items[members[0][0]]
        try:
            results: Sequence[InferResult | InspectionError] = inspector.infer_many(
                memory,
                [rgb for _, rgb in members],
                mm_per_px=first.mm_per_px,
                threshold=first.threshold,
                area_mm2_thr=first.area_mm2_thr,
                shape=first.shape,
            )
        except InspectionError as exc:
            results = [exc] * len(members)
        for (i, _), result in zip(members, results, strict=True):
            out[i] = result
    return [r for r in out if r is not None]


def _batching(setting: str, eng: Engine) -> bool:
    """Whether requests share backbone passes: on CUDA by default, where a pass of many crops
    costs about what one costs. On the CPU a batch costs what its crops cost one by one, and
    requests run side by side overlap their decoding, PNG encoding and region search."""
    if setting == "auto":
        return eng.inspector.device.type == "cuda"
    return setting == "on"


def _batcher(eng: Engine, memory: MemoryBank, key: str, wait_ms: float) -> GroupCommit[Any, Any]:
    per_loop = _batchers.setdefault(asyncio.get_running_loop(), {})
    batcher = per_loop.get(key)
    if batcher is None:

        async def write(items: list[InferItem]) -> list[tuple[InferResult | InspectionError, int]]:
            results = await asyncio.to_thread(_infer_group, eng.inspector, memory, items)
            return [(result, len(items)) for result in results]

        batcher = GroupCommit(write, f"infer:{key}", linger_s=wait_ms / 1000.0)
        per_loop[key] = batcher
        # Batchers of banks that left the cache go with them.
        for stale in [k for k in per_loop if k not in eng.banks and k != key]:
            del per_loop[stale]
    return batcher


def region_view(region: Region) -> dict[str, Any]:
    """A region as the original backend writes it: bbox and its parts, area, outline."""
    x, y, w, h = region.bbox
    return {
        "bbox": [x, y, w, h],
        "area_px": region.area_px,
        "area_mm2": region.area_mm2,
        # The engine keeps no polygon; the outline is the region's bounding box.
        "contour": [[x, y], [x + w, y], [x + w, y + h], [x, y + h]],
        "x": x,
        "y": y,
        "w": w,
        "h": h,
    }


def result_view(result: InferResult, include_heatmap: bool | None) -> dict[str, Any]:
    """The contract's /infer body (without request_id and recipe_id)."""
    decision = None
    if result.threshold is not None:
        decision = "ng" if result.score >= result.threshold else "ok"
    send_heatmap = include_heatmap if include_heatmap is not None else decision == "ng"
    return {
        "score": result.score,
        "threshold": result.threshold,
        "token_shape": list(result.token_shape),
        "heatmap_png_base64": (
            base64.b64encode(result.heatmap_png).decode() if send_heatmap else None
        ),
        "regions": [region_view(r) for r in result.regions],
        "decision": decision,
    }


def _shape(raw: dict[str, Any] | None) -> Shape | None:
    if raw is None:
        return None
    try:
        return parse_shape(raw)
    except InvalidShapeError as exc:
        raise job_error(exc) from exc


async def _blob(ctx: JobContext) -> BlobStore:
    store = ctx["resources"].blob
    if store is None:
        raise ConnectionError("the blob store is not reachable from this worker")
    return store


async def _loaded(ctx: JobContext, key: str) -> tuple[Engine, BlobStore, MemoryBank, bool]:
    """The engine, the blob store and the memory bank under `key` (and whether it loaded)."""
    store = await _blob(ctx)
    eng = await engine(ctx["resources"].settings.inspection)
    memory, loaded = await bank(eng, store, key)
    return eng, store, memory, loaded


async def infer(ctx: JobContext, payload: InferPayload) -> dict[str, Any]:
    """Score one ROI; its crop is deleted from Redis once scored."""
    settings = ctx["resources"].settings.inspection
    eng, _, memory, loaded = await _loaded(ctx, payload.memory_key)
    redis = ctx["resources"].redis
    image = await redis.get(payload.image_ref)
    if image is None:
        raise PermanentError(
            "the uploaded image is gone (it waits in Redis for its job for a limited time)",
            code=INVALID_IMAGE,
        )
    item = InferItem(
        image=image,
        mm_per_px=payload.mm_per_px,
        threshold=payload.threshold,
        area_mm2_thr=payload.area_mm2_thr,
        shape=_shape(payload.shape),
    )
    try:
        if _batching(settings.batch, eng):
            batcher = _batcher(eng, memory, payload.memory_key, settings.batch_wait_ms)
            result, batch = await batcher.submit(item)
        else:
            (result,) = await asyncio.to_thread(_infer_group, eng.inspector, memory, [item])
            batch = 1
    finally:
        await redis.delete(payload.image_ref)
    if isinstance(result, InspectionError):
        raise job_error(result)
    # Beside the contract's fields, for operators (GET /jobs/<id>): whether this job had to
    # load the memory bank, and how many requests shared its pass through the backbone.
    return {**result_view(result, payload.include_heatmap), "memory_loaded": loaded, "batch": batch}


# -- fit ---------------------------------------------------------------------------------------


async def _samples(store: BlobStore, prefix: str, label: str) -> list[tuple[str, bytes, Any]]:
    """(filename, bytes, meta or None) of each stored sample of one label, by name."""
    folder = f"{prefix}/{check_label(label)}/"
    names = [entry.key[len(folder) :] async for entry in store.iter(folder)]
    names = sorted(n for n in names if "/" not in n)
    files = [n for n in names if not is_meta(n)]
    metas = set(n for n in names if is_meta(n))
    out = []
    for name in files:
        meta = None
        if meta_name(name) in metas:
            meta = msgspec.json.decode(await store.read(folder + meta_name(name)))
        out.append((name, await store.read(folder + name), meta))
    return out


async def fit(ctx: JobContext, payload: FitPayload) -> dict[str, Any]:
    """Fit the memory bank from the uploads or the stored OK samples and make it current.
    The uploads go once the fit is stored or has failed for good (a retry still needs them)."""
    store = await _blob(ctx)
    try:
        result = await _fit(ctx, store, payload)
    except PermanentError:
        await _discard(store, payload.image_keys)
        raise
    await _discard(store, payload.image_keys)
    return result


async def _discard(store: BlobStore, keys: list[str]) -> None:
    for key in keys:
        await store.delete(key)


async def _fit(ctx: JobContext, store: BlobStore, payload: FitPayload) -> dict[str, Any]:
    settings = ctx["resources"].settings.inspection
    if payload.dataset_prefix is not None:
        images = [data for _, data, _ in await _samples(store, payload.dataset_prefix, "ok")]
        if len(images) < payload.min_ok_samples:
            raise PermanentError(
                f"Insufficient OK samples: need at least {payload.min_ok_samples}, "
                f"found {len(images)}",
                code=INSUFFICIENT_SAMPLES,
            )
    else:
        try:
            images = [await store.read(key) for key in payload.image_keys]
        except BlobNotFound as exc:
            raise PermanentError("an uploaded image is gone", code=NO_IMAGES) from exc
    if not images:
        raise PermanentError("No images provided", code=NO_IMAGES)
    eng = await engine(settings)
    cancelled = ctx["cancelled"]
    report = ctx["report"]

    def progress(percent: float, message: str) -> None:
        check_cancelled(cancelled)
        report(percent * 0.95, message)

    def run() -> tuple[bytes, dict[str, Any], dict[str, Any]]:
        memory, fitted = eng.inspector.fit(
            images, coreset_rate=payload.coreset_rate, full=payload.full, progress=progress
        )
        meta = {
            "backbone": memory.backbone,
            "token_shape": list(memory.token_shape),
            "image_size": list(memory.image_size),
            "n_images": memory.n_images,
            "coreset_size": memory.coreset_size,
        }
        return memory.to_bytes(), meta, msgspec.to_builtins(fitted)

    try:
        data, meta, fitted = await ctx["run_in_thread"](run)
    except InspectionError as exc:
        raise job_error(exc) from exc
    await ctx["progress"](97, "storing the memory bank")
    ref = msgspec.convert(msgspec.to_builtins(payload), ModelRef)
    key = await save_memory(ctx["resources"].engine, store, ref, data, meta)
    return {
        "n_embeddings": fitted["n_embeddings"],
        "coreset_size": fitted["coreset_size"],
        "token_shape": fitted["token_shape"],
        "coreset_rate_requested": fitted["coreset_rate_requested"],
        "coreset_rate_applied": fitted["coreset_rate_applied"],
        "memory_key": key,
    }


# -- datasets ----------------------------------------------------------------------------------


def _mm_per_px(meta: Any, default: float) -> float:
    value = meta.get("mm_per_px") if isinstance(meta, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


async def infer_dataset(ctx: JobContext, payload: InferDatasetPayload) -> dict[str, Any]:
    """Score every stored sample of the labels asked for; a bad file is an item's error."""
    eng, store, memory, _ = await _loaded(ctx, payload.memory_key)
    samples = [
        (label, name, data, meta)
        for label in payload.labels
        for name, data, meta in await _samples(store, payload.dataset_prefix, label)
    ]
    cancelled = ctx["cancelled"]
    report = ctx["report"]

    def run() -> list[dict[str, Any]]:
        items = []
        for n, (label, name, data, meta) in enumerate(samples, start=1):
            check_cancelled(cancelled)
            mm = _mm_per_px(meta, payload.default_mm_per_px)
            item: dict[str, Any] = {"label": label, "filename": name, "mm_per_px": mm}
            try:
                (result,) = eng.inspector.infer_many(
                    memory,
                    [data],
                    mm_per_px=mm,
                    threshold=payload.threshold,
                    area_mm2_thr=payload.area_mm2_thr,
                )
            except InspectionError as exc:
                item.update(
                    score=None,
                    threshold=payload.threshold,
                    regions=[],
                    n_regions=0,
                    error=job_error(exc).detail,
                )
            else:
                view = result_view(result, payload.include_heatmap)
                item.update(
                    score=view["score"],
                    threshold=view["threshold"],
                    regions=view["regions"],
                    n_regions=len(view["regions"]),
                    error=None,
                )
                if payload.include_heatmap:
                    item["heatmap_png_base64"] = view["heatmap_png_base64"]
            items.append(item)
            report(100.0 * n / max(1, len(samples)), f"scored {n}/{len(samples)}")
        return items

    items = await ctx["run_in_thread"](run)
    return {
        "status": "ok",
        "n_total": len(items),
        "n_errors": sum(1 for i in items if i["error"] is not None),
        "items": items,
    }


async def calibrate_dataset(ctx: JobContext, payload: CalibrateDatasetPayload) -> dict[str, Any]:
    """Score the stored OK and NG samples, pick the threshold and make it current."""
    eng, store, memory, _ = await _loaded(ctx, payload.memory_key)
    ok = await _samples(store, payload.dataset_prefix, "ok")
    ng = await _samples(store, payload.dataset_prefix, "ng")
    if payload.require_ng and not ng:
        raise PermanentError("No NG samples available for calibration.", code=NO_SAMPLES)
    cancelled = ctx["cancelled"]
    report = ctx["report"]
    total = max(1, len(ok) + len(ng))

    def scores(samples: list[tuple[str, bytes, Any]], done: int) -> list[float]:
        out = []
        for n, (_, data, _) in enumerate(samples, start=1):
            check_cancelled(cancelled)
            try:
                (score,) = eng.inspector.score(memory, [data])
            except InspectionError as exc:
                log.info("calibration skips a sample: %s", exc)
                continue
            out.append(score)
            report(95.0 * (done + n) / total, f"scored {done + n}/{total}")
        return out

    ok_scores = await ctx["run_in_thread"](scores, ok, 0)
    ng_scores = await ctx["run_in_thread"](scores, ng, len(ok))
    if not ok_scores:
        raise PermanentError("No valid OK samples for calibration.", code=NO_SAMPLES)
    if payload.require_ng and not ng_scores:
        raise PermanentError("No NG samples available for calibration.", code=NO_SAMPLES)
    mm = payload.default_mm_per_px
    try:
        calib = calibrate(
            ok_scores,
            ng_scores or None,
            score_percentile=payload.score_percentile,
            area_mm2_thr=payload.area_mm2_thr,
            mm_per_px=mm,
        )
    except InspectionError as exc:
        raise job_error(exc) from exc
    ref = msgspec.convert(msgspec.to_builtins(payload), ModelRef)
    record = await save_calibration(ctx["resources"].engine, store, ref, calib)
    return {
        "status": "ok",
        "threshold": record["threshold"],
        "n_ok": len(ok_scores),
        "n_ng": len(ng_scores),
        "score_percentile": record["score_percentile"],
        "area_mm2_thr": record["area_mm2_thr"],
    }
