"""Find and parse every LeRobot dataset below a root, tolerating broken ones."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

from domain.robodata.error import NotADatasetError, RobodataError
from domain.robodata.model import Dataset
from domain.robodata.parser import is_dataset_dir, parse_dataset

Progress = Callable[[float, str], None]
# Staging folders of an in-flight edit (see editor.py) are never datasets of their own.
STAGING_MARK = ".sy-stage-"


class ScanRecord(msgspec.Struct, frozen=True):
    """One dataset found by a scan: parsed, or the reason it could not be."""

    path: str
    dataset: Dataset | None = None
    error: str | None = None


class ScanProblem(msgspec.Struct, frozen=True):
    """A folder the scan could not enter."""

    path: str
    error: str


def find_datasets(root: str | Path, problems: list[ScanProblem] | None = None) -> list[Path]:
    """Every dataset root below `root` (itself included), once each, symlink loops ignored."""
    start = Path(root)
    if not start.is_dir():
        raise NotADatasetError(f"{root} is not a folder")
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    stack = [start]
    while stack:
        folder = stack.pop()
        try:
            info = folder.stat()
        except OSError as exc:
            _note(problems, folder, exc)
            continue
        # Folders are identified by device and inode so a link back up the tree is seen once.
        key = (info.st_dev, info.st_ino)
        if key in seen:
            continue
        seen.add(key)
        if is_dataset_dir(folder):
            found.append(folder)
            continue
        try:
            with os.scandir(folder) as entries:
                children = sorted(
                    Path(e.path)
                    for e in entries
                    if e.is_dir(follow_symlinks=True) and STAGING_MARK not in e.name
                )
        except OSError as exc:
            _note(problems, folder, exc)
            continue
        stack.extend(reversed(children))
    return found


def _note(problems: list[ScanProblem] | None, folder: Path, exc: OSError) -> None:
    if problems is not None:
        problems.append(ScanProblem(path=str(folder), error=exc.strerror or str(exc)))


def scan(
    root: str | Path,
    *,
    probe_videos: bool = True,
    problems: list[ScanProblem] | None = None,
    progress: Progress | None = None,
) -> Iterator[ScanRecord]:
    """Yield a record per dataset below `root` as each is parsed; broken ones carry an error."""
    roots = find_datasets(root, problems)
    if progress:
        progress(0.0, f"found {len(roots)} datasets")
    episodes = 0
    for number, path in enumerate(roots, start=1):
        try:
            dataset = parse_dataset(path, probe_videos=probe_videos)
        except (RobodataError, OSError) as exc:
            record = ScanRecord(path=str(path), error=str(exc))
        except Exception as exc:
            # Datasets are arbitrary user files: one that trips the parser in a way nobody
            # foresaw is reported with the rest, never allowed to end the scan.
            record = ScanRecord(path=str(path), error=f"{type(exc).__name__}: {exc}")
        else:
            episodes += len(dataset.episodes)
            record = ScanRecord(path=str(path), dataset=dataset)
        if progress:
            progress(
                100.0 * number / len(roots),
                f"parsed {number}/{len(roots)} datasets, {episodes} episodes",
            )
        yield record
