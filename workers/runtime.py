"""The runtime that wraps every handler: state in Postgres, events on Redis, retries, timeout,
progress throttling and cancellation."""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

import infra.log
from domain.job import JobCancelled, backoff_s, classify
from events.model import (
    JOB_CANCELLED,
    JOB_COMPLETED,
    JOB_FAILED,
    JOB_PROGRESS,
    JOB_RETRYING,
    JobError,
    JobEventData,
    job_topics,
)
from events.stream import EventPublisher
from infra.batching import GroupCommit
from infra.db import job as repo
from workers.catalog import CATALOG, JobKind
from workers.context import JobContext, WorkerResources, make_run_in_thread

log = logging.getLogger("switchyard.runtime")


class Claimed(msgspec.Struct):
    """A job this worker won in the claim, with what it needs to run it."""

    id: str
    kind: str
    pool: str
    payload: Any
    attempts: int
    max_tries: int
    timeout_s: float
    owner_id: str
    entry_id: str = ""
    # Topics beyond the job's and its owner's that its events go to (a session).
    topics: list[str] = msgspec.field(default_factory=list)


class Running:
    """Book-keeping for one job executing in this process."""

    def __init__(self, claimed: Claimed, task: asyncio.Task[Any] | None) -> None:
        self.claimed = claimed
        self.task = task
        self.flag = threading.Event()
        self.cancel_requested = False
        self.progress = 0
        self.message = ""
        self.last_flush = 0.0
        self.flush_handle: asyncio.TimerHandle | None = None
        self.dirty = False


def resolve_handler(kind: JobKind) -> Callable[..., Any]:
    module, _, name = kind.handler.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


class _Ending(msgspec.Struct):
    claimed: Claimed
    status: str
    result: Any
    error: JobError | None
    message: str


