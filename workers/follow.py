"""A job that asks for another job when it is done: recorded through the transactional outbox.

The job row and its outbox row are written in one statement, so the follow-up exists exactly
when it was asked for; the pools' outbox relay sends its command (within `relay_after_s` and a
maintenance round). An idempotency key makes a retried job ask for it only once.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from infra.db import job as repo
from workers.catalog import CATALOG
from workers.context import WorkerResources


async def follow_up(
    res: WorkerResources,
    owner_id: uuid.UUID,
    kind: str,
    payload: msgspec.Struct,
    idempotency_key: str,
) -> uuid.UUID:
    """Record job `kind` with `payload` for `owner_id`; its id (the existing one's when a
    job of this owner already used the key)."""
    spec = CATALOG[kind]
    if not isinstance(payload, spec.payload):
        raise TypeError(f"{kind} takes a {spec.payload.__name__}, not {type(payload).__name__}")
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "kind": kind,
        "pool": spec.pool,
        "payload": msgspec.to_builtins(payload),
        "max_tries": spec.max_tries,
        "timeout_s": spec.timeout_s,
        "owner_id": owner_id,
        "idempotency_key": idempotency_key,
        "topics": [],
    }
    async with res.engine.begin() as conn:
        ((job, _),) = await repo.insert_jobs(conn, [row])
    return uuid.UUID(str(job.id))
