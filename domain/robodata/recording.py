"""Rerun `.rrd` recordings of one episode: video assets with frame references plus scalars."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import numpy as np
import numpy.typing as npt

from domain.robodata.error import MediaError
from domain.robodata.model import Dataset
from domain.robodata.parser import feature_names
from domain.robodata.timeseries import episode_arrays
from domain.robodata.video import NotKeyframeAlignedError, copy_segment, locate

if TYPE_CHECKING:
    from rerun import RecordingStream

Progress = Callable[[float, str], None]
TIMELINE = "frame_index"


class RecordingResult(msgspec.Struct, frozen=True):
    """What an `.rrd` export wrote."""

    path: str
    file_size: int
    duration: float
    frames: int
    cameras: list[str]


def write_recording(
    dataset: Dataset,
    episode_index: int,
    target: str | Path,
    *,
    progress: Progress | None = None,
) -> RecordingResult:
    """Write one episode as an `.rrd`: each camera a video asset, action/state as scalars."""
    import rerun as rr

    episode = dataset.episode(episode_index)
    arrays = episode_arrays(dataset, episode_index)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    recording = rr.RecordingStream(
        "switchyard_robodata",
        recording_id=f"{Path(dataset.root).name}/episode_{episode_index:06d}",
        send_properties=False,
    )
    try:
        try:
            recording.save(partial)
            frames = arrays.frames
            times = [
                rr.TimeColumn(TIMELINE, sequence=frames),
                rr.TimeColumn("time", duration=arrays.timestamps),
            ]
            steps = len(dataset.cameras) + 2
            for number, camera in enumerate(dataset.cameras, start=1):
                _log_camera(recording, dataset, episode_index, camera.key, frames)
                if progress:
                    progress(100.0 * number / steps, f"logged camera {camera.key}")
            for key, values in (
                (dataset.action_key, arrays.action),
                (dataset.state_key, arrays.state),
            ):
                if key is None or values is None:
                    continue
                names = feature_names(dataset.info.features[key])
                if len(names) != values.shape[1]:
                    names = [f"{key}[{i}]" for i in range(values.shape[1])]
                label = "action" if key == dataset.action_key else "state"
                for column, name in enumerate(names):
                    recording.send_columns(
                        f"{label}/{_entity(name)}",
                        indexes=times,
                        columns=rr.Scalars.columns(scalars=values[:, column]),
                    )
            recording.flush()
        finally:
            recording.disconnect()
        partial.replace(target)
    finally:
        # Nothing half-written is left under the target's name or beside it.
        partial.unlink(missing_ok=True)
    if progress:
        progress(100.0, f"wrote {target.name}")
    return RecordingResult(
        path=str(target),
        file_size=target.stat().st_size,
        duration=episode.length / dataset.info.fps,
        frames=len(frames),
        cameras=[c.key for c in dataset.cameras],
    )


def _log_camera(
    recording: RecordingStream,
    dataset: Dataset,
    episode_index: int,
    key: str,
    frames: npt.NDArray[np.int64],
) -> None:
    import rerun

    path, video = locate(dataset, episode_index, key)
    entity = f"cameras/{_entity(key)}"
    buffer = io.BytesIO()
    try:
        # The episode's own packets make a small self-contained asset; frames are not decoded.
        copy_segment(path, video.from_timestamp, video.to_timestamp, buffer)
        asset = rerun.AssetVideo(contents=buffer.getvalue(), media_type="video/mp4")
        stamps = asset.read_frame_timestamps_nanos()
    except NotKeyframeAlignedError:
        # An episode that does not start on a keyframe cannot be cut without re-encoding, so
        # the whole shared file goes in and the references point into the episode's window.
        asset = rerun.AssetVideo(path=path)
        everything = asset.read_frame_timestamps_nanos()
        start, end = int(video.from_timestamp * 1e9), int(video.to_timestamp * 1e9)
        half = int(0.5e9 / dataset.info.fps)
        stamps = everything[(everything >= start - half) & (everything < end - half)]
    if len(stamps) == 0:
        raise MediaError(f"camera {key} has no frames for episode {episode_index}")
    recording.log(entity, asset, static=True)
    # Data rows and video frames pair up in order; a short video holds on its last frame.
    picks = np.minimum(np.arange(len(frames)), len(stamps) - 1)
    recording.send_columns(
        entity,
        indexes=[rerun.TimeColumn(TIMELINE, sequence=frames)],
        columns=rerun.VideoFrameReference.columns_nanos(np.asarray(stamps)[picks]),
    )


def _entity(name: str) -> str:
    return name.replace("/", "_").replace(" ", "_")
