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
# Vectors stay float32 as LeRobot stores them: half the memory traffic when downsampling.
VectorArray = npt.NDArray[np.float32]


class EpisodeArrays(NamedTuple):
    """Full-rate columns of one episode, ordered by frame."""

    frames: npt.NDArray[np.int64]
    timestamps: FloatArray
    action: VectorArray | None
    state: VectorArray | None


def episode_arrays(dataset: Dataset, episode_index: int) -> EpisodeArrays:
    """Read one episode's frame indices, timestamps, action and state from its data file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    episode = dataset.episode(episode_index)
    path = inside(dataset.root, episode.data_path)
    keys = [k for k in (dataset.action_key, dataset.state_key) if k is not None]
    try:
        schema = pq.read_schema(path)
        if "episode_index" not in schema.names:
            raise MediaError(f"data file {episode.data_path} has no episode_index column")
        wanted = ("timestamp", "frame_index", "episode_index", *keys)
        table = pq.read_table(path, columns=[c for c in wanted if c in schema.names])
        # Shared v3 files hold many episodes: rows are picked by their episode_index, never by
        # position, so a file written in any order still yields exactly this episode.
        table = _rows_of(table, episode_index)
    except (OSError, pa.ArrowException) as exc:
        raise MediaError(f"data file {episode.data_path} is not readable: {exc}") from exc
    count = table.num_rows
    if "frame_index" in table.column_names:
        frames = table.column("frame_index").to_numpy().astype(np.int64)
        order = None if np.all(frames[1:] >= frames[:-1]) else np.argsort(frames, kind="stable")
    else:
        frames, order = np.arange(count, dtype=np.int64), None
    if "timestamp" in table.column_names:
        times = table.column("timestamp").to_numpy().astype(np.float64)
    else:
        times = frames / dataset.info.fps
    action = _matrix(table, dataset.action_key, count)
    state = _matrix(table, dataset.state_key, count)
    if order is not None:
        frames, times = frames[order], times[order]
        action, state = _take(action, order), _take(state, order)
    return EpisodeArrays(frames=frames, timestamps=times, action=action, state=state)


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
        series = [m for m in (action, state) if m is not None]
        rows = min_max_rows(np.hstack(series) if series else times[:, None], max_points)
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


def _take(matrix: VectorArray | None, rows: npt.NDArray[np.intp]) -> VectorArray | None:
    return None if matrix is None else matrix[rows]


def _matrix(table: Any, key: str | None, count: int) -> VectorArray | None:
    import pyarrow as pa

    if key is None or key not in table.column_names:
        return None
    column = table.column(key).combine_chunks()
    if (
        pa.types.is_list(column.type)
        or pa.types.is_fixed_size_list(column.type)
        or (pa.types.is_large_list(column.type))
    ):
        values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        width = len(values) // count if count else 0
        if width * count != len(values):
            raise MediaError(f"column {key} has rows of different lengths")
        matrix: VectorArray = values.reshape(count, width)
        return matrix
    single: VectorArray = column.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return single.reshape(count, 1)


def _rows_of(table: Any, episode_index: int) -> Any:
    import pyarrow.compute as pc

    mask = pc.equal(table["episode_index"], episode_index).to_numpy(zero_copy_only=False)
    where = np.flatnonzero(mask)
    if len(where) and where[-1] - where[0] + 1 == len(where):
        # Episodes are usually stored as one run of rows: a zero-copy slice, not a filter.
        return table.slice(int(where[0]), len(where))
    return table.filter(pc.equal(table["episode_index"], episode_index))


def min_max_rows(values: npt.NDArray[Any], max_points: int) -> npt.NDArray[np.intp]:
    """Row indices keeping, per bucket, the minimum and maximum rows of its liveliest column.

    Each bucket picks the column with the widest range relative to that column's overall
    range and keeps the rows of that column's minimum and maximum, so a spike in any column
    survives where it dominates its bucket; at most `max_points` rows, sorted.
    """
    count = values.shape[0]
    if count <= max_points:
        return np.arange(count)
    # Power-of-two buckets let min/max fold in halves: contiguous, vectorised and several
    # times faster than numpy's reduction over a middle axis.
    width = 1 << int(np.ceil(np.log2(count / max(1, max_points // 2))))
    buckets = -(-count // width)
    padded = np.concatenate([values, np.repeat(values[-1:], buckets * width - count, axis=0)])
    slabs = padded.reshape(buckets, width, values.shape[1])
    lows, highs = _fold(slabs, np.minimum), _fold(slabs, np.maximum)
    span = highs.max(axis=0) - lows.min(axis=0)
    column = np.argmax((highs - lows) / np.where(span > 0, span, 1), axis=1)
    picks = np.arange(buckets)
    chosen = slabs[picks, :, column]
    base = picks * width
    rows = np.concatenate([base + np.argmin(chosen, axis=1), base + np.argmax(chosen, axis=1)])
    return np.unique(np.minimum(rows, count - 1))


def _fold(slabs: npt.NDArray[Any], op: np.ufunc) -> npt.NDArray[Any]:
    while slabs.shape[1] > 1:
        half = slabs.shape[1] // 2
        slabs = op(slabs[:, :half], slabs[:, half:])
    return slabs[:, 0]
