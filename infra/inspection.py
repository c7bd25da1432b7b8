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
from typing import Any, Literal

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
    await _replace(engine, blob, ref, "memory_key", key, data, {"memory_meta": meta})
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
    await _replace(engine, blob, ref, "calib_key", key, msgspec.json.encode(record))
    return record


async def _replace(
    engine: AsyncEngine,
    blob: BlobStore,
    ref: ModelRef,
    column: Literal["memory_key", "calib_key"],
    key: str,
    data: bytes,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write the artifact whole, point the model at it, then drop the one it replaced."""
    await blob.put(key, data, content_type="application/octet-stream")
    async with transaction(engine) as conn:
        previous = await repo.replace_artifact(
            conn, **msgspec.structs.asdict(ref), column=column, key=key, extra=extra
        )
    if previous is None:
        return
    try:
        await blob.delete(previous)
    except BlobError:
        # The row already points at the new artifact; an orphan costs space, not correctness.
        log.exception("could not delete the replaced artifact %s", previous)


async def read_calibration(blob: BlobStore, key: str) -> dict[str, Any]:
    record: dict[str, Any] = msgspec.json.decode(await blob.read(key))
    return record
