"""Writes small synthetic LeRobot datasets (v2.1 and v3.0 layouts) with real PyAV video."""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# SVT-AV1 prints a banner per encoder unless told to log errors only.
os.environ.setdefault("SVT_LOG", "1")

FRONT = "observation.images.front"
WRIST = "observation.images.wrist"
ACTION_NAMES = ["shoulder_pan", "shoulder_lift", "elbow", "wrist_flex", "wrist_roll", "gripper"]
TASKS = ["clean the desk", "stack the cups"]


@dataclass(frozen=True)
class DatasetSpec:
    """What to write; defaults give four episodes, two cameras (H.264 and AV1), odd names."""

    version: str = "v3.0"
    robot_type: str = "so101_follower"
    fps: int = 30
    lengths: Sequence[int] = (12, 9, 15, 10)
    episodes_per_file: int = 3
    cameras: dict[str, str] = field(default_factory=lambda: {FRONT: "libx264", WRIST: "libsvtav1"})
    width: int = 64
    height: int = 48
    action_key: str = "actions"
    state_key: str = "observation.state"
    # LeRobot starts every episode on a keyframe; False encodes a v3 file as one stream.
    keyframe_aligned: bool = True
    # A moving texture instead of flat colour, so codecs do realistic work (benchmarks).
    textured: bool = False


def episode_colour(episode: int) -> tuple[int, int, int]:
    """The solid colour every frame of an episode is painted with, so tests can tell them apart."""
    return ((40 + 70 * episode) % 256, (200 - 50 * episode) % 256, (90 + 110 * episode) % 256)


def action_value(episode: int, frame: int, length: int) -> list[float]:
    """Action vector of one frame; the middle frame of each episode carries a spike."""
    values = [math.sin(0.2 * frame + d + episode) for d in range(len(ACTION_NAMES))]
    if frame == length // 2:
        values[0] = 100.0 + episode
    return values


def state_value(episode: int, frame: int) -> list[float]:
    """State vector of one frame."""
    return [episode + frame / 1000.0 + d for d in range(len(ACTION_NAMES))]


def encode_episode(
    codec: str, length: int, colour: tuple[int, int, int], spec: DatasetSpec
) -> bytes:
    """Encode one episode's frames into an in-memory MP4 with `codec` (libx264 or libsvtav1)."""
    return encode_segments(codec, [(length, colour)], spec)


