import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from domain.robodata import editor
from domain.robodata.error import DatasetEditError, InvalidNameError, UnsafePathError
from domain.robodata.model import Dataset
from domain.robodata.parser import parse_dataset
from domain.robodata.timeseries import episode_arrays
from domain.robodata.video import export_clip
from tests.robodata_factory import FRONT, WRIST, episode_colour

ROOT = Path(__file__).resolve().parents[3]


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _assert_consistent(dataset: Dataset, colours: list[int], tmp_path: Path) -> None:
    """Every listed episode reads back whole: its rows, its spike and its video segment."""
    assert dataset.warnings == []
    for episode, original in zip(dataset.episodes, colours, strict=True):
        arrays = episode_arrays(dataset, episode.index)
        assert len(arrays.frames) == episode.length
        assert arrays.action is not None and arrays.action[:, 0].max() == pytest.approx(
            100 + original
        )
        for camera in (FRONT, WRIST):
            clip = export_clip(dataset, episode.index, camera, tmp_path / "check.mp4")
            with av.open(str(tmp_path / "check.mp4")) as container:
                frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
            assert clip.frames == len(frames) == episode.length
            corner = frames[0][-4:, -4:].reshape(-1, 3).mean(0)
            assert np.allclose(corner, episode_colour(original), atol=12)


def test_v3_delete_rewrites_shared_files_and_reindexes(
    v3_root: Path, copy_of: Callable[[Path], Path], tmp_path: Path
) -> None:
    root = copy_of(v3_root)
    reports: list[float] = []

    dataset = editor.delete_episode(root, 1, progress=lambda p, _: reports.append(p))

    assert [(e.index, e.length) for e in dataset.episodes] == [(0, 12), (1, 15), (2, 10)]
    assert [(e.from_index, e.to_index) for e in dataset.episodes] == [(0, 12), (12, 27), (27, 37)]
    moved = dataset.episode(1).videos[WRIST]
    assert (moved.from_timestamp, moved.to_timestamp) == pytest.approx((0.4, 0.9))
    info = json.loads((root / "meta" / "info.json").read_text())
    assert (info["total_episodes"], info["total_frames"], info["splits"]) == (
        3,
        37,
        {"train": "0:3"},
    )
    assert reports[-1] == 100.0
    _assert_consistent(dataset, [0, 2, 3], tmp_path)


def test_v3_delete_of_a_files_only_episode_removes_the_files(
    v3_root: Path, copy_of: Callable[[Path], Path], tmp_path: Path
) -> None:
    root = copy_of(v3_root)

    dataset = editor.delete_episode(root, 3)

    assert not (root / "data/chunk-000/file-001.parquet").exists()
    assert not (root / f"videos/{FRONT}/chunk-000/file-001.mp4").exists()
    _assert_consistent(dataset, [0, 1, 2], tmp_path)


def test_v21_delete_removes_its_files_and_metadata_rows(
    v21_root: Path, copy_of: Callable[[Path], Path], tmp_path: Path
) -> None:
    root = copy_of(v21_root)

    dataset = editor.delete_episode(root, 2)

    assert [e.index for e in dataset.episodes] == [0, 1, 3]
    assert not (root / "data/chunk-000/episode_000002.parquet").exists()
    assert not (root / f"videos/chunk-000/{WRIST}/episode_000002.mp4").exists()
    stats = (root / "meta" / "episodes_stats.jsonl").read_text().splitlines()
    assert [json.loads(line)["episode_index"] for line in stats] == [0, 1, 3]
    assert json.loads((root / "meta" / "info.json").read_text())["total_frames"] == 31
    _assert_consistent(dataset, [0, 1, 3], tmp_path)


