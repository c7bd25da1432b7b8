"""Inspection operations the API does itself: the stored datasets (blob store), the mm_per_px
lock, and finding a model's current artifacts with the recipe → default fallback.
Dependencies come in as arguments; nothing here knows HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.error import BadRequest, NotFound
from api.inspection.schema import Classes, ClassSummary
from api.upload import StoredUpload, discard_uploads
from domain.inspection.error import InvalidImageError
from domain.inspection.image import decode_image
from domain.inspection.recipe import (
    DEFAULT_RECIPE,
    LABELS,
    Label,
    check_mm_per_px,
    dataset_prefix,
    is_meta,
    lock_mismatch,
    meta_name,
    same_scale,
    sample_key,
)
from infra.blob.error import BlobNotFound
from infra.blob.mediatype import sniff_content_type
from infra.blob.store import BlobStore
from infra.db import inspection as repo
from infra.db.engine import retrying, transaction
from infra.inspection import read_calibration

# -- the mm_per_px lock --------------------------------------------------------------------------


async def check_lock(
    engine: AsyncEngine, locks: dict[str, float], recipe_id: str, value: float
) -> float:
    """Lock the recipe to `value` if it is the first; LockMismatchError if it differs."""
    check_mm_per_px(value)
    locked = locks.get(recipe_id)
    if locked is None:
        async with transaction(engine) as conn:
            locked = await repo.lock_mm_per_px(conn, recipe_id, value)
        locks[recipe_id] = locked
    if not same_scale(locked, value):
        raise lock_mismatch(recipe_id, locked, value)
    return locked


async def locked_value(
    engine: AsyncEngine, locks: dict[str, float], recipe_id: str
) -> float | None:
    if recipe_id in locks:
        return locks[recipe_id]
    async with transaction(engine) as conn:
        value = await repo.locked_mm_per_px(conn, recipe_id)
    if value is not None:
        locks[recipe_id] = value
    return value


# -- models --------------------------------------------------------------------------------------


def fallback(recipe_id: str) -> list[str]:
    """Where a recipe's artifacts are looked for: the recipe, then `default`."""
    return [recipe_id] if recipe_id == DEFAULT_RECIPE else [recipe_id, DEFAULT_RECIPE]


class Artifacts(msgspec.Struct, frozen=True):
    """A model's current memory bank and calibration, each from the first recipe that has it."""

    memory_key: str | None
    calib_key: str | None


@contextlib.asynccontextmanager
async def _autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        yield conn


async def find_model(engine: AsyncEngine, recipe_id: str, model_key: str) -> Artifacts:
    order = fallback(recipe_id)

    async def work(conn: Any) -> list[Row[Any]]:
        return await repo.find_models(conn, order, model_key)

    # One statement on an autocommit connection: no BEGIN/COMMIT round trips on /infer's path.
    found = await retrying(_autocommit, engine, work)
    rows = sorted(found, key=lambda r: order.index(r.recipe_id))
    return Artifacts(
        memory_key=next((r.memory_key for r in rows if r.memory_key), None),
        calib_key=next((r.calib_key for r in rows if r.calib_key), None),
    )


async def calibration(
    store: BlobStore, cache: OrderedDict[str, dict[str, Any]], key: str | None, kept: int
) -> dict[str, Any] | None:
    """The calibration stored under `key` (cached: a key never changes content)."""
    if key is None:
        return None
    record = cache.get(key)
    if record is None:
        try:
            record = await read_calibration(store, key)
        except BlobNotFound:
            return None  # replaced in the meantime: the caller sees the model without one
        cache[key] = record
        while len(cache) > kept:
            cache.popitem(last=False)
    return record


# -- datasets ------------------------------------------------------------------------------------


async def summary(store: BlobStore, prefix: str) -> Classes:
    """Each label's samples, sorted, and which have a meta file; a label with none is absent."""
    names: dict[str, list[str]] = {label: [] for label in LABELS}
    async for entry in store.iter(prefix + "/"):
        label, _, name = entry.key[len(prefix) + 1 :].partition("/")
        if label in names and name and "/" not in name:
            names[label].append(name)
    out: dict[str, ClassSummary] = {}
    for label, entries in names.items():
        metas = {n for n in entries if is_meta(n)}
        files = sorted(n for n in entries if not is_meta(n))
        if files or metas:
            out[label] = ClassSummary(
                count=len(files), files=files, meta={f: meta_name(f) in metas for f in files}
            )
    return Classes(**out)


async def has_samples(store: BlobStore, prefix: str) -> bool:
    page = await store.list(prefix + "/", limit=1)
    return bool(page.items)


