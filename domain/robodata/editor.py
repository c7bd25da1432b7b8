"""Local changes to a dataset on disk: move/rename, metadata updates, deleting one episode.

Every multi-file rewrite is staged in a sibling folder (unchanged files hard-linked, changed
files written fresh, never through a link) and then swapped with the live folder in a single
`renameat2(RENAME_EXCHANGE)`, so a reader or a crash sees the old dataset or the new one.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from domain.robodata.error import DatasetEditError, RobodataError
from domain.robodata.model import Dataset, Episode
from domain.robodata.naming import format_name, parse_name
from domain.robodata.parser import episode_metadata_files, parse_dataset, read_info_json
from domain.robodata.path import inside
from domain.robodata.scanner import STAGING_MARK

Progress = Callable[[float, str], None]
RENAME_EXCHANGE = 2
AT_FDCWD = -100


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so readers see the old or the new content, never a mix."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _write_json(path: Path, value: Any) -> None:
    write_atomic(path, (json.dumps(value, indent=4) + "\n").encode())


def update_dataset(
    root: str | Path,
    *,
    robot_type: str | None = None,
    task_name: str | None = None,
    new_root: str | Path | None = None,
    allowed_root: str | Path | None = None,
) -> Path:
    """Move/rename a dataset and update its `robot_type`; returns the new root.

    With `new_root` the folder moves there; otherwise a conventionally named folder
    (`{robot_type}_{task_name}_{date}`) is renamed to match the new robot type / task name.
    The move is one rename and info.json one atomic replace: a crash between them leaves the
    moved dataset readable with its old robot type.
    """
    source = Path(root).resolve()
    info = read_info_json(source)
    old_robot = info.get("robot_type") if isinstance(info.get("robot_type"), str) else None
    target = source
    if new_root is not None:
        target = Path(new_root).resolve()
    elif robot_type is not None or task_name is not None:
        current = parse_name(source.name, old_robot)
        name = format_name(
            robot_type or current.robot_type, task_name or current.task_name, current.date
        )
        target = source.with_name(name)
    if allowed_root is not None:
        inside(allowed_root, os.path.relpath(target, Path(allowed_root).resolve()))
    with _lock(source):
        if target != source:
            if target.exists():
                raise DatasetEditError(f"{target} already exists")
            if source in target.parents:
                raise DatasetEditError(f"cannot move {source} into itself")
            _move(source, target)
        if robot_type is not None and robot_type != old_robot:
            info["robot_type"] = robot_type
            _write_json(target / "meta" / "info.json", info)
    return target


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(source, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise DatasetEditError(f"cannot move {source} to {target}: {exc}") from exc
    # Across filesystems: copy beside the target, then publish it with one rename.
    staging = target.with_name(f".{target.name}{STAGING_MARK}{uuid.uuid4().hex}")
    try:
        shutil.copytree(source, staging, symlinks=True)
        os.rename(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DatasetEditError(f"cannot move {source} to {target}: {exc}") from exc
    shutil.rmtree(source)


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    lock_path = root.parent / f".{root.name}.sy-lock"
    try:
        handle = lock_path.open("a")
    except OSError as exc:
        raise DatasetEditError(f"cannot lock {root} for changes: {exc}") from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DatasetEditError(f"another change to {root} is in progress") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def staged(root: Path) -> Iterator[Path]:
    """Yield a hard-linked copy of `root` to change; on success swap it in atomically."""
    for stale in root.parent.glob(f".{root.name}{STAGING_MARK}*"):
        # Left by an edit that crashed: before the swap it is a half-made new state, after
        # it the old state; either way the live folder is complete without it.
        shutil.rmtree(stale, ignore_errors=True)
    staging = root.with_name(f".{root.name}{STAGING_MARK}{uuid.uuid4().hex}")
    try:
        _link_tree(root, staging)
        yield staging
        _sync_tree(staging)
        _exchange(staging, root)
        _sync_folder(root.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _link_tree(source: Path, target: Path) -> None:
    for folder, dirs, files in os.walk(source):
        relative = Path(folder).relative_to(source)
        (target / relative).mkdir(parents=True, exist_ok=True)
        for name in [*files, *(d for d in dirs if (Path(folder) / d).is_symlink())]:
            src, dst = Path(folder) / name, target / relative / name
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
                continue
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)


def _sync_tree(root: Path) -> None:
    # Files written during the edit (the only ones not hard-linked) must be on disk before
    # the swap makes them live, or a power cut could publish empty files.
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink() and path.stat().st_nlink == 1:
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
        _sync_folder(Path(folder))


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _exchange(staging: Path, root: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        result = renameat2(
            AT_FDCWD, os.fsencode(staging), AT_FDCWD, os.fsencode(root), RENAME_EXCHANGE
        )
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise DatasetEditError(f"cannot swap in the new {root.name}: {os.strerror(code)}")
    # Without an atomic exchange the live name is briefly absent between the two renames.
    aside = root.with_name(f".{root.name}{STAGING_MARK}old-{uuid.uuid4().hex}")
    os.rename(root, aside)
    os.rename(staging, root)
    os.rename(aside, staging)


def delete_episode(
    root: str | Path, episode_index: int, *, progress: Progress | None = None
) -> Dataset:
    """Delete one episode from disk and fix the metadata; returns the dataset as it now is."""
    base = Path(root).resolve()
    dataset = parse_dataset(base, probe_videos=False)
    episode = dataset.episode(episode_index)
    try:
        with _lock(base), staged(base) as staging:
            if dataset.version == "v3.0":
                _delete_v3(dataset, episode, staging, progress)
            else:
                _delete_v2(dataset, episode, staging)
    except (OSError, ValueError) as exc:
        # pyarrow and PyAV errors derive from these; the live dataset is untouched here.
        raise DatasetEditError(f"cannot delete episode {episode_index}: {exc}") from exc
    if progress:
        progress(100.0, f"deleted episode {episode_index}")
    return parse_dataset(base, probe_videos=False)


def _update_totals(staging: Path, episode: Episode, cameras: int, contiguous: bool) -> None:
    info = read_info_json(staging)
    for key, change in (
        ("total_episodes", 1),
        ("total_frames", episode.length),
        ("total_videos", cameras),
    ):
        if isinstance(info.get(key), int):
            info[key] = max(0, info[key] - change)
    if contiguous and isinstance(info.get("splits"), dict) and "total_episodes" in info:
        info["splits"] = {"train": f"0:{info['total_episodes']}"}
    _write_json(staging / "meta" / "info.json", info)


def _delete_v2(dataset: Dataset, episode: Episode, staging: Path) -> None:
    for relative in [episode.data_path, *(v.path for v in episode.videos.values())]:
        with contextlib.suppress(FileNotFoundError, RobodataError):
            inside(staging, relative).unlink()
    for name in ("episodes.jsonl", "episodes_stats.jsonl"):
        path = staging / "meta" / name
        if not path.is_file():
            continue
        kept = [
            line
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and _jsonl_index(line) != episode.index
        ]
        write_atomic(path, "".join(line + "\n" for line in kept).encode())
    _update_totals(staging, episode, len(episode.videos), contiguous=False)


def _jsonl_index(line: str) -> int | None:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    value = row.get("episode_index") if isinstance(row, dict) else None
    return value if isinstance(value, int) else None


def _delete_v3(
    dataset: Dataset, episode: Episode, staging: Path, progress: Progress | None
) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    removed, length = episode.index, episode.length
    later = [e for e in dataset.episodes if e.index >= removed]
    data_files = sorted({e.data_path for e in later})
    for number, relative in enumerate(data_files, start=1):
        path = inside(staging, relative)
        table = pq.read_table(path)
        table = table.filter(pc.not_equal(table["episode_index"], removed))
        if table.num_rows == 0:
            path.unlink()
            continue
        for column, threshold, step in (
            ("episode_index", removed, 1),
            ("index", episode.to_index, length),
        ):
            if column not in table.column_names:
                continue
            values = table[column]
            shifted = pc.if_else(
                pc.greater_equal(values, threshold), pc.subtract(values, step), values
            ).cast(values.type)
            table = table.set_column(table.column_names.index(column), column, shifted)
        _write_parquet(path, table)
        if progress:
            progress(50.0 * number / len(data_files), f"rewrote {relative}")
    shifts: dict[str, float] = {}
    for key, video in episode.videos.items():
        shifts[key] = _cut_video(
            inside(staging, video.path), video.from_timestamp, video.to_timestamp
        )
    if progress:
        progress(80.0, "cut the episode out of its video files")
    by_index = {e.index: e for e in dataset.episodes}
    for file in episode_metadata_files(staging):
        table = pq.read_table(file)
        original = table.to_pylist()
        rows = [
            _shift_row(row, by_index.get(int(row["episode_index"])), episode, shifts)
            if int(row["episode_index"]) > removed
            else row
            for row in original
            if row.get("episode_index") != removed
        ]
        if rows == original:
            continue
        if not rows:
            file.unlink()
            continue
        _write_parquet(file, pa.Table.from_pylist(rows, schema=table.schema))
    _update_totals(staging, episode, len(episode.videos), contiguous=True)


def _shift_row(
    row: dict[str, Any], parsed: Episode | None, removed: Episode, shifts: dict[str, float]
) -> dict[str, Any]:
    """Renumber a later episode's row; move its video window where it shared the removed
    episode's file."""
    row = dict(row)
    row["episode_index"] = int(row["episode_index"]) - 1
    for key in ("dataset_from_index", "dataset_to_index"):
        if row.get(key) is not None:
            row[key] = int(row[key]) - removed.length
    for camera, video in removed.videos.items():
        mine = parsed.videos.get(camera) if parsed is not None else None
        same_file = mine is not None and mine.path == video.path
        start = row.get(f"videos/{camera}/from_timestamp")
        if same_file and start is not None and start >= video.to_timestamp - 1e-3:
            for edge in ("from_timestamp", "to_timestamp"):
                row[f"videos/{camera}/{edge}"] = row[f"videos/{camera}/{edge}"] - shifts[camera]
    return row


