import json
from collections.abc import Callable
from pathlib import Path

import pytest

from domain.robodata.error import EpisodeNotFoundError, NotADatasetError
from domain.robodata.parser import flatten_names, parse_dataset
from tests.robodata_factory import ACTION_NAMES, FRONT, TASKS, WRIST, DatasetSpec, write_dataset


def _edit_info(root: Path, change: Callable[[dict], None]) -> None:
    path = root / "meta" / "info.json"
    info = json.loads(path.read_text())
    change(info)
    path.write_text(json.dumps(info))


@pytest.mark.parametrize("layout", ["v3_root", "v21_root"])
def test_parses_both_layouts_into_one_model(layout: str, request: pytest.FixtureRequest) -> None:
    dataset = parse_dataset(request.getfixturevalue(layout))

    assert dataset.version == ("v3.0" if layout == "v3_root" else "v2.1")
    assert dataset.warnings == []
    assert dataset.info.fps == 30
    assert dataset.info.robot_type == "so101_follower"
    assert [(e.index, e.length) for e in dataset.episodes] == [(0, 12), (1, 9), (2, 15), (3, 10)]
    assert [(e.from_index, e.to_index) for e in dataset.episodes] == [
        (0, 12),
        (12, 21),
        (21, 36),
        (36, 46),
    ]
    assert [t.task for t in dataset.tasks] == TASKS
    assert dataset.episodes[1].tasks == [TASKS[1]]
    # Action is found although it is named `actions`; state names were given as a dict.
    assert dataset.action_key == "actions"
    assert dataset.state_key == "observation.state"
    assert dataset.info.features["observation.state"].names == ACTION_NAMES
    assert dataset.info.features["observation.effort"].names == ["x", "y", "z"]
    cameras = {c.key: c for c in dataset.cameras}
    assert cameras[FRONT].probe is not None and cameras[FRONT].probe.codec == "h264"
    assert cameras[WRIST].probe is not None and cameras[WRIST].probe.codec == "av1"
    assert (cameras[WRIST].probe.width, cameras[WRIST].probe.height) == (64, 48)
    assert dataset.stats or layout == "v21_root"


def test_v3_episodes_point_into_shared_files(v3_root: Path) -> None:
    dataset = parse_dataset(v3_root)

    first, second, fourth = dataset.episodes[0], dataset.episodes[1], dataset.episodes[3]
    assert first.data_path == second.data_path == "data/chunk-000/file-000.parquet"
    assert fourth.data_path == "data/chunk-000/file-001.parquet"
    assert first.videos[WRIST].path == "videos/observation.images.wrist/chunk-000/file-000.mp4"
    assert second.videos[WRIST].from_timestamp == pytest.approx(12 / 30)
    assert second.videos[WRIST].to_timestamp == pytest.approx(21 / 30)
    assert fourth.videos[FRONT].from_timestamp == 0.0


def test_v21_paths_come_from_the_templates(v21_root: Path) -> None:
    episode = parse_dataset(v21_root).episode(2)

    assert episode.data_path == "data/chunk-000/episode_000002.parquet"
    assert episode.videos[FRONT].path == (
        "videos/chunk-000/observation.images.front/episode_000002.mp4"
    )
    assert episode.videos[FRONT].to_timestamp == pytest.approx(15 / 30)


@pytest.mark.parametrize(
    ("names", "flat"),
    [
        (["a", "b"], ["a", "b"]),
        ([["a", "b"], ["c"]], ["a", "b", "c"]),
        ({"motors": ["a", "b"], "gripper": ["g"]}, ["a", "b", "g"]),
        (None, None),
    ],
)
def test_names_in_every_shape_are_flattened(names: object, flat: list[str] | None) -> None:
    assert flatten_names(names) == flat


def test_a_folder_without_info_json_is_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(NotADatasetError, match=r"meta/info\.json not found"):
        parse_dataset(tmp_path)


def test_unreadable_info_json_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "info.json").write_text("{not json")

    with pytest.raises(NotADatasetError, match="not readable JSON"):
        parse_dataset(tmp_path)


def test_unknown_episode_raises(v3_root: Path) -> None:
    with pytest.raises(EpisodeNotFoundError):
        parse_dataset(v3_root).episode(99)


def test_info_json_is_not_trusted_about_codecs_and_sizes(
    v3_root: Path, copy_of: Callable[[Path], Path]
) -> None:
    root = copy_of(v3_root)

    def lie(info: dict) -> None:
        info["features"][WRIST]["info"]["video.codec"] = "h264"
        info["features"][FRONT]["shape"] = [480, 640, 3]
        info["total_episodes"] = 7

    _edit_info(root, lie)
    dataset = parse_dataset(root)

    wrist = dataset.camera(WRIST)
    assert wrist.probe is not None and wrist.probe.codec == "av1"
    text = "\n".join(dataset.warnings)
    assert f"camera {WRIST}: info.json says codec h264 but the file holds av1" in text
    assert "640x480 but the file is 64x48" in text
    assert "total_episodes=7 but 4 episodes listed" in text


