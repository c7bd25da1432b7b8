"""Robodata handlers: index a folder of datasets into the catalog; make one episode's media.

Both are idempotent: an index upserts by (dataset, episode), media overwrites its cache key.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib
import json
import logging
import multiprocessing
import os
import socket
import tempfile
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.job import PermanentError, TransientError
from domain.robodata.archive import import_archive
from domain.robodata.catalog import (
    DatasetRecord,
    dataset_record,
    mapping,
    media_key,
    media_prefix,
    preview,
)
from domain.robodata.editor import delete_episode, update_dataset
from domain.robodata.error import (
    InvalidArchiveError,
    NotADatasetError,
    RobodataError,
    UnsafeArchiveError,
    ViewerError,
)
from domain.robodata.model import Dataset
from domain.robodata.parser import parse_dataset, read_info_json
from domain.robodata.scanner import ScanProblem, find_datasets
from domain.robodata.viewer import Viewer, ViewerManager
from infra.db import robodata as repo
from infra.db.engine import statement
from infra.settings import Settings
from workers.catalog.robodata import (
    EditPayload,
    IndexPayload,
    MaterializePayload,
    MediaPayload,
    ParsePayload,
    SweepPayload,
    UnpackPayload,
    ViewerPayload,
)
from workers.context import JobContext, WorkerResources
from workers.follow import follow_up

# At most this many of a dataset's warnings go into the task's error message.
WARNINGS_PER_DATASET = 20
# How often a running scan writes its counts to the task row.
PROGRESS_EVERY_S = 0.25
# At most this many parsed datasets go into one catalog transaction.
BATCH_DATASETS = 100
# Processes parsing a scan's datasets (at most one per core), and datasets handed to them
# ahead of the writer.
PARSER_PROCESSES = 2
PARSE_AHEAD = 8
# How often a parser process checks that its worker is still there.
PARSER_WATCH_S = 1.0
# How often a worker running viewers checks their records (so a stop made on another worker
# takes at most this long).
VIEWER_SWEEP_S = 2.0
# Stale media pairs read (and their files deleted) per round of a sweep.
SWEEP_BATCH = 200


log = logging.getLogger(__name__)
_parsers: ProcessPoolExecutor | None = None


def _parser_pool() -> ProcessPoolExecutor:
    """This worker's parser processes, started once: parsing is CPU-bound Python, and in
    processes of its own it runs beside the catalog writes instead of taking turns with them
    for the worker's one interpreter lock."""
    global _parsers
    if _parsers is None:
        spawn = multiprocessing.get_context("spawn")
        _parsers = ProcessPoolExecutor(
            _parser_count(), mp_context=spawn, initializer=_watch_worker, initargs=(os.getpid(),)
        )
    return _parsers


def _watch_worker(worker_pid: int) -> None:
    """In a parser process: exit once the worker that started it is gone. A worker killed
    outright never tells its pool to stop, and a parser waiting for work would wait forever
    (each holds an end of the pool's queue, so it never reads an end of file)."""

    def watch() -> None:
        while os.getppid() == worker_pid:
            time.sleep(PARSER_WATCH_S)
        os._exit(0)

    threading.Thread(target=watch, name="watch-worker", daemon=True).start()


def _forget_parser_pool() -> None:
    global _parsers
    if _parsers is not None:
        _parsers.shutdown(wait=False, cancel_futures=True)
        _parsers = None


def _parser_count() -> int:
    return max(1, min(PARSER_PROCESSES, os.cpu_count() or 1))


async def warm(settings: Settings) -> None:
    """Start the parser processes with the worker, so the first scan does not wait for them
    to start and import the parser."""
    pool = _parser_pool()
    loop = asyncio.get_running_loop()
    await asyncio.gather(
        *(loop.run_in_executor(pool, _load_parser) for _ in range(_parser_count()))
    )


def _load_parser() -> None:
    """Import what parsing a dataset imports on first use (Parquet, the video prober)."""
    for module in ("pyarrow.parquet", "domain.robodata.video"):
        importlib.import_module(module)


def _declared_episodes(roots: list[Path]) -> int:
    """Episodes the datasets' `info.json` promise: the task's total before any is parsed."""
    total = 0
    for root in roots:
        try:
            value = read_info_json(root).get("total_episodes")
        except RobodataError:
            continue
        total += value if isinstance(value, int) and value > 0 else 0
    return total


