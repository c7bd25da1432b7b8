"""`switchyard robodata show PATH`: print a parsed dataset as JSON."""

from __future__ import annotations

import sys

import msgspec

from domain.robodata.error import RobodataError
from domain.robodata.parser import parse_dataset


class CameraSummary(msgspec.Struct, frozen=True):
    """A camera as probed from its files."""

    key: str
    codec: str | None
    width: int | None
    height: int | None
    pix_fmt: str | None
    fps: float | None
    declared_codec: str | None


class EpisodeSummary(msgspec.Struct, frozen=True):
    """An episode's index, length and tasks."""

    index: int
    length: int
    tasks: list[str]


class DatasetSummary(msgspec.Struct, frozen=True):
    """What `show` prints."""

    path: str
    version: str
    robot_type: str | None
    fps: float
    total_episodes: int
    total_frames: int
    action: str | None
    state: str | None
    cameras: list[CameraSummary]
    episodes: list[EpisodeSummary]
    tasks: list[str]
    warnings: list[str]


def summary(path: str) -> DatasetSummary:
    """Parse the dataset at `path` into the summary `show` prints."""
    dataset = parse_dataset(path)
    return DatasetSummary(
        path=dataset.root,
        version=dataset.version,
        robot_type=dataset.info.robot_type,
        fps=dataset.info.fps,
        total_episodes=len(dataset.episodes),
        total_frames=sum(e.length for e in dataset.episodes),
        action=dataset.action_key,
        state=dataset.state_key,
        cameras=[
            CameraSummary(
                key=c.key,
                codec=c.probe.codec if c.probe else None,
                width=c.probe.width if c.probe else None,
                height=c.probe.height if c.probe else None,
                pix_fmt=c.probe.pix_fmt if c.probe else None,
                fps=c.probe.fps if c.probe else None,
                declared_codec=c.declared_codec,
            )
            for c in dataset.cameras
        ],
        episodes=[EpisodeSummary(e.index, e.length, e.tasks) for e in dataset.episodes],
        tasks=[t.task for t in dataset.tasks],
        warnings=dataset.warnings,
    )


def show(path: str) -> int:
    """Print the dataset at `path` as JSON; 0 when readable (even with warnings), 1 if not."""
    try:
        result = summary(path)
    except RobodataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(result).decode(), indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for `python -m domain.robodata.cli show PATH`."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "show":
        print("usage: python -m domain.robodata.cli show PATH", file=sys.stderr)
        return 2
    return show(args[1])


if __name__ == "__main__":
    sys.exit(main())
