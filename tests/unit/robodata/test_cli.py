import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from domain.robodata.cli import show
from tests.robodata_factory import FRONT, WRIST

ROOT = Path(__file__).resolve().parents[3]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "domain.robodata.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_show_prints_the_parsed_dataset_as_json(v3_root: Path) -> None:
    result = _run("show", str(v3_root))

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["version"], data["robot_type"], data["fps"]) == ("v3.0", "so101_follower", 30.0)
    cameras = {c["key"]: c for c in data["cameras"]}
    assert (cameras[FRONT]["codec"], cameras[WRIST]["codec"]) == ("h264", "av1")
    assert (cameras[WRIST]["width"], cameras[WRIST]["height"]) == (64, 48)
    assert [(e["index"], e["length"]) for e in data["episodes"]] == [
        (0, 12),
        (1, 9),
        (2, 15),
        (3, 10),
    ]
    assert data["warnings"] == []


def test_show_exits_zero_with_warnings(
    v21_root: Path, copy_of: Callable[[Path], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_of(v21_root)
    (root / "data/chunk-000/episode_000001.parquet").unlink()

    code = show(str(root))

    assert code == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert warnings == ["episode 1: file data/chunk-000/episode_000001.parquet is missing"]


def test_show_of_a_non_dataset_fails_with_one_clear_line(tmp_path: Path) -> None:
    result = _run("show", str(tmp_path))

    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path} is not a LeRobot dataset: meta/info.json not found"
    ]


def test_bad_usage_is_reported() -> None:
    result = _run("list")

    assert result.returncode == 2 and "usage:" in result.stderr