def _prepare(root: Path, payload: IndexPayload) -> tuple[DatasetRecord | None, list[str]]:
    """Parse one dataset into its catalog records (in a worker thread); notes for the task."""
    try:
        dataset = parse_dataset(root)
    except (RobodataError, OSError) as exc:
        return None, [f"{root}: {exc}"]
    robot, task_type = mapping(dataset, root.name)
    record = dataset_record(dataset, payload.robot or robot, payload.task_type or task_type)
    shown = dataset.warnings[:WARNINGS_PER_DATASET]
    notes = [f"{root.name}: {w}" for w in shown]
    if len(dataset.warnings) > len(shown):
        notes.append(f"{root.name}: {len(dataset.warnings) - len(shown)} more warnings")
    return record, notes


async def index(ctx: JobContext, payload: IndexPayload) -> dict[str, Any]:
    """Parse every dataset below the path and write it to the catalog, reporting progress.

    A dataset that cannot be parsed, or an episode with missing files, is recorded in the
    task's error message and the scan goes on; only a failure of the scan itself fails it.
    Datasets are parsed one after another in a thread while the event loop writes whatever
    has been parsed since its last write as one batch (one transaction of a few statements,
    however many datasets): the writes keep up with the parser instead of pacing it.
    """
    res = ctx["resources"]
    run = ctx["run_in_thread"]
    owner = uuid.UUID(ctx["owner_id"])
    problems: list[ScanProblem] = []
    try:
        roots: list[Path] = await run(find_datasets, payload.path, problems)
    except RobodataError as exc:
        raise PermanentError(str(exc), code="NOT_A_DATASET") from exc
    total = await run(_declared_episodes, roots)
    errors = [f"{p.path}: {p.error}" for p in problems]
    if not roots:
        errors.append(f"no LeRobot dataset found under {payload.path}")
    async with statement(res.engine) as conn:
        await repo.task_progress(conn, payload.task_id, total=total, processed=0, errors=errors)
    parsed: asyncio.Queue[tuple[Path, DatasetRecord | None, list[str]] | None] = asyncio.Queue()

    async def parse_all() -> None:
        loop, pool = asyncio.get_running_loop(), _parser_pool()
        ahead: collections.deque[tuple[Path, asyncio.Future[Any]]] = collections.deque()
        try:
            for root in [*roots, None]:
                if root is not None:
                    ahead.append((root, loop.run_in_executor(pool, _prepare, root, payload)))
                while ahead and (root is None or len(ahead) >= PARSE_AHEAD):
                    done_root, future = ahead.popleft()
                    parsed.put_nowait((done_root, *await future))
        except BrokenProcessPool as exc:
            # A parser process died (killed, out of memory): the next try starts new ones.
            _forget_parser_pool()
            raise TransientError(
                "a parser process died; retrying with new ones", "PARSER_LOST"
            ) from exc
        finally:
            for _, future in ahead:
                future.cancel()
            # The end of the stream, also when parsing failed (`await parser` raises then).
            parsed.put_nowait(None)

    parser = asyncio.ensure_future(parse_all())
    processed = datasets = done = 0
    notes: list[str] = []
    reported = time.monotonic()
    finished = not roots
    try:
        while not finished:
            batch = [await parsed.get()]
            while not parsed.empty() and len(batch) < BATCH_DATASETS:
                batch.append(parsed.get_nowait())
            if batch[-1] is None:
                finished = True
            ready = [b for b in batch if b is not None]
            records = [r for _, r, _ in ready if r is not None]
            if records:
                async with statement(res.engine) as conn:
                    await repo.save_datasets(conn, records, owner, remap=payload.robot is not None)
            processed += sum(len(r.items) for r in records)
            datasets += len(records)
            done += len(ready)
            for _, _, found in ready:
                notes.extend(found)
            await ctx["progress"](
                100.0 * done / len(roots), f"{done}/{len(roots)} datasets, {processed} episodes"
            )
            # The task row is what /index/status reads: kept current without a write per
            # batch of a large tree.
            if finished or time.monotonic() - reported > PROGRESS_EVERY_S:
                async with statement(res.engine) as conn:
                    await repo.task_progress(
                        conn,
                        payload.task_id,
                        total=max(total, processed),
                        processed=processed,
                        current=str(ready[-1][0]) if ready else None,
                        errors=notes,
                    )
                notes, reported = [], time.monotonic()
        await parser
    finally:
        if not parser.done():
            parser.cancel()
            with contextlib.suppress(BaseException):
                await parser
    await _sweep_media(res)
    result: dict[str, Any] = {
        "datasets": datasets,
        "episodes": processed,
        "task_id": payload.task_id,
    }
    if payload.materialize_assets and processed:
        asked = MaterializePayload(path=payload.path, overwrite=payload.overwrite_assets)
        key = f"robodata.materialize:{payload.task_id}"
        result["materializeJobId"] = str(await follow_up(res, owner, MATERIALIZE, asked, key))
    return result


