"""Result records of the inspection engine: msgspec Structs, as they leave the engine."""

from __future__ import annotations

from collections.abc import Callable

import msgspec


class FitReport(msgspec.Struct, frozen=True):
    """What a fit (or an incremental update) put in the memory bank."""

    n_embeddings: int
    coreset_size: int
    token_shape: tuple[int, int]
    coreset_rate_requested: float
    coreset_rate_applied: float
    n_images: int
    backbone: str


class Region(msgspec.Struct, frozen=True):
    """One connected anomalous area; `bbox` is `[x, y, w, h]` in ROI pixels."""

    bbox: tuple[int, int, int, int]
    area_px: float
    area_mm2: float
    peak: float


class InferResult(msgspec.Struct, frozen=True):
    """Score, heatmap and regions of one ROI."""

    score: float
    threshold: float | None
    token_shape: tuple[int, int]
    heatmap_png: bytes
    regions: list[Region]
    is_anomalous: bool | None


class Calibration(msgspec.Struct, frozen=True):
    """A decision threshold and the score statistics it came from."""

    threshold: float
    ok_mean: float
    ng_mean: float | None
    p99_ok: float
    p5_ng: float | None
    mm_per_px: float
    area_mm2_thr: float | None
    score_percentile: int
    n_ok: int
    n_ng: int
    method: str
    separable: bool | None


# Long operations report `(percent 0–100, message)` through this callback.
ProgressFn = Callable[[float, str], None]