def test_a_failure_before_the_swap_leaves_the_dataset_untouched(
    v3_root: Path, copy_of: Callable[[Path], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_of(v3_root)
    before = _snapshot(root)

    def crash(staging: Path, live: Path) -> None:
        raise OSError("disk vanished")

    monkeypatch.setattr(editor, "_exchange", crash)
    with pytest.raises(DatasetEditError, match="disk vanished"):
        editor.delete_episode(root, 1)

    # The staged copy shared inodes with the live files: none of them was written through.
    assert _snapshot(root) == before
    assert [p.name for p in root.parent.iterdir() if editor.STAGING_MARK in p.name] == []


def test_unaligned_video_refuses_the_delete_and_keeps_the_dataset(
    unaligned_root: Path, copy_of: Callable[[Path], Path]
) -> None:
    root = copy_of(unaligned_root)
    before = _snapshot(root)

    with pytest.raises(DatasetEditError, match="keyframe"):
        editor.delete_episode(root, 1)

    assert _snapshot(root) == before


KILLER = """
import sys
import av, pyarrow.parquet
from domain.robodata.editor import delete_episode
print("go", flush=True)
delete_episode(sys.argv[1], 1)
print("done", flush=True)
"""


def test_killing_a_delete_at_any_moment_leaves_old_or_new_state(
    v3_root: Path, tmp_path: Path
) -> None:
    outcomes: list[int] = []
    for attempt in range(10):
        root = tmp_path / f"run{attempt}" / v3_root.name
        shutil.copytree(v3_root, root)
        process = subprocess.Popen(
            [sys.executable, "-c", KILLER, str(root)], cwd=ROOT, stdout=subprocess.PIPE
        )
        assert process.stdout is not None
        process.stdout.readline()
        # Kill points spread over the edit, from before the staging to after the swap.
        time.sleep(attempt * 0.025)
        process.send_signal(signal.SIGKILL)
        process.wait()
        dataset = parse_dataset(root)
        lengths = [e.length for e in dataset.episodes]
        assert lengths in ([12, 9, 15, 10], [12, 15, 10])
        outcomes.append(len(lengths))
        _assert_consistent(dataset, [0, 1, 2, 3] if len(lengths) == 4 else [0, 2, 3], tmp_path)
        # The next edit clears whatever the killed one left beside the dataset.
        editor.delete_episode(root, 0)
        assert not [p for p in root.parent.iterdir() if editor.STAGING_MARK in p.name]
    assert 4 in outcomes


def test_rename_by_robot_type_and_task_updates_folder_and_metadata(
    v3_root: Path, copy_of: Callable[[Path], Path]
) -> None:
    root = copy_of(v3_root)

    moved = editor.update_dataset(root, robot_type="koch", task_name="fold_towel")

    assert moved == root.with_name("koch_fold_towel_2000-01-01")
    assert not root.exists()
    assert parse_dataset(moved).info.robot_type == "koch"
    assert len(parse_dataset(moved).episodes) == 4


def test_move_to_a_storage_path_inside_the_allowed_root(
    v21_root: Path, copy_of: Callable[[Path], Path], tmp_path: Path
) -> None:
    root = copy_of(v21_root)
    target = tmp_path / "store" / "so101_follower_cleandesk_2000-01-01"

    moved = editor.update_dataset(root, new_root=target, allowed_root=tmp_path / "store")

    assert moved == target and parse_dataset(target).warnings == []
    with pytest.raises(UnsafePathError):
        editor.update_dataset(target, new_root=tmp_path / "elsewhere", allowed_root=target.parent)
    assert target.is_dir()


def test_move_refuses_an_existing_target_and_bad_names(
    v21_root: Path, copy_of: Callable[[Path], Path], tmp_path: Path
) -> None:
    root = copy_of(v21_root)
    (tmp_path / "taken").mkdir()

    with pytest.raises(DatasetEditError, match="already exists"):
        editor.update_dataset(root, new_root=tmp_path / "taken")
    with pytest.raises(InvalidNameError):
        editor.update_dataset(root, task_name="bad name")
    assert parse_dataset(root).warnings == []


def test_delete_with_a_missing_data_file_fails_cleanly(
    v3_root: Path, copy_of: Callable[[Path], Path]
) -> None:
    root = copy_of(v3_root)
    (root / "data/chunk-000/file-001.parquet").unlink()
    before = _snapshot(root)

    with pytest.raises(DatasetEditError, match="cannot delete episode 1"):
        editor.delete_episode(root, 1)

    assert _snapshot(root) == before
