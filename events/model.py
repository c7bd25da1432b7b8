"""Versioned event Structs, encoded with msgspec."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

EVENT_VERSION = 1

# Job event types, past tense except progress (a stream of observations, not a fact).
JOB_CREATED = "job.created"
JOB_STARTED = "job.started"
JOB_PROGRESS = "job.progress"
JOB_RETRYING = "job.retrying"
JOB_COMPLETED = "job.completed"
JOB_FAILED = "job.failed"
JOB_CANCELLED = "job.cancelled"

TERMINAL_EVENTS = frozenset({JOB_COMPLETED, JOB_FAILED, JOB_CANCELLED})
STATUS_EVENT = {
    "completed": JOB_COMPLETED,
    "failed": JOB_FAILED,
    "cancelled": JOB_CANCELLED,
    "running": JOB_STARTED,
    "pending": JOB_CREATED,
}


class JobError(msgspec.Struct, frozen=True):
    code: str
    detail: str


class JobEventData(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What every job event carries: enough to render a progress bar without a GET."""

    job_id: str
    kind: str
    pool: str
    status: str
    progress: int
    owner_id: str
    message: str = ""
    attempt: int = 0
    result: Any = None
    error: JobError | None = None


def job_event_data(row: Any) -> JobEventData:
    """Event data from a stored job (any object with the job table's attributes)."""
    return JobEventData(
        job_id=str(row.id),
        kind=row.kind,
        pool=row.pool,
        status=row.status,
        progress=row.progress,
        owner_id=str(row.owner_id),
        message=row.message,
        attempt=row.attempts,
        error=JobError(**row.error) if row.error else None,
    )


class Event(msgspec.Struct, frozen=True):
    """One event as stored on a stream; `id` is the topic stream's entry id.

    `data` is the stored JSON itself (`msgspec.Raw`): the hub only relays it, so it is never
    decoded and encoded again on the way to a WebSocket. `msgspec.json.decode(event.data)`
    reads it."""

    id: str
    topic: str
    type: str
    data: msgspec.Raw
    v: int = EVENT_VERSION


def job_topic(job_id: str) -> str:
    return f"job:{job_id}"


def user_topic(user_id: str) -> str:
    return f"user:{user_id}"


def session_topic(session_id: str) -> str:
    return f"session:{session_id}"


def job_topics(job_id: str, owner_id: str, extra: Sequence[str] = ()) -> list[str]:
    """Every topic a job's events go to: its own, its owner's, and those it names (a session)."""
    return [job_topic(job_id), user_topic(owner_id), *extra]


def stream_id_key(entry_id: str) -> tuple[int, int]:
    """Redis stream ids compare as (milliseconds, sequence), not as strings."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
