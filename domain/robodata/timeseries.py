"""Action and state series of one episode, downsampled so peaks stay visible."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from domain.robodata.error import MediaError, RobodataError
from domain.robodata.model import Dataset, Timeseries
from domain.robodata.parser import feature_names
from domain.robodata.path import inside

FloatArray = npt.NDArray[np.float64]


class EpisodeArrays(NamedTuple):
    """Full-rate columns of one episode, ordered by frame."""

    frames: npt.NDArray[np.int64]
    timestamps: FloatArray
    action: FloatArray | None
    state: FloatArray | None


def episode_arrays(dataset: Dataset, episode_index: int) -> EpisodeArrays:
    """Read one episode's frame indices, timestamps, action and state from its data file."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    episode = dataset.episode(episode_index)
    path = inside(dataset.root, episode.data_path)
    keys = [k for k in (dataset.action_key, dataset.state_key) if k is not None]
    try:
        schema = pq.read_schema(path)
        columns = [c for c in ("timestamp", "frame_index", *keys) if c in schema.names]
        # Shared v3 files hold many episodes: rows are picked by their episode_index, and the
        # row-group statistics let parquet skip the groups of other episodes.
        table = pq.read_table(
            path, columns=columns, filters=[("episode_index", "=", episode_index)]
        )
    except (OSError, pa.ArrowException) as exc:
        raise MediaError(f"data file {episode.data_path} is not readable: {exc}") from exc
    count = table.num_rows
    if "frame_index" in table.column_names:
        if count > 1:
            table = table.take(pc.sort_indices(table, sort_keys=[("frame_index", "ascending")]))
        frames = table.column("frame_index").to_numpy().astype(np.int64)
    else:
        frames = np.arange(count, dtype=np.int64)
    if "timestamp" in table.column_names:
        times = table.column("timestamp").to_numpy().astype(np.float64)
    else:
        times = frames / dataset.info.fps
    return EpisodeArrays(
        frames=frames,
        timestamps=times,
        action=_matrix(table, dataset.action_key, count),
        state=_matrix(table, dataset.state_key, count),
    )


def episode_timeseries(
    dataset: Dataset, episode_index: int, *, max_points: int = 2000
) -> Timeseries:
    """Timestamps, action and state of one episode, at most `max_points` rows (min/max buckets)."""
    if max_points < 2:
        raise RobodataError("max_points must be at least 2")
    arrays = episode_arrays(dataset, episode_index)
    times, action, state = arrays.timestamps, arrays.action, arrays.state
    count = len(times)
    downsampled = count > max_points
    if downsampled:
        series = [m for m in (action, state) if m is not None] or [times[:, None]]
        rows = min_max_rows(np.hstack(series), max_points)
        times, action, state = times[rows], _take(action, rows), _take(state, rows)
    features = dataset.info.features
    return Timeseries(
        episode_index=episode_index,
        timestamps=times.tolist(),
        action=None if action is None else action.tolist(),
        state=None if state is None else state.tolist(),
        action_names=feature_names(features[dataset.action_key]) if dataset.action_key else None,
        state_names=feature_names(features[dataset.state_key]) if dataset.state_key else None,
        total_points=count,
        downsampled=downsampled,
    )


def _take(matrix: FloatArray | None, rows: npt.NDArray[np.intp]) -> FloatArray | None:
    return None if matrix is None else matrix[rows]


def _matrix(table: Any, key: str | None, count: int) -> FloatArray | None:
    import pyarrow as pa

    if key is None or key not in table.column_names:
        return None
    column = table.column(key).combine_chunks()
    if (
        pa.types.is_list(column.type)
        or pa.types.is_fixed_size_list(column.type)
        or (pa.types.is_large_list(column.type))
    ):
        values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
        width = len(values) // count if count else 0
        if width * count != len(values):
            raise MediaError(f"column {key} has rows of different lengths")
        matrix: FloatArray = values.reshape(count, width)
        return matrix
    single: FloatArray = column.to_numpy(zero_copy_only=False).astype(np.float64)
    return single.reshape(count, 1)


def min_max_rows(values: FloatArray, max_points: int) -> npt.NDArray[np.intp]:
    """Row indices keeping, per bucket, the rows where any column hits its min or max.

    Each of `max_points // 2` buckets contributes its first and last extreme row (in time
    order), so every spike taller than its neighbours survives; the result is sorted.
    """
    count = values.shape[0]
    buckets = max(1, max_points // 2)
    if count <= max_points:
        return np.arange(count)
    edges = np.linspace(0, count, buckets + 1).astype(np.intp)
    width = int(np.max(np.diff(edges)))
    # Columns are compared on a common scale so a small joint's spike is not drowned out.
    span = np.ptp(values, axis=0)
    values = values / np.where(span > 0, span, 1.0)
    # A (buckets, width) grid of row numbers, padding short buckets with their last row.
    grid = np.minimum(edges[:-1, None] + np.arange(width)[None, :], edges[1:, None] - 1)
    block = values[grid]
    lows = grid[np.arange(buckets)[:, None], np.argmin(block, axis=1)]
    highs = grid[np.arange(buckets)[:, None], np.argmax(block, axis=1)]
    # A bucket may have several columns peaking at different rows: keep the most extreme
    # (scaled) deviation from the bucket mean, the one a plot would show as a spike.
    deviation = np.abs(block - block.mean(axis=1, keepdims=True))
    column = np.argmax(deviation.max(axis=1), axis=1)
    pick = np.arange(buckets)
    first = np.minimum(lows[pick, column], highs[pick, column])
    second = np.maximum(lows[pick, column], highs[pick, column])
    return np.unique(np.concatenate([first, second]))