class Runtime:
    """Runs claimed jobs to a terminal state; one per worker process."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        autocommit: AsyncEngine,
        publisher: EventPublisher,
        worker_id: str,
        pool: str,
        progress_interval_s: float = 0.25,
        resources: WorkerResources,
    ) -> None:
        self.engine = engine
        self.publisher = publisher
        self.worker_id = worker_id
        self.pool = pool
        self.progress_interval_s = progress_interval_s
        self.resources = resources
        self.running: dict[str, Running] = {}
        self.claimed: dict[str, Claimed] = {}
        self.on_finished: Callable[[Claimed], Awaitable[None]] | None = None
        # Adds stream acks for finished jobs to the pipeline that publishes their events.
        self.add_acks: Callable[[Any, list[Claimed]], None] | None = None
        # Terminal transitions: one UPDATE, then one Redis pipeline with the events and the
        # stream acks, for every job that finished while the previous batch was written.
        self.finisher: GroupCommit[_Ending, Any] = GroupCommit(self._write_endings, "finisher")
        self.autocommit = autocommit

    # -- events ------------------------------------------------------------------------------

    def _event(
        self,
        c: Claimed,
        status: str,
        progress: int,
        message: str = "",
        result: Any = None,
        error: JobError | None = None,
        attempt: int | None = None,
    ) -> tuple[JobEventData, list[str]]:
        data = JobEventData(
            job_id=c.id,
            kind=c.kind,
            pool=c.pool,
            status=status,
            progress=progress,
            owner_id=c.owner_id,
            message=message,
            attempt=attempt if attempt is not None else c.attempts,
            result=result,
            error=error,
        )
        return data, job_topics(c.id, c.owner_id, c.topics)

    async def _publish(self, type_: str, c: Claimed, status: str, progress: int, **kw: Any) -> None:
        data, topics = self._event(c, status, progress, **kw)
        try:
            await self.publisher.publish(type_, data, topics)
        except Exception as exc:
            # Postgres already has the state; a lost event costs a subscriber a GET, not data.
            log.warning("event %s for job %s not published: %s", type_, c.id, exc)

    # -- cancellation ------------------------------------------------------------------------

    def cancel(self, job_id: str) -> bool:
        """Stop a job running here (cancel requested through the API)."""
        run = self.running.get(job_id)
        if run is None:
            return False
        if run.cancel_requested:
            # Cancel arrives by pub/sub and again by heartbeat; a second task.cancel() would
            # interrupt the handler's own clean-up.
            return True
        run.cancel_requested = True
        run.flag.set()
        if run.task is not None and not run.task.done():
            run.task.cancel()
        return True

    # -- progress ----------------------------------------------------------------------------

    async def _flush_progress(self, run: Running) -> None:
        run.flush_handle = None
        if not run.dirty:
            return
        run.dirty = False
        run.last_flush = time.monotonic()
        c = run.claimed
        async with self.autocommit.connect() as conn:
            cancel = await repo.set_progress(
                conn, uuid.UUID(c.id), self.worker_id, run.progress, run.message
            )
        await self._publish(JOB_PROGRESS, c, "running", run.progress, message=run.message)
        if cancel:
            self.cancel(c.id)

    def _progress_fn(self, run: Running) -> Callable[[float, str], Any]:
        loop = asyncio.get_running_loop()

        async def progress(pct: float, message: str = "") -> None:
            # Throttle: at most one write per interval per job; the latest value always lands
            # (a timer flushes it), so a chatty handler cannot flood Postgres or subscribers.
            value = max(0, min(100, int(pct)))
            if value == run.progress and message == run.message:
                return
            run.progress, run.message, run.dirty = value, message, True
            wait = run.last_flush + self.progress_interval_s - time.monotonic()
            if wait <= 0:
                await self._flush_progress(run)
            elif run.flush_handle is None:
                run.flush_handle = loop.call_later(
                    wait, lambda: asyncio.ensure_future(self._flush_progress(run))
                )

        return progress

    # -- execution ---------------------------------------------------------------------------

    async def execute(self, c: Claimed) -> None:
        """Run one claimed job to a terminal state (never raises for handler failures)."""
        kind = CATALOG.get(c.kind)
        run = Running(c, asyncio.current_task())
        self.running[c.id] = run
        token = infra.log.job_id.set(c.id)
        try:
            await self._execute(c, kind, run)
        finally:
            if run.flush_handle is not None:
                run.flush_handle.cancel()
            self.running.pop(c.id, None)
            infra.log.job_id.reset(token)
            if self.on_finished is not None:
                await self.on_finished(c)

    async def _execute(self, c: Claimed, kind: JobKind | None, run: Running) -> None:
        if kind is None:
            await self._finish(c, "failed", error=JobError("UNKNOWN_KIND", c.kind))
            return
        if c.attempts > c.max_tries:
            # Claimed again after its worker died, with every try used up.
            await self._finish(
                c, "failed", error=JobError("WORKER_LOST", "its worker died on the last try")
            )
            return
        try:
            handler = resolve_handler(kind)
            payload = msgspec.convert(c.payload, kind.payload)
        except Exception as exc:
            await self._finish(c, "failed", error=JobError("INVALID_PAYLOAD", str(exc)))
            return
        ctx = JobContext(
            job_id=c.id,
            kind=c.kind,
            pool=c.pool,
            owner_id=c.owner_id,
            attempt=c.attempts,
            max_tries=c.max_tries,
            progress=self._progress_fn(run),
            report=self._thread_report(run),
            cancelled=run.flag,
            run_in_thread=make_run_in_thread(run.flag),
            resources=self.resources,
        )
        while True:
            ctx["attempt"] = c.attempts
            try:
                async with asyncio.timeout(c.timeout_s) as deadline:
                    result = await handler(ctx, payload)
            except asyncio.CancelledError:
                if run.cancel_requested:
                    await asyncio.shield(self._finish(c, "cancelled", message="cancelled"))
                    return
                raise  # the worker is shutting down: leave the job for another worker
            except JobCancelled:
                await self._finish(c, "cancelled", message="cancelled")
                return
            except TimeoutError as exc:
                if deadline.expired():
                    run.flag.set()  # let thread work notice and stop
                    await self._finish(
                        c,
                        "failed",
                        error=JobError("TIMEOUT", f"did not finish within {c.timeout_s:g} s"),
                    )
                    return
                if not await self._maybe_retry(c, kind, run, exc):
                    return
                continue
            except Exception as exc:
                if not await self._maybe_retry(c, kind, run, exc):
                    return
                continue
            break
        if run.flush_handle is not None:
            run.flush_handle.cancel()
            run.flush_handle = None
        await self._finish(c, "completed", result=msgspec.to_builtins(result))

    async def _maybe_retry(self, c: Claimed, kind: JobKind, run: Running, exc: Exception) -> bool:
        """Retry after a transient error (True), or record the failure (False)."""
        transient, code, detail = classify(exc)
        if not transient or c.attempts >= c.max_tries:
            if transient:
                detail = f"{detail} (gave up after {c.attempts} tries)"
            log.info("job %s failed: %s %s", c.id, code, detail)
            await self._finish(c, "failed", error=JobError(code, detail))
            return False
        delay = backoff_s(c.attempts, kind.backoff_s, kind.backoff_max_s)
        message = f"retrying in {delay:.1f}s after {code}: {detail}"
        async with self.autocommit.connect() as conn:
            row = await repo.retrying(conn, uuid.UUID(c.id), self.worker_id, message)
        if row is None:
            return False  # the job is no longer ours (cancelled, reaped)
        c.attempts = row.attempts
        await self._publish(
            JOB_RETRYING,
            c,
            "running",
            run.progress,
            message=message,
            error=JobError(code, detail),
        )
        await asyncio.sleep(delay)
        return True

    def _thread_report(self, run: Running) -> Callable[[float, str], None]:
        loop = asyncio.get_running_loop()
        progress = self._progress_fn(run)

        def report(pct: float, message: str = "") -> None:
            loop.call_soon_threadsafe(lambda: asyncio.ensure_future(progress(pct, message)))

        return report

    async def _finish(
        self,
        c: Claimed,
        status: str,
        *,
        result: Any = None,
        error: JobError | None = None,
        message: str = "",
    ) -> None:
        row = await self.finisher.submit(
            _Ending(c, status, result, error, message or (error.detail if error else ""))
        )
        if row is None:
            log.info("job %s: not ours any more, %s not recorded", c.id, status)

    async def _write_endings(self, batch: list[_Ending]) -> list[Any]:
        """One UPDATE for the batch, then its events and acks in one Redis round trip; the
        stored rows in batch order (None for a job that was no longer ours)."""
        items = [
            {
                "id": uuid.UUID(e.claimed.id),
                "status": e.status,
                "result": None if e.result is None else msgspec.json.encode(e.result).decode(),
                "error": None if e.error is None else msgspec.json.encode(e.error).decode(),
                "message": e.message,
            }
            for e in batch
        ]
        async with self.autocommit.connect() as conn:
            rows = await repo.finish_many(conn, self.worker_id, items)
        type_ = {"completed": JOB_COMPLETED, "failed": JOB_FAILED, "cancelled": JOB_CANCELLED}
        try:
            async with self.publisher.redis.pipeline(transaction=False) as pipe:
                for e in batch:
                    row = rows.get(uuid.UUID(e.claimed.id))
                    if row is None:
                        continue
                    data, topics = self._event(
                        e.claimed,
                        e.status,
                        row.progress,
                        message=row.message,
                        result=e.result,
                        error=e.error,
                        attempt=row.attempts,
                    )
                    self.publisher.add_to(pipe, type_[e.status], data, topics)
                if self.add_acks is not None:
                    self.add_acks(pipe, [e.claimed for e in batch])
                await pipe.execute()
        except Exception as exc:
            # Postgres has the outcome; unacked entries are re-delivered and dropped at claim.
            log.warning("events/acks for %d finished job(s) not sent: %s", len(batch), exc)
        return [rows.get(uuid.UUID(e.claimed.id)) for e in batch]
