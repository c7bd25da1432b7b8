"""Catalog records from parsed datasets: ids, mapping, one record per episode, fingerprints."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from domain.robodata.catalog import (
    dataset_id,
    dataset_path,
    dataset_record,
    mapping,
    primary_camera,
)
from domain.robodata.error import InvalidDatasetIdError, PathNotFoundError, UnsafePathError
from domain.robodata.parser import parse_dataset
from domain.robodata.path import within_roots
from tests.robodata_factory import FRONT, WRIST


def test_dataset_ids_are_unpadded_urlsafe_base64_of_the_path() -> None:
    path = "/data/so101_cleandesk_2000-01-01/ü"
    assert "=" not in dataset_id(path) and "/" not in dataset_id(path)
    assert dataset_path(dataset_id(path)) == path


@pytest.mark.parametrize("bad", ["", "not*base64", "YQ=", "YR", "_w", "%2e"])
def test_a_bad_dataset_id_is_refused(bad: str) -> None:
    with pytest.raises(InvalidDatasetIdError):
        dataset_path(bad)


def test_the_primary_camera_is_top_else_the_first() -> None:
    assert primary_camera(["observation.images.wrist", "observation.images.top"]).endswith("top")
    assert primary_camera(["a.laptop", "a.front"]) == "a.laptop"
    assert primary_camera(["a.front", "a.wrist"]) == "a.front"
    assert primary_camera([]) is None


def test_mapping_reads_the_conventional_name_else_info_and_task(v3_root: Path) -> None:
    dataset = parse_dataset(v3_root, probe_videos=False)
    assert mapping(dataset, v3_root.name) == ("so101_follower", "cleandesk")
    assert mapping(dataset, "koch_pour_2001-02-03") == ("koch", "pour")
    assert mapping(dataset, "my-folder") == ("so101_follower", "clean_the_desk")


def test_a_record_per_episode_with_cameras_sizes_and_fingerprints(v3_root: Path) -> None:
    record = dataset_record(parse_dataset(v3_root), "so101", "cleandesk")
    assert [i.episode_index for i in record.items] == [0, 1, 2, 3]
    first = record.items[0]
    assert (first.total_frames, first.width, first.height) == (12, 64, 48)
    assert [c["key"] for c in first.cameras] == [FRONT, WRIST]
    assert [c["codec"] for c in first.cameras] == ["h264", "av1"]
    assert first.total_size_bytes > 0
    assert len({i.fingerprint for i in record.items}) == 4


def test_a_fingerprint_changes_with_the_files_only(
    v21_root: Path, copy_of: Callable[[Path], Path]
) -> None:
    root = copy_of(v21_root)
    before = dataset_record(parse_dataset(root), "r", "t").items
    again = dataset_record(parse_dataset(root), "r", "t").items
    assert [i.fingerprint for i in before] == [i.fingerprint for i in again]
    video = root / "videos/chunk-000" / FRONT / "episode_000001.mp4"
    video.write_bytes(video.read_bytes() + b"\0")
    after = dataset_record(parse_dataset(root), "r", "t").items
    assert before[0].fingerprint == after[0].fingerprint
    assert before[1].fingerprint != after[1].fingerprint


def test_paths_stay_inside_the_roots(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "lab" / "ds").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", root / "lab" / "link")
    assert within_roots([root], "lab/ds") == (root / "lab" / "ds").resolve()
    assert within_roots([root], str(root / "lab")) == (root / "lab").resolve()
    for bad in ("/etc", "..", "lab/../..", str(root / "lab" / "link"), "lab/link/x"):
        with pytest.raises(UnsafePathError):
            within_roots([root], bad)
    with pytest.raises(PathNotFoundError):
        within_roots([root], "lab/missing")
    with pytest.raises(PathNotFoundError):
        within_roots([root], "x" * 5000)
    with pytest.raises(UnsafePathError):
        within_roots([root], "lab/\x00")
