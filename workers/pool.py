"""A worker pool process: stream intake → arq → runtime, plus heartbeats and maintenance.

Commands arrive on `sy:cmd:<pool>` through the consumer group `<pool>`. An entry stays in this
consumer's pending list until its job reaches a terminal state; the heartbeat re-claims our own
entries (resetting their idle time) and XAUTOCLAIM hands entries idle longer than the reap
window (their consumer died) to a live worker. Postgres decides who really runs a job (the claim
UPDATE), so duplicates from the relay, the reaper or XAUTOCLAIM never run a job twice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
import os
import signal
import socket
import time
import uuid
from typing import Any

import msgspec
from arq.connections import ArqRedis
from arq.constants import (
    abort_jobs_ss,
    in_progress_key_prefix,
    job_key_prefix,
    retry_key_prefix,
)
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from arq.worker import Worker, func
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from events.model import JOB_FAILED, JOB_STARTED, job_event_data, job_topics
from events.stream import EventPublisher, StreamKeys
from infra.batching import GroupCommit
from infra.blob.factory import make_blob_store
from infra.db import job as repo
from infra.db.engine import make_autocommit_engine, make_engine
from infra.redis import make_redis, stream_keys
from infra.settings import POOLS, Settings
from workers.catalog import CATALOG, kinds_for_pool
from workers.context import WorkerResources
from workers.runtime import Claimed, Runtime

log = logging.getLogger("switchyard.worker")

# The modules each pool's extra brings; checked before a worker starts.
POOL_MODULES: dict[str, tuple[str, ...]] = {
    "gpu": ("torch", "timm", "faiss"),
    "rigging": ("trimesh", "pygltflib", "ufbx"),
    "media": ("av", "rerun", "replicate", "pyarrow"),
    "indexing": ("pyarrow",),
}


class PoolUnavailable(RuntimeError):
    """The pool's libraries are not installed."""


def check_pool(pool: str) -> None:
    """Refuse to start a pool whose extra is missing, naming the extra to install."""
    if pool not in POOLS:
        raise PoolUnavailable(f"unknown pool {pool!r}; pools are {', '.join(POOLS)}")
    missing = [m for m in POOL_MODULES[pool] if importlib.util.find_spec(m) is None]
    if missing:
        raise PoolUnavailable(
            f"the {pool!r} pool needs the {pool!r} extra (missing: {', '.join(missing)}); "
            f"install it with: pip install 'switchyard[{pool}]'"
        )


class StreamFedWorker(Worker):
    """An arq Worker that is also handed jobs directly by the stream intake."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cleanup: GroupCommit[str, None] = GroupCommit(self._finish_many, "arq-finish")

    async def finish_job(
        self,
        job_id: str,
        finish: bool,
        result_data: bytes | None,
        result_timeout_s: float | None,
        keep_result_forever: bool,
        incr_score: int | None,
        keep_in_progress: float | None,
    ) -> None:
        """arq's book-keeping for a finished job, group-committed: the jobs that end while
        one batch is written share the next MULTI/EXEC instead of one transaction each.

        Our jobs keep no arq result and are never re-queued by arq, so a finished job's keys
        are simply deleted; anything else goes through arq's own per-job path."""
        if not finish or result_data or keep_in_progress is not None:
            await super().finish_job(
                job_id,
                finish,
                result_data,
                result_timeout_s,
                keep_result_forever,
                incr_score,
                keep_in_progress,
            )
            return
        await self._cleanup.submit(job_id)

    async def _finish_many(self, job_ids: list[str]) -> list[None]:
        async with self.pool.pipeline(transaction=True) as tr:
            tr.delete(
                *(
                    prefix + job_id
                    for job_id in job_ids
                    for prefix in (in_progress_key_prefix, retry_key_prefix, job_key_prefix)
                )
            )
            tr.zrem(abort_jobs_ss, *job_ids)
            tr.zrem(self.queue_name, *job_ids)
            await tr.execute()
        return [None] * len(job_ids)

    async def start_now(self, job_ids: list[str], score: int) -> None:
        """Start jobs whose arq records the intake has just written, without waiting for a
        poll. The intake already owns them (Postgres claim + in-progress key), so arq's
        WATCH/MULTI dance in `start_jobs`, a round trip per job, is not needed."""
        for job_id in job_ids:
            await self.sem.acquire()
            self.job_counter += 1
            task = self.loop.create_task(self.run_job(job_id, score))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task


