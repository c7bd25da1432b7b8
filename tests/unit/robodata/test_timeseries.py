import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from domain.robodata.error import RobodataError
from domain.robodata.parser import parse_dataset
from domain.robodata.timeseries import episode_timeseries, min_max_rows
from tests.robodata_factory import ACTION_NAMES, DatasetSpec, write_dataset


@pytest.fixture(scope="session")
def long_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = DatasetSpec(lengths=(100_000,), cameras={})
    return write_dataset(tmp_path_factory.mktemp("long") / "so101_long_2000-01-01", spec)


@pytest.mark.parametrize("episode", [0, 1, 2, 3])
def test_rows_are_selected_by_episode_index_in_shared_files(v3_root: Path, episode: int) -> None:
    dataset = parse_dataset(v3_root)

    series = episode_timeseries(dataset, episode)

    length = dataset.episode(episode).length
    assert series.total_points == length and not series.downsampled
    assert len(series.timestamps) == length and series.timestamps[0] == 0.0
    assert series.action is not None and series.state is not None
    # Each episode's spike (100 + episode) sits in its middle frame: the rows are its own.
    assert max(row[0] for row in series.action) == pytest.approx(100 + episode)
    assert series.state[0][0] == pytest.approx(episode)
    assert series.action_names == ACTION_NAMES


def test_rows_stored_out_of_order_come_back_in_frame_order(
    v3_root: Path, copy_of: Callable[[Path], Path]
) -> None:
    root = copy_of(v3_root)
    path = root / "data/chunk-000/file-000.parquet"
    table = pq.read_table(path)
    rng = np.random.default_rng(0)
    pq.write_table(table.take(rng.permutation(table.num_rows)), path)

    series = episode_timeseries(parse_dataset(root), 1)

    assert series.timestamps == sorted(series.timestamps)
    assert series.state is not None and series.state[0][0] == pytest.approx(1.0)


def test_long_episode_is_downsampled_with_its_peaks(long_root: Path) -> None:
    dataset = parse_dataset(long_root)

    series = episode_timeseries(dataset, 0, max_points=2000)

    assert series.downsampled and series.total_points == 100_000
    assert 1000 < len(series.timestamps) <= 2000
    assert series.timestamps == sorted(series.timestamps)
    assert series.action is not None
    # The single-frame spike at frame 50 000 survives a 50x reduction.
    assert max(row[0] for row in series.action) == pytest.approx(100.0)
    assert series.timestamps[-1] > 3000


def test_min_max_keeps_isolated_extremes_in_every_column() -> None:
    values = np.zeros((10_000, 2))
    values[1234, 0] = 5.0
    values[8765, 1] = -0.001

    rows = min_max_rows(values, 100)

    assert len(rows) <= 100
    assert 1234 in rows and 8765 in rows


def test_max_points_must_be_sensible(v3_root: Path) -> None:
    with pytest.raises(RobodataError, match="max_points"):
        episode_timeseries(parse_dataset(v3_root), 0, max_points=1)


def test_missing_data_file_is_a_clear_error(
    v21_root: Path, copy_of: Callable[[Path], Path]
) -> None:
    root = copy_of(v21_root)
    dataset = parse_dataset(root)
    shutil.rmtree(root / "data")

    with pytest.raises(RobodataError, match="not readable"):
        episode_timeseries(dataset, 0)
