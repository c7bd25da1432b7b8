"""Inspection artifacts: written to the blob store under a key that names their version, then
pointed at from Postgres. The API and the gpu workers share these.

A new memory bank or calibration never overwrites the old one's key: readers that hold the
old row keep reading a whole artifact, and every cache keyed by blob key goes stale when the
row moves on. The replaced artifact is deleted once the row points elsewhere.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.inspection.model import Calibration
from domain.inspection.recipe import model_prefix
from infra.blob.error import BlobError
from infra.blob.store import BlobStore
from infra.db import inspection as repo
from infra.db.engine import transaction

log = logging.getLogger("switchyard.inspection")

# Redis key (under the prefix) where gpu workers say which backbone and device they run.
ENGINE_KEY = "inspection:engine"
# Redis keys (under the prefix and this) where /infer crops wait for their job.
INCOMING = "inspection:incoming"


class ModelRef(msgspec.Struct, frozen=True, kw_only=True):
    """Which model a request addresses."""

    recipe_id: str
    role_id: str
    roi_id: str
    model_key: str


async def save_memory(
    engine: AsyncEngine, blob: BlobStore, ref: ModelRef, data: bytes, meta: dict[str, Any]
) -> str:
    """Store a memory bank artifact and make it the model's current one; its key."""
    key = f"{model_prefix(ref.recipe_id, ref.model_key)}/memory-{uuid.uuid4().hex}.npz"
    await blob.put(key, data, content_type="application/octet-stream")
    async with transaction(engine) as conn:
        previous = await repo.set_memory(
            conn,
            recipe_id=ref.recipe_id,
            model_key=ref.model_key,
            role_id=ref.role_id,
            roi_id=ref.roi_id,
            memory_key=key,
            memory_meta=meta,
        )
    await _discard(blob, previous)
    return key


async def save_calibration(
    engine: AsyncEngine, blob: BlobStore, ref: ModelRef, calib: Calibration
) -> dict[str, Any]:
    """Store a calibration artifact and make it the model's current one; what was stored."""
    record: dict[str, Any] = {
        **msgspec.to_builtins(calib),
        "created_at_utc": datetime.now(UTC).isoformat(),
    }
    key = f"{model_prefix(ref.recipe_id, ref.model_key)}/calib-{uuid.uuid4().hex}.json"
    await blob.put(key, msgspec.json.encode(record), content_type="application/json")
    async with transaction(engine) as conn:
        previous = await repo.set_calibration(
            conn,
            recipe_id=ref.recipe_id,
            model_key=ref.model_key,
            role_id=ref.role_id,
            roi_id=ref.roi_id,
            calib_key=key,
        )
    await _discard(blob, previous)
    return record


async def read_calibration(blob: BlobStore, key: str) -> dict[str, Any]:
    record: dict[str, Any] = msgspec.json.decode(await blob.read(key))
    return record


async def _discard(blob: BlobStore, key: str | None) -> None:
    if key is None:
        return
    try:
        await blob.delete(key)
    except BlobError:
        # The row already points at the new artifact; an orphan costs space, not correctness.
        log.exception("could not delete the replaced artifact %s", key)
