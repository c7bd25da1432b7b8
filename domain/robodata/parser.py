"""Parse a LeRobot dataset folder (codebase v2.0, v2.1, v3.0) into one `Dataset` model."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

from domain.robodata.error import MediaError, NotADatasetError, UnsafePathError
from domain.robodata.model import (
    Camera,
    Dataset,
    Episode,
    EpisodeVideo,
    Feature,
    Info,
    Task,
    VideoProbe,
)
from domain.robodata.path import inside

Progress = Callable[[float, str], None]

V2_DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
V2_VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
V3_DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
V3_VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
ACTION_KEYS = ("action", "actions")
STATE_KEYS = ("observation.state", "observation.states", "state", "states")


def is_dataset_dir(path: Path) -> bool:
    """Tell whether a folder looks like a LeRobot dataset root (has `meta/info.json`)."""
    return (path / "meta" / "info.json").is_file()


def read_info_json(root: Path) -> dict[str, Any]:
    """Load `meta/info.json` as a dict, or raise `NotADatasetError` saying why not."""
    if not root.is_dir():
        raise NotADatasetError(f"{root} is not a folder")
    info_file = root / "meta" / "info.json"
    if not info_file.is_file():
        raise NotADatasetError(f"{root} is not a LeRobot dataset: meta/info.json not found")
    try:
        raw = json.loads(info_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotADatasetError(f"{info_file} is not readable JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise NotADatasetError(f"{info_file} must hold a JSON object")
    return raw


def parse_dataset(
    root: str | Path, *, probe_videos: bool = True, progress: Progress | None = None
) -> Dataset:
    """Parse the dataset at `root`; inconsistencies become warnings, a non-dataset raises."""
    base = Path(root).resolve()
    raw = read_info_json(base)
    warnings: list[str] = []
    version = _version(base, raw, warnings)
    info = _info(raw, version, warnings)
    cameras_keys = [f.key for f in info.features.values() if f.dtype == "video"]
    if version == "v3.0":
        tasks = _v3_tasks(base, warnings)
        episodes = _v3_episodes(base, info, cameras_keys, warnings)
    else:
        tasks = _v2_tasks(base, warnings)
        episodes = _v2_episodes(base, info, cameras_keys, warnings)
    episodes = _relocate_videos(base, episodes, warnings)
    if progress:
        progress(50.0, f"read {len(episodes)} episodes")
    _check_totals(info, episodes, version, warnings)
    _check_files(base, episodes, warnings)
    cameras = _cameras(base, raw, info, cameras_keys, episodes, probe_videos, warnings)
    if progress:
        progress(100.0, f"parsed {len(episodes)} episodes, {len(cameras)} cameras")
    return Dataset(
        root=str(base),
        version=version,
        info=info,
        tasks=tasks,
        episodes=episodes,
        cameras=cameras,
        action_key=_find_key(info.features, ACTION_KEYS, "action"),
        state_key=_find_key(info.features, STATE_KEYS, "state"),
        stats=_stats(base, warnings),
        warnings=warnings,
    )


def flatten_names(names: Any) -> list[str] | None:
    """Flatten `names` given as a flat list, nested list, dict of lists, or null."""
    if names is None:
        return None
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list | tuple):
            for value in node:
                walk(value)
        elif node is not None:
            out.append(str(node))

    walk(names)
    return out


def feature_names(feature: Feature) -> list[str]:
    """Per-dimension names of a vector feature, inventing `key[i]` where none fit the shape."""
    size = math.prod(feature.shape) if feature.shape else 1
    if feature.names is not None and len(feature.names) == size:
        return list(feature.names)
    return [f"{feature.key}[{i}]" for i in range(size)]


def _version(root: Path, raw: dict[str, Any], warnings: list[str]) -> str:
    declared = raw.get("codebase_version")
    if isinstance(declared, str):
        text = declared.strip().lower().lstrip("v")
        if text.startswith("3."):
            return "v3.0"
        if text.startswith("2.1"):
            return "v2.1"
        if text.startswith("2."):
            return "v2.0"
        raise NotADatasetError(f"{root}: unsupported LeRobot codebase_version {declared!r}")
    if (root / "meta" / "episodes").is_dir():
        guess = "v3.0"
    elif (root / "meta" / "episodes_stats.jsonl").is_file():
        guess = "v2.1"
    else:
        guess = "v2.0"
    warnings.append(f"info.json has no codebase_version; layout looks like {guess}")
    return guess


def _int(raw: dict[str, Any], key: str, default: int, warnings: list[str]) -> int:
    value = raw.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value is not None:
        warnings.append(f"info.json {key}={value!r} is not an integer")
    return default


def _info(raw: dict[str, Any], version: str, warnings: list[str]) -> Info:
    fps_raw = raw.get("fps")
    if isinstance(fps_raw, int | float) and not isinstance(fps_raw, bool) and fps_raw > 0:
        fps = float(fps_raw)
    else:
        warnings.append(f"info.json fps={fps_raw!r} is missing or invalid; assuming 30")
        fps = 30.0
    features: dict[str, Feature] = {}
    raw_features = raw.get("features")
    if not isinstance(raw_features, dict):
        warnings.append("info.json has no features")
        raw_features = {}
    for key, spec in raw_features.items():
        if not isinstance(spec, dict):
            warnings.append(f"feature {key!r} is not an object")
            continue
        shape = spec.get("shape")
        shape = shape if isinstance(shape, list) else []
        features[key] = Feature(
            key=key,
            dtype=str(spec.get("dtype", "unknown")),
            shape=[int(x) for x in shape if isinstance(x, int)],
            names=flatten_names(spec.get("names")),
        )
        if features[key].dtype not in ("video", "image", "string") and features[key].names:
            size = math.prod(features[key].shape) if features[key].shape else 1
            if len(features[key].names or []) != size:
                warnings.append(
                    f"feature {key!r} has {len(features[key].names or [])} names "
                    f"for shape {features[key].shape}"
                )
    data_path = raw.get("data_path")
    if not isinstance(data_path, str):
        data_path = V3_DATA_PATH if version == "v3.0" else V2_DATA_PATH
        warnings.append(f"info.json has no data_path; assuming {data_path}")
    video_path = raw.get("video_path")
    has_video = any(f.dtype == "video" for f in features.values())
    if not isinstance(video_path, str):
        video_path = None
        if has_video:
            video_path = V3_VIDEO_PATH if version == "v3.0" else V2_VIDEO_PATH
            warnings.append(f"info.json has no video_path; assuming {video_path}")
    robot_type = raw.get("robot_type")
    return Info(
        codebase_version=str(raw.get("codebase_version", version)),
        fps=fps,
        robot_type=robot_type if isinstance(robot_type, str) and robot_type else None,
        features=features,
        total_episodes=_int(raw, "total_episodes", -1, warnings),
        total_frames=_int(raw, "total_frames", -1, warnings),
        total_tasks=_int(raw, "total_tasks", -1, warnings),
        chunks_size=max(1, _int(raw, "chunks_size", 1000, warnings)),
        data_path=data_path,
        video_path=video_path,
    )


def _read_jsonl(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        warnings.append(f"{path.name} is not readable: {exc}")
        return rows
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            warnings.append(f"{path.name} line {number} is not valid JSON; skipped")
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _format(template: str, warnings: list[str], **values: Any) -> str | None:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        warnings.append(f"path template {template!r} cannot be filled: {exc}")
        return None


def _v2_tasks(root: Path, warnings: list[str]) -> list[Task]:
    path = root / "meta" / "tasks.jsonl"
    if not path.is_file():
        warnings.append("meta/tasks.jsonl is missing")
        return []
    tasks = []
    for row in _read_jsonl(path, warnings):
        if not isinstance(row.get("task_index"), int) or "task" not in row:
            warnings.append(f"tasks.jsonl row {row!r} lacks task_index/task; skipped")
            continue
        tasks.append(Task(index=row["task_index"], task=str(row["task"])))
    return sorted(tasks, key=lambda t: t.index)


def _v2_episodes(root: Path, info: Info, cameras: list[str], warnings: list[str]) -> list[Episode]:
    path = root / "meta" / "episodes.jsonl"
    if not path.is_file():
        warnings.append("meta/episodes.jsonl is missing: no episodes listed")
        return []
    rows = []
    for row in _read_jsonl(path, warnings):
        index, length = row.get("episode_index"), row.get("length")
        if not isinstance(index, int) or not isinstance(length, int):
            warnings.append(f"episodes.jsonl row {row!r} lacks episode_index/length; skipped")
            continue
        rows.append(row)
    rows.sort(key=lambda r: int(r["episode_index"]))
    episodes: list[Episode] = []
    offset = 0
    for row in rows:
        index, length = int(row["episode_index"]), int(row["length"])
        chunk = index // info.chunks_size
        data_path = _format(info.data_path, warnings, episode_chunk=chunk, episode_index=index)
        videos: dict[str, EpisodeVideo] = {}
        for key in cameras:
            if info.video_path is None:
                break
            video = _format(
                info.video_path, warnings, episode_chunk=chunk, episode_index=index, video_key=key
            )
            if video is not None:
                videos[key] = EpisodeVideo(
                    path=video, from_timestamp=0.0, to_timestamp=length / info.fps
                )
        tasks = row.get("tasks") or []
        episodes.append(
            Episode(
                index=index,
                length=length,
                tasks=[str(t) for t in tasks] if isinstance(tasks, list) else [str(tasks)],
                data_path=data_path or "",
                from_index=offset,
                to_index=offset + length,
                videos=videos,
            )
        )
        offset += length
    return episodes


def _v3_tasks(root: Path, warnings: list[str]) -> list[Task]:
    import pyarrow.parquet as pq

    path = root / "meta" / "tasks.parquet"
    if not path.is_file():
        if (root / "meta" / "tasks.jsonl").is_file():
            return _v2_tasks(root, warnings)
        warnings.append("meta/tasks.parquet is missing")
        return []
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        warnings.append(f"meta/tasks.parquet is not readable: {exc}")
        return []
    names = table.column_names
    # pandas writes the task text as the frame's index, so it may sit in an index column.
    text_col = next(
        (c for c in ("task", "__index_level_0__") if c in names),
        next((c for c in names if c != "task_index"), None),
    )
    if "task_index" not in names or text_col is None:
        warnings.append("meta/tasks.parquet lacks task_index/task columns")
        return []
    return sorted(
        (
            Task(index=int(i), task=str(t))
            for i, t in zip(
                table.column("task_index").to_pylist(),
                table.column(text_col).to_pylist(),
                strict=True,
            )
        ),
        key=lambda t: t.index,
    )


def episode_metadata_files(root: Path) -> list[Path]:
    """The v3 episode metadata parquet files, in chunk/file order."""
    return sorted((root / "meta" / "episodes").glob("**/*.parquet"))


def _v3_episodes(root: Path, info: Info, cameras: list[str], warnings: list[str]) -> list[Episode]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = episode_metadata_files(root)
    if not files:
        warnings.append("meta/episodes/ holds no parquet files: no episodes listed")
        return []
    tables = []
    for file in files:
        try:
            schema = pq.read_schema(file)
            # Per-episode stats are wide and unused here; skipping them keeps parsing fast.
            columns = [n for n in schema.names if not n.startswith("stats/")]
            tables.append(pq.read_table(file, columns=columns))
        except (OSError, ValueError, pa.ArrowException) as exc:
            warnings.append(f"{file.relative_to(root)} is not readable: {exc}")
    if not tables:
        return []
    rows = pa.concat_tables(tables, promote_options="default").to_pylist()
    episodes: list[Episode] = []
    for row in sorted(rows, key=_episode_key):
        index, length = row.get("episode_index"), row.get("length")
        if not isinstance(index, int) or not isinstance(length, int):
            warnings.append("an episodes metadata row lacks episode_index/length; skipped")
            continue
        data_path = _format(
            info.data_path,
            warnings,
            chunk_index=row.get("data/chunk_index", 0),
            file_index=row.get("data/file_index", 0),
        )
        videos: dict[str, EpisodeVideo] = {}
        for key in cameras:
            chunk, file = row.get(f"videos/{key}/chunk_index"), row.get(f"videos/{key}/file_index")
            if info.video_path is None or chunk is None or file is None:
                warnings.append(f"episode {index}: no video location for camera {key}")
                continue
            video = _format(
                info.video_path, warnings, video_key=key, chunk_index=chunk, file_index=file
            )
            start = row.get(f"videos/{key}/from_timestamp")
            end = row.get(f"videos/{key}/to_timestamp")
            if video is None:
                continue
            videos[key] = EpisodeVideo(
                path=video,
                from_timestamp=_number(start, 0.0),
                to_timestamp=_number(end, _number(start, 0.0) + length / info.fps),
            )
        tasks = row.get("tasks") or []
        start_row = row.get("dataset_from_index")
        end_row = row.get("dataset_to_index")
        episodes.append(
            Episode(
                index=index,
                length=length,
                tasks=[str(t) for t in tasks] if isinstance(tasks, list) else [str(tasks)],
                data_path=data_path or "",
                from_index=int(_number(start_row, -1)),
                to_index=int(_number(end_row, -1)),
                videos=videos,
            )
        )
    return episodes


# Published datasets keep their videos under either folder whatever `video_path` says.
VIDEO_FOLDERS = ("videos", "video")


def _relocate_videos(root: Path, episodes: list[Episode], warnings: list[str]) -> list[Episode]:
    """Point video paths at the other conventional folder when the template's has no files.

    A real v3.0 dataset ships `video/...` while its info.json template says `videos/...`;
    read literally, every episode's video would be missing. The first listed video decides:
    if it is absent and the same path under the other folder exists, every path under the
    template's folder moves there, with one warning.
    """
    first = next((v.path for e in episodes for v in e.videos.values()), None)
    if first is None or _exists(root, first):
        return episodes
    head, sep, rest = first.partition("/")
    if head not in VIDEO_FOLDERS or not sep:
        return episodes
    other = next(f for f in VIDEO_FOLDERS if f != head)
    if not _exists(root, f"{other}/{rest}"):
        return episodes
    warnings.append(
        f"info.json video_path points under {head}/ but the videos are under {other}/; "
        f"using {other}/"
    )

    def moved(path: str) -> str:
        return f"{other}/{path[len(head) + 1 :]}" if path.startswith(head + "/") else path

    return [
        msgspec.structs.replace(
            e,
            videos={k: msgspec.structs.replace(v, path=moved(v.path)) for k, v in e.videos.items()},
        )
        for e in episodes
    ]


def _episode_key(row: dict[str, Any]) -> int:
    value = row.get("episode_index")
    return value if isinstance(value, int) else -1


def _number(value: Any, default: float) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


def _check_totals(info: Info, episodes: list[Episode], version: str, warnings: list[str]) -> None:
    if info.total_episodes >= 0 and info.total_episodes != len(episodes):
        warnings.append(
            f"info.json total_episodes={info.total_episodes} but {len(episodes)} episodes listed"
        )
    frames = sum(e.length for e in episodes)
    if info.total_frames >= 0 and info.total_frames != frames:
        warnings.append(f"info.json total_frames={info.total_frames} but episodes sum to {frames}")
    seen: set[int] = set()
    for episode in episodes:
        if episode.index in seen:
            warnings.append(f"episode {episode.index} is listed more than once")
        seen.add(episode.index)
        if episode.to_index - episode.from_index != episode.length:
            warnings.append(
                f"episode {episode.index}: row range {episode.from_index}:{episode.to_index} "
                f"does not match length {episode.length}"
            )
    if version == "v3.0" and seen and seen != set(range(len(episodes))):
        warnings.append("episode indices are not contiguous from 0")


def _exists(root: Path, relative: str) -> bool:
    try:
        return inside(root, relative).is_file()
    except UnsafePathError:
        return False


def _check_files(root: Path, episodes: list[Episode], warnings: list[str]) -> None:
    present: dict[str, bool] = {}
    for episode in episodes:
        paths = [episode.data_path, *(v.path for v in episode.videos.values())]
        for relative in paths:
            if relative not in present:
                present[relative] = _exists(root, relative)
            if not present[relative]:
                warnings.append(f"episode {episode.index}: file {relative or '?'} is missing")


def _declared_size(feature: Feature) -> tuple[int | None, int | None]:
    shape, names = feature.shape, feature.names or []
    if len(shape) != 3:
        return None, None
    if len(names) == 3 and "height" in names and "width" in names:
        return shape[names.index("width")], shape[names.index("height")]
    if shape[0] in (1, 3, 4) and shape[2] not in (1, 3, 4):
        return shape[2], shape[1]
    return shape[1], shape[0]


def _declared_codec(raw: dict[str, Any], key: str) -> str | None:
    # `info.json` keeps codec details in a free-form `info` (v2.x/v3) or `video_info` block.
    features = raw.get("features")
    spec = features.get(key) if isinstance(features, dict) else None
    if not isinstance(spec, dict):
        return None
    for block in ("info", "video_info"):
        details = spec.get(block)
        if isinstance(details, dict) and isinstance(details.get("video.codec"), str):
            return str(details["video.codec"])
    return None


def _cameras(
    root: Path,
    raw: dict[str, Any],
    info: Info,
    keys: list[str],
    episodes: list[Episode],
    probe_videos: bool,
    warnings: list[str],
) -> list[Camera]:
    from domain.robodata.video import probe

    cameras: list[Camera] = []
    for key in keys:
        width, height = _declared_size(info.features[key])
        codec = _declared_codec(raw, key)
        probed: VideoProbe | None = None
        if probe_videos:
            probed = _probe_first(root, key, episodes, probe, warnings)
        if probed is not None:
            if codec is not None and codec_family(codec) != codec_family(probed.codec):
                warnings.append(
                    f"camera {key}: info.json says codec {codec} but the file holds {probed.codec}"
                )
            if width is not None and (width, height) != (probed.width, probed.height):
                warnings.append(
                    f"camera {key}: info.json says {width}x{height} "
                    f"but the file is {probed.width}x{probed.height}"
                )
        cameras.append(
            Camera(
                key=key,
                declared_codec=codec,
                declared_width=width,
                declared_height=height,
                probe=probed,
            )
        )
    return cameras


def _probe_first(
    root: Path,
    key: str,
    episodes: Iterable[Episode],
    probe: Callable[[Path], VideoProbe],
    warnings: list[str],
) -> VideoProbe | None:
    for episode in episodes:
        video = episode.videos.get(key)
        if video is None or not _exists(root, video.path):
            continue
        try:
            probed = probe(inside(root, video.path))
        except MediaError as exc:
            warnings.append(f"camera {key}: {video.path} cannot be probed: {exc}")
            return None
        if probed.duration is not None and video.to_timestamp > probed.duration + 0.5:
            warnings.append(
                f"episode {episode.index}: camera {key} ends at {video.to_timestamp:.3f}s "
                f"but {video.path} lasts {probed.duration:.3f}s"
            )
        return probed
    warnings.append(f"camera {key}: no video file found to probe")
    return None


def codec_family(name: str) -> str:
    """One name per codec whatever the encoder, decoder or tag (`libdav1d` and `av01` -> `av1`)."""
    name = name.lower()
    for family, aliases in {
        "av1": ("av1", "libdav1d", "libaom-av1", "libsvtav1", "librav1e", "av01"),
        "h264": ("h264", "libx264", "avc1", "avc"),
        "hevc": ("hevc", "h265", "libx265", "hvc1"),
        "vp9": ("vp9", "libvpx-vp9"),
    }.items():
        if name in aliases:
            return family
    return name


def _find_key(features: dict[str, Feature], preferred: tuple[str, ...], stem: str) -> str | None:
    for key in preferred:
        if key in features:
            return key
    plural = stem + "s"
    for key in features:
        last = key.rsplit(".", 1)[-1].lower()
        if last in (stem, plural) and features[key].dtype not in ("video", "image"):
            return key
    return None


def _stats(root: Path, warnings: list[str]) -> dict[str, Any]:
    path = root / "meta" / "stats.json"
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        warnings.append(f"meta/stats.json is not readable: {exc}")
        return {}
    return raw if isinstance(raw, dict) else {}