def test_missing_files_are_warnings_not_crashes(
    v21_root: Path, copy_of: Callable[[Path], Path]
) -> None:
    root = copy_of(v21_root)
    (root / "videos/chunk-000/observation.images.front/episode_000001.mp4").unlink()
    (root / "data/chunk-000/episode_000003.parquet").unlink()

    dataset = parse_dataset(root)

    assert len(dataset.episodes) == 4
    assert any(
        "episode 1: file videos/chunk-000/observation.images.front" in w for w in dataset.warnings
    )
    assert any(
        "episode 3: file data/chunk-000/episode_000003.parquet is missing" in w
        for w in dataset.warnings
    )


def test_templates_that_escape_the_root_are_reported(
    v21_root: Path, copy_of: Callable[[Path], Path]
) -> None:
    root = copy_of(v21_root)
    _edit_info(root, lambda info: info.update(data_path="../../{episode_index}.parquet"))

    dataset = parse_dataset(root)

    assert any("../../0.parquet is missing" in w for w in dataset.warnings)


def test_unsupported_version_is_refused(v21_root: Path, copy_of: Callable[[Path], Path]) -> None:
    root = copy_of(v21_root)
    _edit_info(root, lambda info: info.update(codebase_version="v1.6"))

    with pytest.raises(NotADatasetError, match="unsupported"):
        parse_dataset(root)


def test_malformed_metadata_values_become_warnings(
    v21_root: Path, copy_of: Callable[[Path], Path]
) -> None:
    root = copy_of(v21_root)

    def garble(info: dict) -> None:
        info["fps"] = "fast"
        info["features"]["actions"]["shape"] = 6
        info["total_frames"] = "many"

    _edit_info(root, garble)
    with (root / "meta" / "tasks.jsonl").open("a") as tasks:
        tasks.write('{"task_index": "two", "task": "x"}\nnot json\n')

    dataset = parse_dataset(root)

    assert dataset.info.fps == 30.0 and len(dataset.episodes) == 4
    text = "\n".join(dataset.warnings)
    assert "fps='fast' is missing or invalid; assuming 30" in text
    assert "total_frames='many' is not an integer" in text
    assert "tasks.jsonl line 4 is not valid JSON" in text
    assert "lacks task_index/task" in text
    assert [t.task for t in dataset.tasks] == TASKS


def test_v20_layout_with_global_stats(v21_root: Path, copy_of: Callable[[Path], Path]) -> None:
    root = copy_of(v21_root)
    _edit_info(root, lambda info: info.update(codebase_version="v2.0"))
    (root / "meta" / "episodes_stats.jsonl").unlink()
    (root / "meta" / "stats.json").write_text(json.dumps({"actions": {"max": [1.0] * 6}}))

    dataset = parse_dataset(root)

    assert dataset.version == "v2.0" and dataset.warnings == []
    assert dataset.stats == {"actions": {"max": [1.0] * 6}}
    assert [e.length for e in dataset.episodes] == [12, 9, 15, 10]


def test_plain_action_and_state_names_are_found(tmp_path: Path) -> None:
    spec = DatasetSpec(
        version="v2.1", lengths=(5,), cameras={}, action_key="action", state_key="state"
    )
    dataset = parse_dataset(write_dataset(tmp_path / "so101_x_2000-01-01", spec))

    assert (dataset.action_key, dataset.state_key) == ("action", "state")
    assert dataset.cameras == [] and dataset.warnings == []


def test_videos_under_the_other_conventional_folder_are_found_and_probed(tmp_path: Path) -> None:
    # As a real published v3.0 dataset: files under video/, the template says videos/, and
    # mpeg4 footage labelled h264.
    spec = DatasetSpec(version="v3.0", cameras={FRONT: "mpeg4"}, lengths=(6, 5))
    root = write_dataset(tmp_path / "so101_follower_real_2025-01-01", spec)
    (root / "videos").rename(root / "video")
    dataset = parse_dataset(root)
    assert all(v.path.startswith("video/") for e in dataset.episodes for v in e.videos.values())
    camera = dataset.cameras[0]
    assert camera.probe is not None and camera.probe.codec == "mpeg4"
    assert not [w for w in dataset.warnings if "missing" in w or "no video file" in w]
    assert any("under videos/ but the videos are under video/" in w for w in dataset.warnings)
    assert any("says codec h264 but the file holds mpeg4" in w for w in dataset.warnings)