async def sweep(ctx: JobContext, payload: SweepPayload) -> dict[str, Any]:
    """Delete the cached media that catalog writes left stale."""
    return {"deleted": await _sweep_media(ctx["resources"])}


async def _sweep_media(res: WorkerResources) -> int:
    """Delete the files of every (item, fingerprint) the triggers noted as stale; how many
    pairs. A pair is forgotten only once its files are gone, so a blob store that fails midway
    leaves the rest for the next sweep."""
    if res.blob is None:
        return 0
    swept = 0
    while True:
        async with statement(res.engine) as conn:
            pairs = await repo.stale_media_batch(conn, SWEEP_BATCH)
        if not pairs:
            return swept
        for item_id, fingerprint in pairs:
            await res.blob.delete_prefix(media_prefix(item_id, fingerprint))
        async with statement(res.engine) as conn:
            await repo.forget_stale_media(conn, pairs)
        swept += len(pairs)


async def _reindex(ctx: JobContext, root: str, robot: str, task_type: str, *, remap: bool) -> int:
    """Parse one dataset again and write it over its records; the number of episodes."""
    dataset: Dataset = await ctx["run_in_thread"](parse_dataset, root)
    record = dataset_record(dataset, robot, task_type)
    async with statement(ctx["resources"].engine) as conn:
        await repo.save_dataset(conn, record, uuid.UUID(ctx["owner_id"]), remap=remap)
    return len(record.items)


async def edit(ctx: JobContext, payload: EditPayload) -> dict[str, Any]:
    """A local edit of a dataset, then its records made to match the files."""
    res = ctx["resources"]
    async with statement(res.engine) as conn:
        dataset = await repo.dataset_by_id(conn, payload.dataset_id)
    if dataset is None:
        raise PermanentError("Dataset not found", code="DATASET_NOT_FOUND")
    if payload.action == "delete":
        return await _delete(ctx, payload, dataset)
    robot = payload.robot or dataset.robot
    task_type = payload.task_type or dataset.task_type
    note = ""
    try:
        root = await ctx["run_in_thread"](
            update_dataset,
            dataset.path,
            robot_type=payload.robot,
            task_name=payload.task_type,
            new_root=payload.storage_path,
        )
    except (RobodataError, OSError) as exc:
        if payload.force_local:
            raise PermanentError(f"local update failed: {exc}", code="LOCAL_EDIT_FAILED") from exc
        root, note = Path(dataset.path), f"; local files unchanged: {exc}"
    if str(root) != dataset.path:
        async with statement(res.engine) as conn:
            await repo.move_dataset(conn, dataset.id, str(root), root.name)
    count = await _reindex(ctx, str(root), robot, task_type, remap=True)
    await _sweep_media(res)
    return {
        "message": f"Dataset updated{note}",
        "updatedCount": count,
        "robot": robot,
        "taskType": task_type,
        "storagePath": str(root),
    }


