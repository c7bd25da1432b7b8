import os
import shutil
from pathlib import Path

import pytest

from domain.robodata.scanner import ScanProblem, find_datasets, scan


@pytest.fixture
def tree(tmp_path: Path, v3_root: Path, v21_root: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(v3_root, root / "lab" / "a" / v3_root.name)
    shutil.copytree(v21_root, root / "lab" / "b" / v21_root.name)
    broken = root / "broken_ds"
    (broken / "meta").mkdir(parents=True)
    (broken / "meta" / "info.json").write_text("[1, 2")
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a dataset")
    # A link back up the tree would make a naive walk loop forever.
    os.symlink(root, root / "lab" / "loop")
    return root


def test_finds_every_dataset_once_despite_a_symlink_loop(tree: Path) -> None:
    found = find_datasets(tree)

    assert sorted(p.parent.name for p in found) == ["a", "b", "root"]


def test_scan_parses_each_keeps_going_past_broken_ones_and_reports_progress(tree: Path) -> None:
    seen: list[tuple[float, str]] = []

    records = list(scan(tree, progress=lambda pct, msg: seen.append((pct, msg))))

    good = [r for r in records if r.dataset is not None]
    bad = [r for r in records if r.error is not None]
    assert len(good) == 2 and sum(len(r.dataset.episodes) for r in good if r.dataset) == 8
    assert len(bad) == 1 and bad[0].path.endswith("broken_ds")
    assert "not readable JSON" in (bad[0].error or "")
    assert seen[0] == (0.0, "found 3 datasets")
    assert seen[-1][0] == 100.0 and "8 episodes" in seen[-1][1]
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their mode")
def test_unreadable_folders_are_reported_not_fatal(tree: Path) -> None:
    locked = tree / "locked"
    locked.mkdir()
    locked.chmod(0)
    problems: list[ScanProblem] = []
    try:
        found = find_datasets(tree, problems)
    finally:
        locked.chmod(0o755)

    assert len(found) == 3
    assert [p.path for p in problems] == [str(locked)]


def test_scan_yields_each_record_before_parsing_the_next(tree: Path) -> None:
    seen: list[str] = []
    records = scan(tree, probe_videos=False, progress=lambda pct, msg: seen.append(msg))

    next(records)

    # The broken dataset sorts first; only it has been parsed when the first record arrives.
    assert seen == ["found 3 datasets", "parsed 1/3 datasets, 0 episodes"]
    assert len(list(records)) == 2
