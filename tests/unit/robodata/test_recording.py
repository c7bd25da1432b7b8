import io
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pytest
from rerun.chunk import RrdReader

from domain.robodata.error import MediaError
from domain.robodata.parser import parse_dataset
from domain.robodata.recording import write_recording
from tests.robodata_factory import FRONT, WRIST, episode_colour


def _chunks(path: Path) -> dict[str, list[pa.RecordBatch]]:
    out: dict[str, list[pa.RecordBatch]] = {}
    for chunk in RrdReader(path).stream():
        out.setdefault(chunk.entity_path, []).append(chunk.to_record_batch())
    return out


def _column(batches: list[pa.RecordBatch], name: str) -> list:
    return [v for b in batches if name in b.schema.names for v in b.column(name).to_pylist()]


def _video_frames(blob: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(blob)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_rrd_holds_cameras_as_video_assets_and_action_state_as_scalars(
    v3_root: Path, tmp_path: Path
) -> None:
    dataset = parse_dataset(v3_root)
    reports: list[float] = []

    result = write_recording(
        dataset, 2, tmp_path / "ep.rrd", progress=lambda p, _: reports.append(p)
    )

    assert result.frames == 15 and result.file_size == (tmp_path / "ep.rrd").stat().st_size
    assert result.duration == pytest.approx(0.5) and reports[-1] == 100.0
    chunks = _chunks(tmp_path / "ep.rrd")
    for camera in (FRONT, WRIST):
        batches = chunks[f"/cameras/{camera}"]
        blobs = _column(batches, "AssetVideo:blob")
        assert len(blobs) == 1
        # The asset is the episode's own packets: 15 frames, all in the episode's colour.
        frames = _video_frames(bytes(blobs[0][0]))
        assert len(frames) == 15
        assert np.allclose(frames[0][-4:, -4:].reshape(-1, 3).mean(0), episode_colour(2), atol=12)
        assert _column(batches, "frame_index") == list(range(15))
        stamps = [v[0] for v in _column(batches, "VideoFrameReference:timestamp")]
        assert stamps == sorted(stamps) and stamps[0] == 0
    spike = _column(chunks["/action/shoulder_pan"], "Scalars:scalars")
    assert len(spike) == 15 and max(v[0] for v in spike) == pytest.approx(102.0)
    state = _column(chunks["/state/gripper"], "Scalars:scalars")
    assert state[0][0] == pytest.approx(2 + 5)


def test_unaligned_episode_references_frames_inside_the_shared_file(
    unaligned_root: Path, tmp_path: Path
) -> None:
    dataset = parse_dataset(unaligned_root)

    write_recording(dataset, 1, tmp_path / "ep.rrd")

    batches = _chunks(tmp_path / "ep.rrd")[f"/cameras/{FRONT}"]
    stamps = [v[0] for v in _column(batches, "VideoFrameReference:timestamp")]
    # Episode 1 starts 12 frames into the file, at 0.4 s.
    assert len(stamps) == 9
    assert stamps[0] == pytest.approx(0.4e9, abs=1e6)
    assert len(_video_frames(bytes(_column(batches, "AssetVideo:blob")[0][0]))) == 36


def test_a_missing_camera_file_fails_without_leaving_a_recording(
    v21_root: Path, copy_of: Callable[[Path], Path], tmp_path: Path
) -> None:
    root = copy_of(v21_root)
    dataset = parse_dataset(root)
    (root / f"videos/chunk-000/{WRIST}/episode_000001.mp4").unlink()

    with pytest.raises(MediaError, match="missing"):
        write_recording(dataset, 1, tmp_path / "rrd" / "ep.rrd")

    assert list((tmp_path / "rrd").iterdir()) == []