async def _delete(ctx: JobContext, payload: EditPayload, dataset: Any) -> dict[str, Any]:
    res = ctx["resources"]
    async with statement(res.engine) as conn:
        item = await repo.get_item(conn, payload.item_id or 0)
    if item is None or item.dataset_id != dataset.id:
        raise PermanentError("Item not found", code="ITEM_NOT_FOUND")
    note, local = "", True
    try:
        await ctx["run_in_thread"](delete_episode, dataset.path, item.episode_index)
    except (RobodataError, OSError) as exc:
        if payload.force_local:
            raise PermanentError(f"local delete failed: {exc}", code="LOCAL_EDIT_FAILED") from exc
        note, local = f"; local files unchanged: {exc}", False
    async with statement(res.engine) as conn:
        # v3 renumbers the later episodes on disk: their records move down with them.
        await repo.delete_item(conn, item.id, renumber=local and dataset.version == "v3.0")
    if local:
        await _reindex(ctx, dataset.path, dataset.robot, dataset.task_type, remap=False)
    await _sweep_media(res)
    return {"message": f"Episode deleted{note}", "itemId": item.id}


async def parse(ctx: JobContext, payload: ParsePayload) -> dict[str, Any]:
    """The parse-lerobot preview of one dataset."""
    try:
        dataset: Dataset = await ctx["run_in_thread"](parse_dataset, payload.path)
    except (RobodataError, OSError) as exc:
        raise PermanentError(str(exc), code="NOT_A_DATASET") from exc
    name = payload.name or Path(dataset.root).name
    result: dict[str, Any] = msgspec.to_builtins(preview(dataset, name))
    # The robot and task type a scan would file it under, for the routes that register it.
    result["mapping"] = list(mapping(dataset, name))
    return result


_ARCHIVE_ERRORS = {
    UnsafeArchiveError: "UNSAFE_ARCHIVE",
    InvalidArchiveError: "INVALID_ARCHIVE",
    NotADatasetError: "NOT_A_DATASET",
}


async def unpack(ctx: JobContext, payload: UnpackPayload) -> dict[str, Any]:
    """Unpack an uploaded archive into its new folder; the archive leaves the blob store."""
    store = ctx["resources"].blob
    if store is None:
        raise RuntimeError("the blob store is not reachable")
    with tempfile.TemporaryDirectory(prefix="sy-robodata-") as folder:
        archive = Path(folder) / "archive"
        async with await store.get(payload.archive_key) as reader:
            with archive.open("wb") as handle:
                async for chunk in reader:
                    handle.write(chunk)
        try:
            root: Path = await ctx["run_in_thread"](import_archive, archive, payload.target)
        except (UnsafeArchiveError, InvalidArchiveError, NotADatasetError) as exc:
            # Refused for good: the upload is of no further use.
            await store.delete(payload.archive_key)
            code = next(c for t, c in _ARCHIVE_ERRORS.items() if isinstance(exc, t))
            raise PermanentError(str(exc), code=code) from exc
    await store.delete(payload.archive_key)
    return {"path": str(root)}


