"""A parsed dataset as catalog records: one per episode, with its robot and task type.

The browser lists episodes by robot and task type; these are read from the dataset's
conventional name `{robot_type}_{task_name}_{YYYY-MM-DD}` where it has one, else from
`info.json` and its first task. Dataset ids are the url-safe base64 of the root path.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from domain.robodata.error import InvalidDatasetIdError, InvalidNameError
from domain.robodata.model import Camera, Dataset, Episode
from domain.robodata.naming import parse_name

_SLUG = re.compile(r"[^a-z0-9]+")


class ItemRecord(msgspec.Struct, frozen=True):
    """One episode as the catalog keeps it."""

    episode_index: int
    total_frames: int
    fps: float
    duration: float
    width: int
    height: int
    image_count: int
    total_size_bytes: int
    file_path: str
    # [{key, width, height, frames, codec}]
    cameras: list[dict[str, Any]]
    # The engine's Episode as builtins: where its data rows and video segments are.
    episode: dict[str, Any]
    fingerprint: str
    # The camera shown by default (thumbnails in lists).
    primary_camera: str | None = None


class DatasetRecord(msgspec.Struct, frozen=True):
    """One parsed dataset as the catalog keeps it."""

    path: str
    name: str
    robot: str
    task_type: str
    version: str
    fps: float
    warnings: list[str]
    items: list[ItemRecord]


def dataset_id(path: str) -> str:
    """The url-safe base64 of a dataset root path, padding stripped (the original's ids)."""
    return base64.urlsafe_b64encode(path.encode()).decode().rstrip("=")


def dataset_path(identifier: str) -> str:
    """The root path a dataset id encodes; InvalidDatasetIdError when it encodes none."""
    try:
        raw = base64.urlsafe_b64decode(identifier + "=" * (-len(identifier) % 4))
        # Only the canonical encoding names a dataset: no stray characters or padding bits.
        if not identifier or dataset_id(raw.decode()) != identifier:
            raise ValueError("not canonical")
        return raw.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidDatasetIdError(f"invalid dataset id {identifier[:80]!r}") from exc


def media_prefix(item_id: int, fingerprint: str) -> str:
    """Where the blob store caches the media made of one item's files as they were."""
    return f"robodata/media/{item_id}/{fingerprint}/"


def media_key(
    item_id: int, fingerprint: str, what: str, extension: str, params: dict[str, Any]
) -> str:
    """The cache key of one piece of an item's media: its kind and the parameters made with."""
    digest = hashlib.sha256(msgspec.json.encode(sorted(params.items()))).hexdigest()[:24]
    return f"{media_prefix(item_id, fingerprint)}{what}-{digest}.{extension}"


def episode_id(index: int) -> str:
    return f"episode_{index:06d}"


def primary_camera(keys: list[str]) -> str | None:
    """The camera shown by default: one named `top` (or containing it), else the first."""
    for key in keys:
        if key.rsplit(".", 1)[-1] == "top":
            return key
    for key in keys:
        if "top" in key:
            return key
    return keys[0] if keys else None


def _slug(text: str) -> str:
    return _SLUG.sub("_", text.lower()).strip("_")[:100]


def mapping(dataset: Dataset, folder_name: str) -> tuple[str, str]:
    """(robot, task type) for a dataset: from its conventional name when it has one."""
    for robot_type in (dataset.info.robot_type, None):
        try:
            name = parse_name(folder_name, robot_type)
        except InvalidNameError:
            continue
        return name.robot_type, name.task_name
    robot = dataset.info.robot_type or "unknown"
    task = _slug(dataset.tasks[0].task) if dataset.tasks else ""
    return robot, task or "unknown"


def _camera_view(camera: Camera, frames: int) -> dict[str, Any]:
    probe = camera.probe
    return {
        "key": camera.key,
        "width": probe.width if probe else camera.declared_width or 0,
        "height": probe.height if probe else camera.declared_height or 0,
        "frames": frames,
        "codec": probe.codec if probe else camera.declared_codec,
    }


def _files(episode: Episode) -> list[str]:
    return [episode.data_path, *(v.path for v in episode.videos.values())]


def _stat(root: str, relative: str) -> tuple[int, int]:
    # `inside` resolves every path component; a lexical check is enough to keep a template
    # from naming a file outside the dataset, and costs no system calls per episode.
    norm = os.path.normpath(relative)
    if os.path.isabs(norm) or norm == ".." or norm.startswith("../"):
        return -1, -1
    try:
        info = os.stat(os.path.join(root, norm))
    except OSError:
        return -1, -1
    return info.st_size, info.st_mtime_ns


def dataset_record(dataset: Dataset, robot: str, task_type: str) -> DatasetRecord:
    """Catalog records for every episode of a parsed dataset."""
    stats = {p: _stat(dataset.root, p) for e in dataset.episodes for p in _files(e) if p}
    # v3 files hold many episodes: each is charged its share of a file's size.
    sharing = Counter(p for e in dataset.episodes for p in set(_files(e)) if p)
    images = sum(1 for f in dataset.info.features.values() if f.dtype == "image")
    keys = [c.key for c in dataset.cameras]
    primary = primary_camera(keys)
    main = next((c for c in dataset.cameras if c.key == primary), None)
    items = []
    for episode in dataset.episodes:
        cameras = [_camera_view(c, episode.length) for c in dataset.cameras]
        view = next((c for c in cameras if c["key"] == primary), None)
        files = [p for p in set(_files(episode)) if p]
        size = sum(max(0, stats[p][0]) // sharing[p] for p in files)
        video = episode.videos.get(primary) if primary else None
        file_path = str(Path(dataset.root) / (video.path if video else episode.data_path))
        built = msgspec.to_builtins(episode)
        seen = [(p, *stats[p]) for p in sorted(files)]
        fingerprint = hashlib.sha256(msgspec.json.encode([built, seen, main])).hexdigest()
        items.append(
            ItemRecord(
                episode_index=episode.index,
                total_frames=episode.length,
                fps=dataset.info.fps,
                duration=episode.length / dataset.info.fps if dataset.info.fps else 0.0,
                width=view["width"] if view else 0,
                height=view["height"] if view else 0,
                image_count=images * episode.length,
                total_size_bytes=size,
                file_path=file_path,
                cameras=cameras,
                episode=built,
                fingerprint=fingerprint[:32],
                primary_camera=primary,
            )
        )
    return DatasetRecord(
        path=dataset.root,
        name=Path(dataset.root).name,
        robot=robot,
        task_type=task_type,
        version=dataset.version,
        fps=dataset.info.fps,
        warnings=dataset.warnings,
        items=items,
    )


class DatasetInfo(msgspec.Struct, frozen=True):
    codebase_version: str
    robot_type: str | None
    fps: float
    total_episodes: int
    total_frames: int
    total_tasks: int
    total_size_bytes: int


class RobotInfo(msgspec.Struct, frozen=True):
    robot_id: str
    robot_type: str
    name: str
    model: str
    description: str
    status: str


class TaskInfo(msgspec.Struct, frozen=True):
    task_index: int
    task_description: str


class EpisodeFiles(msgspec.Struct, frozen=True):
    video: list[str]
    images: list[str]
    parquet: list[str]


class EpisodeInfo(msgspec.Struct, frozen=True):
    episode_index: int
    task_index: int | None
    length: int
    data_chunk_index: int | None
    data_file_index: int | None
    capture_time: str | None
    data_files: EpisodeFiles


class Preview(msgspec.Struct, frozen=True):
    """A dataset as the original's parse-lerobot shows it (snake_case, as it writes it)."""

    dataset_name: str
    dataset_info: DatasetInfo
    robot_info: RobotInfo
    tasks: list[TaskInfo]
    episodes: list[EpisodeInfo]


_CHUNK = re.compile(r"chunk-(\d+)")
_FILE = re.compile(r"(?:file|episode)[-_](\d+)\.parquet$")


def _number_in(pattern: re.Pattern[str], text: str) -> int | None:
    found = pattern.search(text)
    return int(found.group(1)) if found else None


def _folder_size(root: Path) -> int:
    total = 0
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def preview(dataset: Dataset, name: str) -> Preview:
    """What a client sees before registering a dataset: totals, robot, tasks, episodes."""
    robot, _ = mapping(dataset, name)
    try:
        captured: str | None = parse_name(name, dataset.info.robot_type).date.isoformat()
    except InvalidNameError:
        captured = None
    task_numbers = {t.task: t.index for t in dataset.tasks}
    images = [k for k, f in dataset.info.features.items() if f.dtype == "image"]
    return Preview(
        dataset_name=name,
        dataset_info=DatasetInfo(
            codebase_version=dataset.version,
            robot_type=dataset.info.robot_type,
            fps=dataset.info.fps,
            total_episodes=len(dataset.episodes),
            total_frames=sum(e.length for e in dataset.episodes),
            total_tasks=len(dataset.tasks),
            total_size_bytes=_folder_size(Path(dataset.root)),
        ),
        robot_info=RobotInfo(
            robot_id=robot,
            robot_type=dataset.info.robot_type or robot,
            name=robot,
            model=dataset.info.robot_type or robot,
            description="",
            status="active",
        ),
        tasks=[TaskInfo(task_index=t.index, task_description=t.task) for t in dataset.tasks],
        episodes=[
            EpisodeInfo(
                episode_index=e.index,
                task_index=task_numbers.get(e.tasks[0]) if e.tasks else None,
                length=e.length,
                data_chunk_index=_number_in(_CHUNK, e.data_path),
                data_file_index=_number_in(_FILE, e.data_path),
                capture_time=captured,
                data_files=EpisodeFiles(
                    video=sorted({v.path for v in e.videos.values()}),
                    images=images,
                    parquet=[e.data_path] if e.data_path else [],
                ),
            )
            for e in dataset.episodes
        ],
    )