async def readable_dataset(store: BlobStore, recipe_id: str, role_id: str, roi_id: str) -> str:
    """The dataset folder reads use: the recipe's, or `default`'s when the recipe has none."""
    own = dataset_prefix(recipe_id, role_id, roi_id)
    if recipe_id == DEFAULT_RECIPE or await has_samples(store, own):
        return own
    shared = dataset_prefix(DEFAULT_RECIPE, role_id, roi_id)
    return shared if await has_samples(store, shared) else own


def parse_metas(values: list[str], n_images: int) -> list[dict[str, Any]]:
    """`metas` (JSON objects, one per image, or none at all) as dicts; BadRequest otherwise."""
    if not values:
        return [{} for _ in range(n_images)]
    if len(values) != n_images:
        raise BadRequest(
            f"metas must be empty or have one entry per image: got {len(values)} for "
            f"{n_images} image(s)"
        )
    metas = []
    for i, raw in enumerate(values):
        try:
            meta = msgspec.json.decode(raw) if raw.strip() else {}
        except msgspec.DecodeError as exc:
            raise BadRequest(f"metas[{i}] is not valid JSON: {exc}") from exc
        if not isinstance(meta, dict):
            raise BadRequest(f"metas[{i}] must be a JSON object")
        if "mm_per_px" in meta and meta["mm_per_px"] is not None:
            value = meta["mm_per_px"]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise BadRequest(f"metas[{i}].mm_per_px must be a positive number")
        metas.append(meta)
    return metas


async def check_images(store: BlobStore, uploads: list[StoredUpload]) -> None:
    """Every upload decodes whole (a truncated file is refused, not stored)."""
    for i, upload in enumerate(uploads):
        data = await store.read(upload.key)
        try:
            await asyncio.to_thread(decode_image, data)
        except InvalidImageError as exc:
            raise BadRequest(f"images[{i}] ({upload.filename!r}): {exc}") from exc


async def save_samples(
    store: BlobStore,
    uploads: list[StoredUpload],
    metas: list[dict[str, Any]],
    *,
    prefix: str,
    label: Label,
    recipe_id: str,
    role_id: str,
    roi_id: str,
) -> list[str]:
    """Move checked uploads into the dataset under timestamp names, each with its meta."""
    saved: list[str] = []
    start = datetime.now(UTC)
    try:
        for i, (upload, meta) in enumerate(zip(uploads, metas, strict=True)):
            ext = (
                "." + upload.key.rsplit(".", 1)[-1] if "." in upload.key.rsplit("/", 1)[-1] else ""
            )
            when = start + timedelta(microseconds=i)
            name = f"{when:%Y%m%d-%H%M%S-%f}{ext}"
            while await store.exists(sample_key(prefix, label, name)):
                when += timedelta(microseconds=1)
                name = f"{when:%Y%m%d-%H%M%S-%f}{ext}"
            record = {
                **meta,
                "role_id": role_id,
                "roi_id": roi_id,
                "label": label,
                "filename": name,
                "recipe_id": recipe_id,
                "created_at_utc": datetime.now(UTC).isoformat(),
            }
            await store.put(
                sample_key(prefix, label, meta_name(name)),
                msgspec.json.encode(record),
                content_type="application/json",
            )
            await store.move(upload.key, sample_key(prefix, label, name))
            saved.append(name)
    except BaseException:
        await discard_uploads(store, uploads)
        raise
    return saved


async def read_sample(
    store: BlobStore, prefix: str, label: Label, filename: str
) -> tuple[bytes, str]:
    try:
        data = await store.read(sample_key(prefix, label, filename))
    except BlobNotFound as exc:
        raise NotFound("file not found") from exc
    return data, sniff_content_type(data[:8192])


async def read_meta(store: BlobStore, prefix: str, label: Label, filename: str) -> Any:
    try:
        data = await store.read(sample_key(prefix, label, meta_name(filename)))
    except BlobNotFound as exc:
        raise NotFound("meta not found") from exc
    return msgspec.json.decode(data)


async def delete_sample(store: BlobStore, prefix: str, label: Label, filename: str) -> bool:
    deleted = await store.delete(sample_key(prefix, label, filename))
    if deleted:
        await store.delete(sample_key(prefix, label, meta_name(filename)))
    return deleted


async def clear(store: BlobStore, prefix: str, label: Label) -> int:
    """Delete every sample of a label; the number of images removed."""
    folder = f"{prefix}/{label}/"
    images = [e.key async for e in store.iter(folder) if not is_meta(e.key)]
    await store.delete_prefix(folder)
    return len(images)