class _Viewers:
    """This worker's Rerun viewers (one per recording), and the record each has in Redis.

    The record (`<prefix>:robodata:viewer:<recording>`) is what every media worker sees: a
    viewer request that lands on another worker answers from it, and refreshes its expiry; a
    stop deletes it. It expires after `viewer_idle_s` without a request, and the worker that
    runs the viewer stops it once its record is gone (a timer checks every few seconds while
    viewers run). The engine's manager also stops them all when the worker exits."""

    def __init__(self) -> None:
        self.manager: ViewerManager | None = None
        self.by_recording: dict[str, Viewer] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.sweeping: asyncio.Task[None] | None = None

    async def sweep(self, redis: Redis, prefix: str) -> None:
        """Stop the viewers that died or whose record is gone (expired idle, or stopped)."""
        assert self.manager is not None
        alive = {v.id for v in self.manager.list()}
        for name, viewer in list(self.by_recording.items()):
            if viewer.id in alive and await redis.exists(_viewer_key(prefix, name)):
                continue
            self.manager.stop(viewer.id)
            del self.by_recording[name]

    def keep_sweeping(self, redis: Redis, prefix: str, every_s: float) -> None:
        """Sweep on a timer while viewers run."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.by_recording:
            return

        async def sweep_then_again() -> None:
            try:
                await self.sweep(redis, prefix)
            except RedisError as exc:  # the records are out of reach: keep the viewers
                log.warning("viewer sweep skipped: %s", exc)
            self.keep_sweeping(redis, prefix, every_s)

        def tick() -> None:
            self.timer = None
            self.sweeping = asyncio.ensure_future(sweep_then_again())

        self.timer = asyncio.get_running_loop().call_later(every_s, tick)


_VIEWERS = _Viewers()
# Where this worker process runs: the owner named in the viewer records it writes.
_HERE = f"{socket.gethostname()}:{os.getpid()}"


def _viewer_key(prefix: str, recording: str) -> str:
    return f"{prefix}:robodata:viewer:{recording}"


def _viewer_view(viewer: Viewer, reused: bool) -> dict[str, Any]:
    return {
        "status": "running",
        "viewerId": viewer.id,
        "wsUrl": viewer.ws_url,
        "webUrl": viewer.web_url,
        "reused": reused,
        "instructions": f"Open {viewer.web_url} in a browser, or run: rerun {viewer.ws_url}",
    }


async def _answers(viewer: Viewer) -> bool:
    """Does the viewer's page answer where its URL says? (A record outlives a worker that
    died.)"""
    page = urlsplit(viewer.web_url)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(page.hostname, page.port or viewer.web_port), 2.0
        )
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def viewer(ctx: JobContext, payload: ViewerPayload) -> dict[str, Any]:
    """Start (or reuse) the web viewer of one recording, or stop it, whichever media worker
    runs it."""
    res = ctx["resources"]
    policy = res.settings.robodata
    prefix, ttl = res.settings.redis.prefix, max(1, int(policy.viewer_idle_s))
    if _VIEWERS.manager is None:
        try:
            _VIEWERS.manager = ViewerManager()
        except ViewerError as exc:
            raise PermanentError(str(exc), code="VIEWER_ERROR") from exc
    name = Path(payload.rrd_key).name
    key = _viewer_key(prefix, name)
    running = _VIEWERS.by_recording.get(name)
    if payload.action == "stop":
        recorded = await res.redis.delete(key)
        if running is not None:
            _VIEWERS.manager.stop(running.id)
            del _VIEWERS.by_recording[name]
        # Another worker's viewer stops at that worker's next sweep, its record being gone.
        return {"status": "stopped", "stopped": running is not None or recorded > 0}
    if running is not None and running.id in {v.id for v in _VIEWERS.manager.list()}:
        await res.redis.set(key, msgspec.json.encode([_HERE, running]), ex=ttl)
        return _viewer_view(running, True)
    found = await res.redis.get(key)
    if found is not None:
        owner, elsewhere = msgspec.json.decode(found, type=tuple[str, Viewer])
        if owner != _HERE and await _answers(elsewhere):
            await res.redis.expire(key, ttl)
            return _viewer_view(elsewhere, True)
    if res.blob is None:
        raise RuntimeError("the blob store is not reachable")
    local = res.settings.data_path / "robodata" / "viewers" / name
    if not local.is_file():
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(f".{local.name}.{uuid.uuid4().hex}")
        partial.write_bytes(await res.blob.read(payload.rrd_key))
        partial.replace(local)
    try:
        started: Viewer = await ctx["run_in_thread"](
            _VIEWERS.manager.start,
            local,
            host=policy.viewer_host,
            ws_port=payload.ws_port,
            web_port=payload.web_port,
            public_host=policy.viewer_public_host or None,
        )
    except ViewerError as exc:
        raise PermanentError(str(exc), code="VIEWER_ERROR") from exc
    _VIEWERS.by_recording[name] = started
    await res.redis.set(key, msgspec.json.encode([_HERE, started]), ex=ttl)
    _VIEWERS.keep_sweeping(res.redis, prefix, min(VIEWER_SWEEP_S, ttl / 4))
    return _viewer_view(started, False)


MATERIALIZE = "robodata.materialize"
# What a browser shows of an episode first: (what, extension, parameters besides the camera).
FIRST_MEDIA: tuple[tuple[Literal["thumbnail", "stream"], str, dict[str, Any]], ...] = (
    ("thumbnail", "jpg", {"frame": 0}),
    ("stream", "mp4", {"resolution": None}),
)


async def materialize(ctx: JobContext, payload: MaterializePayload) -> dict[str, Any]:
    """Make the first media of every episode at or below a path into the cache, under the
    keys the API's media routes look for; what is cached already is kept unless `overwrite`."""
    res = ctx["resources"]
    if res.blob is None:
        raise RuntimeError("the blob store is not reachable")
    async with statement(res.engine) as conn:
        items = await repo.items_under(conn, payload.path)
    run = ctx["run_in_thread"]
    # Items come dataset by dataset: each dataset is parsed once, not once per file made.
    parsed: dict[str, Dataset] = {}

    async def dataset_at(root: str) -> Dataset:
        if root not in parsed:
            parsed.clear()
            parsed[root] = await run(parse_dataset, root, probe_videos=False)
        return parsed[root]

    made = kept = 0
    for number, item in enumerate(items, start=1):
        if item.primary_camera is None:
            continue
        for what, extension, extra in FIRST_MEDIA:
            params: dict[str, Any] = {"camera": item.primary_camera, **extra}
            key = media_key(item.id, item.fingerprint, what, extension, params)
            if not payload.overwrite and await res.blob.exists(key):
                kept += 1
                continue
            asked = MediaPayload(item_id=item.id, what=what, key=key, **params)
            try:
                dataset = await dataset_at(item.storage_path)
                data, content_type, _ = await run(_render, dataset, item.episode_index, asked)
            except RobodataError as exc:
                log.warning("materialize: item %d %s: %s", item.id, what, exc)
                continue
            await res.blob.put(key, data, content_type=content_type)
            made += 1
        await ctx["progress"](100.0 * number / len(items), f"{number}/{len(items)} episodes")
    return {"episodes": len(items), "made": made, "kept": kept}