async def run_job(ctx: dict[str, Any], job_id: str) -> None:
    """The one arq function: hand the claimed job to the runtime."""
    pool_worker: PoolWorker = ctx["pool_worker"]
    await pool_worker.run_claimed(job_id)


class PoolWorker:
    """One worker process of one pool."""

    def __init__(self, settings: Settings, pool: str, concurrency: int = 4) -> None:
        self.settings = settings
        self.pool = pool
        self.concurrency = max(1, concurrency)
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.keys: StreamKeys = stream_keys(settings.redis)
        self.cmd_key = self.keys.command(pool)
        self.engine = make_engine(settings.db)
        self.fast_engine = make_autocommit_engine(
            settings.db, durable=not settings.jobs.async_state_commits
        )
        self.redis: Redis = make_redis(settings.redis)
        self.arq_redis = ArqRedis.from_url(settings.redis.url)
        self.publisher = EventPublisher(
            self.redis,
            self.keys,
            retention_s=settings.jobs.event_retention_s,
            maxlen=settings.jobs.event_maxlen,
            fanout_maxlen=settings.jobs.fanout_maxlen,
        )
        self.runtime = Runtime(
            engine=self.engine,
            autocommit=self.fast_engine,
            publisher=self.publisher,
            worker_id=self.worker_id,
            pool=pool,
            progress_interval_s=settings.jobs.progress_min_interval_s,
            resources=WorkerResources(settings=settings, engine=self.engine, redis=self.redis),
        )
        self.runtime.on_finished = self._finished
        self.runtime.add_acks = self._add_acks
        self.autocommit = self.runtime.autocommit
        self.inflight: dict[str, Claimed] = {}
        self._slot = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.arq: StreamFedWorker | None = None
        self.started_at = time.time()
        self.completed = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until `stop()`; then hand back unfinished work and close."""
        check_pool(self.pool)
        max_timeout = max((k.timeout_s for k in kinds_for_pool(self.pool)), default=300)
        self.arq = StreamFedWorker(
            functions=[func(run_job, name="run_job", timeout=max_timeout + 60, max_tries=1)],
            redis_pool=self.arq_redis,
            queue_name=self.keys.arq_queue(self.pool, self.worker_id),
            # arq counts a job until its own book-keeping after the job ends; the intake
            # enforces the pool's real concurrency, so arq gets headroom and never turns
            # away a job the intake has already claimed.
            max_jobs=self.concurrency * 2 + 8,
            handle_signals=False,
            keep_result=0,
            # Retries are the runtime's business (with backoff and error codes), never arq's.
            retry_jobs=False,
            poll_delay=0.5,
            ctx={"pool_worker": self},
            log_results=False,
        )
        # arq's own poll would re-check every queued (= running) job with a WATCH round trip
        # each and hold its semaphore while doing so; the intake starts jobs itself.
        self.arq.allow_pick_jobs = False
        await self._wait_for_redis()
        self._tasks = [
            asyncio.create_task(self._run_arq(self.arq), name="arq"),
            asyncio.create_task(self._intake(), name="intake"),
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
            asyncio.create_task(self._maintenance(), name="maintenance"),
            asyncio.create_task(self._cancel_listener(), name="cancel"),
        ]
        self.blob = make_blob_store(self.settings)
        try:
            await self.blob.open()
            self.runtime.resources.blob = self.blob
        except Exception as exc:
            # Jobs that keep no files still run; those that do fail with a clear error.
            log.warning("blob store not available (%s); jobs that need it will fail", exc)
        await self._register()
        log.info(
            "worker %s: pool=%s concurrency=%d ready", self.worker_id, self.pool, self.concurrency
        )
        warm = asyncio.create_task(self._warm(), name="warm")
        await self._stopping.wait()
        warm.cancel()
        await self._shutdown()

    def stop(self) -> None:
        self._stopping.set()

    async def _warm(self) -> None:
        """Run the pool's warm-up hooks (catalog `warm`), each once; a failure is only logged:
        the jobs that need what it loads will fail with the reason."""
        hooks = sorted({k.warm for k in kinds_for_pool(self.pool) if k.warm})
        for hook in hooks:
            module, _, name = hook.partition(":")
            try:
                await getattr(importlib.import_module(module), name)(self.settings)
            except Exception:
                log.exception("warm-up %s failed", hook)

    async def _run_arq(self, arq: StreamFedWorker) -> None:
        """arq's loop, started again when Redis fails under it: the loop also forgets the
        tasks of finished jobs, which would otherwise pile up for as long as the worker runs."""
        while True:
            try:
                await arq.async_run()
                return
            except (RedisError, OSError) as exc:
                log.warning("arq: redis unavailable, restarting its loop in 1s: %s", exc)
                await asyncio.sleep(1)

    async def _shutdown(self, grace_s: float = 10.0) -> None:
        for t in self._tasks[1:]:
            t.cancel()
        # Give running jobs a moment to finish, then hand the rest back to the queue.
        deadline = time.monotonic() + grace_s
        while self.runtime.running and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        abandoned = list(self.inflight)
        for job_id in abandoned:
            run = self.runtime.running.get(job_id)
            if run is not None and run.task is not None:
                run.task.cancel()
        if self.arq is not None:
            # Let arq finish its own book-keeping for the jobs that just ended, then stop it.
            pending = [t for t in self.arq.tasks.values() if not t.done()]
            if pending:
                await asyncio.wait(pending, timeout=5)
            self.arq.handle_sig(signal.SIGUSR1)
        if abandoned:
            await self._release(abandoned)
        for t in self._tasks:
            t.cancel()
        await asyncio.wait(self._tasks, timeout=5)
        with contextlib.suppress(Exception):
            await self.redis.delete(self.keys.worker(self.pool, self.worker_id))
            await self.redis.delete(self.keys.arq_queue(self.pool, self.worker_id))
            await self.redis.xgroup_delconsumer(self.cmd_key, self.pool, self.worker_id)
        await self.arq_redis.aclose()
        await self.redis.aclose()
        await self.engine.dispose()
        await self.fast_engine.dispose()
        if self.runtime.resources.blob is not None:
            await self.blob.close()
        log.info("worker %s stopped", self.worker_id)

    async def _release(self, job_ids: list[str]) -> None:
        """Requeue jobs we were running when told to stop, so no one waits for the reaper."""
        from sqlalchemy import insert, update

        ids = [uuid.UUID(j) for j in job_ids]
        try:
            async with self.engine.begin() as conn:
                rows = (
                    await conn.execute(
                        update(repo.jobs)
                        .where(
                            repo.jobs.c.id.in_(ids),
                            repo.jobs.c.worker_id == self.worker_id,
                            repo.jobs.c.status == "running",
                        )
                        .values(
                            status="pending", worker_id=None, message="requeued: worker stopped"
                        )
                        .returning(repo.jobs.c.id, repo.jobs.c.pool)
                    )
                ).all()
                if rows:
                    await conn.execute(
                        insert(repo.outbox), [{"job_id": r.id, "pool": r.pool} for r in rows]
                    )
            entries = [c.entry_id for c in self.inflight.values() if c.entry_id]
            if entries:
                await self.redis.xack(self.cmd_key, self.pool, *entries)
            log.info("worker %s: requeued %d unfinished job(s)", self.worker_id, len(rows))
        except Exception as exc:
            log.warning("could not requeue on shutdown (the reaper will): %s", exc)

    # -- intake ------------------------------------------------------------------------------

    async def _wait_for_redis(self) -> None:
        """A worker started before Redis (or while it restarts) waits instead of exiting."""
        delay = 0.1
        while True:
            try:
                await self._ensure_group()
                return
            except RedisError as exc:
                log.warning("redis unavailable at start, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)

    async def _ensure_group(self) -> None:
        try:
            # From "0": commands XADDed before any worker existed are delivered too.
            await self.redis.xgroup_create(self.cmd_key, self.pool, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _free(self) -> int:
        return self.concurrency - len(self.inflight)

    async def _intake(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            free = self._free()
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            try:
                resp = await self.redis.xreadgroup(
                    self.pool, self.worker_id, {self.cmd_key: ">"}, count=free, block=1000
                )
                delay = 0.1
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    await self._ensure_group()
                    continue
                raise
            except (ConnectionError, OSError, TimeoutError) as exc:
                log.warning("intake: redis unavailable, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
                continue
            except Exception as exc:  # redis-py's own ConnectionError is not a builtin one
                log.warning("intake: read failed, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
                continue
            for _stream, entries in resp or ():
                await self._take(entries)

    async def _take(self, entries: list[tuple[Any, dict[Any, Any]]]) -> None:
        """Claim the entries' jobs in Postgres and start the ones we won."""
        by_job: dict[uuid.UUID, str] = {}
        orphans: list[str] = []
        for entry_id, fields in entries:
            eid = _text(entry_id)
            raw = fields.get(b"job_id") or fields.get("job_id")
            try:
                by_job[uuid.UUID(_text(raw))] = eid
            except (TypeError, ValueError):
                orphans.append(eid)
        delay = 0.1
        while True:
            try:
                async with self.autocommit.connect() as conn:
                    rows = await repo.claim(
                        conn, list(by_job), self.worker_id, self.settings.jobs.reap_after_s
                    )
                break
            except Exception as exc:
                if self._stopping.is_set():
                    return
                log.warning("claim failed, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
        won = {r.id for r in rows}
        lost = [eid for jid, eid in by_job.items() if jid not in won] + orphans
        if lost:
            await self._ack(lost)
        starting: list[Claimed] = []
        for r in rows:
            c = Claimed(
                id=str(r.id),
                kind=r.kind,
                pool=r.pool,
                payload=r.payload,
                attempts=r.attempts,
                max_tries=r.max_tries,
                timeout_s=r.timeout_s,
                owner_id=str(r.owner_id),
                entry_id=by_job[r.id],
                topics=list(r.topics),
            )
            self.inflight[c.id] = c
            self.runtime.claimed[c.id] = c
            if r.attempts > 1:
                log.info("job %s: attempt %d (taken over from a lost worker)", c.id, r.attempts)
            starting.append(c)
        await self._start(starting)

    async def _start(self, claimed: list[Claimed]) -> None:
        """Hand claimed jobs to arq under their own ids and start them, in one round trip.

        Per job: arq's job record and queue entry (what `enqueue_job` writes), its in-progress
        key, no stale retry counter (a job taken over from a dead worker reuses its id), and
        the `job.started` event.
        """
        if not claimed:
            return
        assert self.arq is not None
        arq = self.arq
        now = timestamp_ms()
        hold_ms = int(arq.in_progress_timeout_s * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for c in claimed:
                record = serialize_job("run_job", (c.id,), {}, None, now)
                pipe.psetex(job_key_prefix + c.id, hold_ms, record)
                pipe.zadd(arq.queue_name, {c.id: now})
                if c.attempts > 1:
                    # Taken over from a dead worker: its arq retry counter must not count.
                    pipe.delete(retry_key_prefix + c.id)
                pipe.psetex(in_progress_key_prefix + c.id, hold_ms, b"1")
                data, topics = self.runtime._event(c, "running", 0)
                self.publisher.add_to(pipe, JOB_STARTED, data, topics)
            await pipe.execute()
        await arq.start_now([c.id for c in claimed], now)

    async def run_claimed(self, job_id: str) -> None:
        c = self.runtime.claimed.pop(job_id, None)
        if c is None:
            log.warning("job %s: started by arq but not claimed by this worker; skipped", job_id)
            return
        await self.runtime.execute(c)

    async def _finished(self, c: Claimed) -> None:
        self.inflight.pop(c.id, None)
        self.completed += 1
        self._slot.set()

    def _add_acks(self, pipe: Any, finished: list[Claimed]) -> None:
        entries = [c.entry_id for c in finished if c.entry_id]
        if entries:
            pipe.xack(self.cmd_key, self.pool, *entries)
            pipe.xdel(self.cmd_key, *entries)

    async def _ack(self, entry_ids: list[str]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xack(self.cmd_key, self.pool, *entry_ids)
                # The stream then holds only commands not yet done: its length is the backlog.
                pipe.xdel(self.cmd_key, *entry_ids)
                await pipe.execute()
        except Exception as exc:
            log.warning("ack failed (entries will be re-delivered and deduplicated): %s", exc)

    # -- heartbeat, reclaim, maintenance -----------------------------------------------------

    async def _register(self) -> None:
        info = {
            "worker_id": self.worker_id,
            "pool": self.pool,
            "concurrency": self.concurrency,
            "running": len(self.inflight),
            "completed": self.completed,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self.started_at,
        }
        key = self.keys.worker(self.pool, self.worker_id)
        ttl = max(3, int(self.settings.jobs.heartbeat_s * 3))
        await self.redis.set(key, msgspec.json.encode(info), ex=ttl)

    async def _heartbeat(self) -> None:
        interval = self.settings.jobs.heartbeat_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)

    async def _beat(self) -> None:
        ids = [uuid.UUID(j) for j in self.inflight]
        if ids:
            async with self.engine.begin() as conn:
                alive = await repo.heartbeat(conn, ids, self.worker_id)
            for job_id, cancel in alive.items():
                if cancel:
                    self.runtime.cancel(str(job_id))
            own: list[int | bytes | str | memoryview] = [
                c.entry_id for c in self.inflight.values() if c.entry_id
            ]
            if own:
                # Re-claiming our own entries resets their idle time: proof of life for
                # XAUTOCLAIM in other workers.
                await self.redis.xclaim(
                    self.cmd_key, self.pool, self.worker_id, 0, own, justid=True
                )
        await self._register()
        free = self._free()
        if free > 0:
            min_idle_ms = int(self.settings.jobs.reap_after_s * 1000)
            res = await self.redis.xautoclaim(
                self.cmd_key, self.pool, self.worker_id, min_idle_ms, "0-0", count=free
            )
            entries = [(eid, f) for eid, f in res[1] if f]
            if entries:
                log.info("reclaimed %d command(s) from dead consumers", len(entries))
                await self._take(entries)

    async def _maintenance(self) -> None:
        """Relay unpublished outbox rows and reap jobs whose worker died (any worker may)."""
        # Reaping can wait a quarter of the reap window; relaying is what latency depends on.
        reap_every = max(
            self.settings.jobs.maintenance_every_s, self.settings.jobs.reap_after_s / 4
        )
        next_reap = 0.0
        while True:
            await asyncio.sleep(self.settings.jobs.maintenance_every_s)
            try:
                await self._relay()
                if time.monotonic() >= next_reap:
                    next_reap = time.monotonic() + reap_every
                    await self._reap()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("maintenance failed: %s", exc)

    async def _relay(self) -> None:
        async with self.engine.begin() as conn:
            rows = await repo.due_outbox(conn, self.settings.jobs.relay_after_s)
            if not rows:
                return
            async with self.redis.pipeline(transaction=False) as pipe:
                for r in rows:
                    if r.status == "pending":
                        pipe.xadd(
                            self.keys.command(r.pool), {"job_id": str(r.job_id), "kind": r.kind}
                        )
                await pipe.execute()
            # Deleted only after the XADDs succeeded, in the transaction holding the row locks.
            await repo.delete_outbox_rows(conn, [r.id for r in rows])
        log.info("relay: published %d outbox command(s)", len(rows))

    async def _reap(self) -> None:
        async with self.engine.begin() as conn:
            rows = await repo.reap(conn, self.settings.jobs.reap_after_s)
        for r in rows:
            if r.status == "failed":
                data = job_event_data(r)
                await self.publisher.publish(
                    JOB_FAILED, data, job_topics(str(r.id), str(r.owner_id), r.topics)
                )
        if rows:
            log.info("reaper: %d job(s) of lost workers requeued or failed", len(rows))

    async def _cancel_listener(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.keys.cancel_channel)
                async for msg in pubsub.listen():
                    if msg.get("type") == "message":
                        job_id = _text(msg["data"])
                        if self.runtime.cancel(job_id):
                            log.info("job %s: cancel requested", job_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cancel listener: %s; resubscribing", exc)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def known_kinds() -> list[str]:
    return sorted(CATALOG)


async def serve(settings: Settings, pool: str, concurrency: int) -> None:
    """Run one pool worker until SIGINT/SIGTERM."""
    worker = PoolWorker(settings, pool, concurrency)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.stop)
    await worker.run()