def _write_parquet(path: Path, table: Any) -> None:
    import pyarrow.parquet as pq

    # A fresh file then a rename: the staged path may still be a hard link to the live file.
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _cut_video(path: Path, start: float, end: float) -> float:
    """Remove `[start, end)` from a video by stream copy; returns the seconds later packets moved.

    Both edges must fall on keyframes (LeRobot concatenates episodes that way), otherwise
    the cut would need re-encoding and the edit is refused.
    """
    import av

    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp.mp4")
    shift_seconds = end - start
    try:
        with av.open(str(path)) as source, av.open(str(temporary), "w", format="mp4") as out:
            stream = source.streams.video[0]
            tb = stream.time_base
            if tb is None:
                raise DatasetEditError(f"{path.name} has no time base")
            rate = stream.average_rate or stream.guessed_rate or 30
            half = 0.5 / float(rate)
            out_stream = out.add_stream_from_template(stream, opaque=True)
            first_cut: int | None = None
            shift: int | None = None
            kept = 0
            for packet in source.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                when = float(packet.pts * tb)
                if start - half <= when < end - half:
                    if first_cut is None:
                        if not packet.is_keyframe:
                            raise DatasetEditError(
                                f"{path.name}: the episode does not start on a keyframe"
                            )
                        first_cut = packet.pts
                    continue
                if when >= end - half:
                    if shift is None:
                        if not packet.is_keyframe or first_cut is None:
                            raise DatasetEditError(
                                f"{path.name}: the next episode does not start on a keyframe"
                            )
                        shift = packet.pts - first_cut
                        shift_seconds = float(shift * tb)
                    packet.pts -= shift
                    if packet.dts is not None:
                        packet.dts -= shift
                packet.stream = out_stream
                out.mux(packet)
                kept += 1
        if kept == 0:
            path.unlink()
        else:
            os.replace(temporary, path)
    except av.FFmpegError as exc:
        raise DatasetEditError(f"cannot rewrite {path.name}: {exc}") from exc
    finally:
        temporary.unlink(missing_ok=True)
    return shift_seconds