async def media(ctx: JobContext, payload: MediaPayload) -> dict[str, Any]:
    """Make one episode's thumbnail (JPEG), stream (MP4) or timeseries (JSON) into the cache."""
    res = ctx["resources"]
    if res.blob is None:
        raise RuntimeError("the blob store is not reachable")
    async with statement(res.engine) as conn:
        item = await repo.get_item(conn, payload.item_id)
    if item is None:
        raise PermanentError(f"item {payload.item_id} no longer exists", code="ITEM_NOT_FOUND")
    try:
        data, content_type, facts = await ctx["run_in_thread"](
            _make, item.storage_path, item.episode_index, payload
        )
    except RobodataError as exc:
        raise PermanentError(str(exc), code="MEDIA_ERROR") from exc
    meta = await res.blob.put(payload.key, data, content_type=content_type)
    return {"key": payload.key, "size": meta.size, **facts}


def _make(
    root: str, episode_index: int, payload: MediaPayload
) -> tuple[bytes, str, dict[str, Any]]:
    return _render(parse_dataset(root, probe_videos=False), episode_index, payload)


def _render(
    dataset: Dataset, episode_index: int, payload: MediaPayload
) -> tuple[bytes, str, dict[str, Any]]:
    """One media file of an episode: (bytes, content type, facts for the job's result)."""
    from domain.robodata.timeseries import episode_timeseries
    from domain.robodata.video import export_clip, thumbnail

    if payload.what == "thumbnail":
        jpeg = thumbnail(dataset, episode_index, payload.camera, frame_index=payload.frame)
        return jpeg, "image/jpeg", {}
    if payload.what == "timeseries":
        series = episode_timeseries(dataset, episode_index, max_points=payload.max_points)
        body = {
            "timestamps": series.timestamps,
            "action": series.action or [],
            "state": series.state or [],
            "actionNames": series.action_names or [],
            "stateNames": series.state_names or [],
            "totalPoints": series.total_points,
            "downsampled": series.downsampled,
        }
        return json.dumps(body).encode(), "application/json", {}
    if payload.what == "rrd":
        from domain.robodata.recording import write_recording

        with tempfile.TemporaryDirectory(prefix="sy-robodata-") as folder:
            written = write_recording(dataset, episode_index, Path(folder) / "episode.rrd")
            data = Path(written.path).read_bytes()
        return data, "application/x-rerun", {"duration": written.duration}
    with tempfile.TemporaryDirectory(prefix="sy-robodata-") as folder:
        target = Path(folder) / "clip.mp4"
        clip = export_clip(
            dataset, episode_index, payload.camera, target, resolution=payload.resolution
        )
        return target.read_bytes(), "video/mp4", msgspec.to_builtins(clip)
