"""Structs describing a parsed LeRobot dataset; they leave the engine as they are."""

from __future__ import annotations

from typing import Any

import msgspec

from domain.robodata.error import CameraNotFoundError, EpisodeNotFoundError


class Feature(msgspec.Struct, frozen=True):
    """One column of the dataset as `info.json` declares it, with names flattened."""

    key: str
    dtype: str
    shape: list[int]
    names: list[str] | None = None


class VideoProbe(msgspec.Struct, frozen=True):
    """What a video file really holds, read from the file rather than `info.json`."""

    codec: str
    width: int
    height: int
    pix_fmt: str | None
    fps: float | None
    duration: float | None
    frames: int | None


class Camera(msgspec.Struct, frozen=True):
    """A video feature with the codec and size probed from its first file."""

    key: str
    declared_codec: str | None
    declared_width: int | None
    declared_height: int | None
    probe: VideoProbe | None = None


class EpisodeVideo(msgspec.Struct, frozen=True):
    """Where one camera's footage of an episode lives, relative to the dataset root."""

    path: str
    from_timestamp: float
    to_timestamp: float


class Episode(msgspec.Struct, frozen=True):
    """One episode: its rows in a data file and its segment in each camera's video."""

    index: int
    length: int
    tasks: list[str]
    data_path: str
    from_index: int
    to_index: int
    videos: dict[str, EpisodeVideo]


class Task(msgspec.Struct, frozen=True):
    """A task text and its index."""

    index: int
    task: str


class Info(msgspec.Struct, frozen=True):
    """The parts of `meta/info.json` the engine relies on."""

    codebase_version: str
    fps: float
    robot_type: str | None
    features: dict[str, Feature]
    total_episodes: int
    total_frames: int
    total_tasks: int
    chunks_size: int
    data_path: str
    video_path: str | None


class Dataset(msgspec.Struct, frozen=True):
    """A parsed dataset; `warnings` lists what is missing or inconsistent on disk."""

    root: str
    version: str
    info: Info
    tasks: list[Task]
    episodes: list[Episode]
    cameras: list[Camera]
    action_key: str | None
    state_key: str | None
    stats: dict[str, Any]
    warnings: list[str]

    def episode(self, index: int) -> Episode:
        """Return the episode with this `episode_index`."""
        for episode in self.episodes:
            if episode.index == index:
                return episode
        raise EpisodeNotFoundError(f"dataset {self.root} has no episode {index}")

    def camera(self, key: str | None) -> Camera:
        """Return the camera with this key, or the first camera when `key` is None."""
        if not self.cameras:
            raise CameraNotFoundError(f"dataset {self.root} has no cameras")
        if key is None:
            return self.cameras[0]
        for camera in self.cameras:
            if camera.key == key:
                return camera
        known = ", ".join(c.key for c in self.cameras)
        raise CameraNotFoundError(f"dataset {self.root} has no camera {key!r} (has: {known})")


class Timeseries(msgspec.Struct, frozen=True):
    """Action and state of one episode over time, possibly downsampled."""

    episode_index: int
    timestamps: list[float]
    action: list[list[float]] | None
    state: list[list[float]] | None
    action_names: list[str] | None
    state_names: list[str] | None
    total_points: int
    downsampled: bool
