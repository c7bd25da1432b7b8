"""What a handler receives: `async def handler(ctx: JobContext, payload: P) -> result`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypedDict, TypeVar

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.job import JobCancelled
from infra.blob.store import BlobStore
from infra.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class WorkerResources:
    """What every job of one worker process shares."""

    settings: Settings
    engine: AsyncEngine
    redis: Redis
    # None while the store cannot be reached: jobs that keep files then fail with a clear error.
    blob: BlobStore | None = None


class JobContext(TypedDict):
    job_id: str
    kind: str
    pool: str
    owner_id: str
    attempt: int
    max_tries: int
    # Report progress 0-100 from the event loop; throttled by the runtime.
    progress: Callable[[float, str], Awaitable[None]]
    # The same from any thread (engines' progress callbacks run in worker threads).
    report: Callable[[float, str], None]
    # Set when the job is cancelled; code in threads polls it (see `check_cancelled`).
    cancelled: threading.Event
    # Run blocking work in a thread; on cancel, waits for the thread to notice and stop.
    run_in_thread: Callable[..., Awaitable[Any]]
    # Shared per-process resources.
    resources: WorkerResources


def check_cancelled(flag: threading.Event) -> None:
    """Raise JobCancelled in thread code once the job was cancelled."""
    if flag.is_set():
        raise JobCancelled()


def make_run_in_thread(
    flag: threading.Event, grace_s: float = 30.0
) -> Callable[..., Awaitable[Any]]:
    """A `to_thread` that sets the cooperative flag when the awaiting task is cancelled.

    asyncio cannot stop a thread; it can only stop waiting. Setting the flag and then waiting
    (bounded) for the thread means "cancelled" is recorded only once the work really stopped.
    """

    async def run_in_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        fut = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            flag.set()
            try:
                await asyncio.wait_for(asyncio.shield(fut), grace_s)
            except (JobCancelled, TimeoutError, asyncio.CancelledError):
                pass
            except Exception:
                pass
            raise

    return run_in_thread