def encode_segments(
    codec: str, segments: Sequence[tuple[int, tuple[int, int, int]]], spec: DatasetSpec
) -> bytes:
    """Encode consecutive solid-colour segments as one stream (keyframes only where x264 wants)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream(codec, rate=spec.fps)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        if codec == "libsvtav1":
            stream.options = {"preset": "12"}
        else:
            stream.options = {"preset": "ultrafast", "g": "250"}
        side = max(4, spec.height // 8)
        texture = _texture(spec) if spec.textured else None
        for length, colour in segments:
            base = np.empty((spec.height, spec.width, 3), np.uint8)
            base[:] = colour
            for i in range(length):
                if texture is not None:
                    pixels = np.roll(texture, (i * 2, i * 3), axis=(0, 1)) // 2 + base // 2
                else:
                    pixels = base.copy()
                x = (i * 3) % max(1, spec.width - side)
                pixels[:side, x : x + side] = 255
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def _texture(spec: DatasetSpec) -> np.ndarray:
    rng = np.random.default_rng(7)
    coarse = rng.integers(0, 256, (spec.height // 16 + 1, spec.width // 16 + 1, 3), np.uint8)
    smooth = np.kron(coarse, np.ones((16, 16, 1), np.uint8))[: spec.height, : spec.width]
    noise = rng.integers(0, 24, (spec.height, spec.width, 3), np.uint8)
    return np.asarray(smooth // 2 + noise, np.uint8)


def concat_videos(parts: Sequence[bytes], target: Path) -> list[tuple[float, float]]:
    """Stream-copy episode MP4s one after another into `target`, as LeRobot v3 does."""
    target.parent.mkdir(parents=True, exist_ok=True)
    ranges: list[tuple[float, float]] = []
    offset = 0.0
    with av.open(str(target), "w", format="mp4") as out:
        out_stream = None
        for part in parts:
            with av.open(io.BytesIO(part)) as inp:
                stream = inp.streams.video[0]
                if out_stream is None:
                    out_stream = out.add_stream_from_template(stream, opaque=True)
                tb = stream.time_base
                assert tb is not None
                shift = round(offset / tb)
                count = 0
                for packet in inp.demux(stream):
                    if packet.size == 0:
                        continue
                    packet.pts = (packet.pts or 0) + shift
                    packet.dts = (packet.dts or 0) + shift
                    packet.stream = out_stream
                    out.mux(packet)
                    count += 1
                rate = float(stream.average_rate or 30)
                ranges.append((offset, offset + count / rate))
                offset += count / rate
    return ranges


def _features(spec: DatasetSpec) -> dict[str, Any]:
    features: dict[str, Any] = {
        spec.action_key: {"dtype": "float32", "shape": [6], "names": ACTION_NAMES},
        spec.state_key: {"dtype": "float32", "shape": [6], "names": {"motors": ACTION_NAMES}},
        "observation.effort": {"dtype": "float32", "shape": [3], "names": [["x", "y", "z"]]},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None},
    }
    for key, codec in spec.cameras.items():
        features[key] = {
            "dtype": "video",
            "shape": [spec.height, spec.width, 3],
            "names": ["height", "width", "channels"],
            "info": {
                "video.fps": spec.fps,
                "video.height": spec.height,
                "video.width": spec.width,
                "video.codec": "av1" if codec == "libsvtav1" else "h264",
                "video.pix_fmt": "yuv420p",
            },
        }
    return features


def episode_table(spec: DatasetSpec, episode: int, start_index: int) -> pa.Table:
    """The data rows of one episode as LeRobot writes them."""
    length = spec.lengths[episode]
    vec = pa.list_(pa.float32(), 6)
    return pa.table(
        {
            spec.action_key: pa.array(
                [action_value(episode, i, length) for i in range(length)], type=vec
            ),
            spec.state_key: pa.array([state_value(episode, i) for i in range(length)], type=vec),
            "observation.effort": pa.array(
                [[0.0, 1.0, float(i)] for i in range(length)], type=pa.list_(pa.float32(), 3)
            ),
            "timestamp": pa.array([i / spec.fps for i in range(length)], type=pa.float32()),
            "frame_index": pa.array(range(length), type=pa.int64()),
            "episode_index": pa.array([episode] * length, type=pa.int64()),
            "index": pa.array(range(start_index, start_index + length), type=pa.int64()),
            "task_index": pa.array([episode % len(TASKS)] * length, type=pa.int64()),
        }
    )


def _info(spec: DatasetSpec, data_path: str, video_path: str) -> dict[str, Any]:
    return {
        "codebase_version": spec.version,
        "robot_type": spec.robot_type,
        "total_episodes": len(spec.lengths),
        "total_frames": sum(spec.lengths),
        "total_tasks": len(TASKS),
        "total_videos": len(spec.lengths) * len(spec.cameras),
        "chunks_size": 1000,
        "fps": spec.fps,
        "splits": {"train": f"0:{len(spec.lengths)}"},
        "data_path": data_path,
        "video_path": video_path if spec.cameras else None,
        "features": _features(spec),
    }


def write_dataset(root: Path, spec: DatasetSpec | None = None) -> Path:
    """Write a dataset described by `spec` at `root` and return `root`."""
    spec = spec or DatasetSpec()
    (root / "meta").mkdir(parents=True, exist_ok=True)
    if spec.version == "v3.0":
        _write_v3(root, spec)
    else:
        _write_v2(root, spec)
    return root


def _write_v2(root: Path, spec: DatasetSpec) -> None:
    data_path = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
    video_path = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
    start = 0
    episodes, stats = [], []
    for e, length in enumerate(spec.lengths):
        target = root / data_path.format(episode_chunk=0, episode_index=e)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(episode_table(spec, e, start), target)
        start += length
        for key, codec in spec.cameras.items():
            video = root / video_path.format(episode_chunk=0, episode_index=e, video_key=key)
            video.parent.mkdir(parents=True, exist_ok=True)
            video.write_bytes(encode_episode(codec, length, episode_colour(e), spec))
        episodes.append({"episode_index": e, "tasks": [TASKS[e % len(TASKS)]], "length": length})
        stats.append({"episode_index": e, "stats": {spec.action_key: {"max": [100.0 + e]}}})
    meta = root / "meta"
    (meta / "info.json").write_text(json.dumps(_info(spec, data_path, video_path), indent=2))
    (meta / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in episodes))
    (meta / "episodes_stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stats))
    (meta / "tasks.jsonl").write_text(
        "".join(json.dumps({"task_index": i, "task": t}) + "\n" for i, t in enumerate(TASKS))
    )


def _write_v3(root: Path, spec: DatasetSpec) -> None:
    data_path = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    video_path = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    count = len(spec.lengths)
    groups = [
        list(range(i, min(count, i + spec.episodes_per_file)))
        for i in range(0, count, spec.episodes_per_file)
    ]
    rows: list[dict[str, Any]] = [{} for _ in range(count)]
    start = 0
    for file_index, group in enumerate(groups):
        tables = []
        for e in group:
            tables.append(episode_table(spec, e, start))
            rows[e].update(
                {
                    "episode_index": e,
                    "tasks": [TASKS[e % len(TASKS)]],
                    "length": spec.lengths[e],
                    "data/chunk_index": 0,
                    "data/file_index": file_index,
                    "dataset_from_index": start,
                    "dataset_to_index": start + spec.lengths[e],
                    "meta/episodes/chunk_index": 0,
                    "meta/episodes/file_index": 0,
                    f"stats/{spec.action_key}/max": [100.0 + e] * 6,
                }
            )
            start += spec.lengths[e]
        target = root / data_path.format(chunk_index=0, file_index=file_index)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables(tables), target)
        for key, codec in spec.cameras.items():
            video = root / video_path.format(video_key=key, chunk_index=0, file_index=file_index)
            if spec.keyframe_aligned:
                parts = [
                    encode_episode(codec, spec.lengths[e], episode_colour(e), spec) for e in group
                ]
            else:
                segments = [(spec.lengths[e], episode_colour(e)) for e in group]
                parts = [encode_segments(codec, segments, spec)]
            ranges = concat_videos(parts, video)
            if not spec.keyframe_aligned:
                ranges, offset = [], 0.0
                for e in group:
                    ranges.append((offset, offset + spec.lengths[e] / spec.fps))
                    offset += spec.lengths[e] / spec.fps
            for e, (begin, end) in zip(group, ranges, strict=True):
                rows[e][f"videos/{key}/chunk_index"] = 0
                rows[e][f"videos/{key}/file_index"] = file_index
                rows[e][f"videos/{key}/from_timestamp"] = begin
                rows[e][f"videos/{key}/to_timestamp"] = end
    meta = root / "meta"
    (meta / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), meta / "episodes" / "chunk-000" / "file-000.parquet")
    pq.write_table(
        pa.table({"task_index": list(range(len(TASKS))), "task": TASKS}), meta / "tasks.parquet"
    )
    (meta / "info.json").write_text(json.dumps(_info(spec, data_path, video_path), indent=2))
    (meta / "stats.json").write_text(json.dumps({spec.action_key: {"max": [100.0] * 6}}))
