"""Decision threshold from the scores of OK (and, when available, NG) images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from domain.inspection.error import InvalidScoresError
from domain.inspection.model import Calibration

DEFAULT_PERCENTILE = 99


def _scores(values: Sequence[float] | None, what: str) -> npt.NDArray[np.float64]:
    arr = np.asarray([] if values is None else list(values), dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidScoresError(f"{what} must be a flat list of numbers")
    if not np.all(np.isfinite(arr)):
        raise InvalidScoresError(f"{what} contain NaN or infinite values")
    return arr


def calibrate(
    ok_scores: Sequence[float],
    ng_scores: Sequence[float] | None = None,
    *,
    score_percentile: int | None = None,
    area_mm2_thr: float | None = None,
    mm_per_px: float = 0.2,
) -> Calibration:
    """Pick a threshold: a percentile of OK scores, moved toward NG scores when they are given.

    With NG scores above the OK percentile the threshold sits midway between that percentile and
    the 5th percentile of NG, leaving margin on both sides. When the classes overlap it takes
    the cut that maximises Youden's J (true-NG rate minus false-NG rate) instead.
    """
    ok = _scores(ok_scores, "ok_scores")
    ng = _scores(ng_scores, "ng_scores")
    if ok.size == 0:
        raise InvalidScoresError("ok_scores must hold at least one score")
    percentile = DEFAULT_PERCENTILE if score_percentile is None else int(score_percentile)
    if not 0 < percentile <= 100:
        raise InvalidScoresError(f"score_percentile must be in (0, 100], got {percentile}")
    if not np.isfinite(mm_per_px) or mm_per_px <= 0:
        raise InvalidScoresError(f"mm_per_px must be a positive number, got {mm_per_px}")
    if area_mm2_thr is not None and (not np.isfinite(area_mm2_thr) or area_mm2_thr < 0):
        raise InvalidScoresError(f"area_mm2_thr must be a non-negative number, got {area_mm2_thr}")
    p_ok = float(np.percentile(ok, percentile))
    p99_ok = float(np.percentile(ok, 99))
    ng_mean = p5_ng = None
    separable: bool | None = None
    method = "ok_percentile"
    threshold = p_ok
    if ng.size:
        ng_mean = float(ng.mean())
        p5_ng = float(np.percentile(ng, 5))
        separable = bool(ok.max() < ng.min())
        if p5_ng > p_ok:
            threshold = (p_ok + p5_ng) / 2.0
            method = "midpoint"
        else:
            threshold = _youden_threshold(ok, ng)
            method = "youden"
    return Calibration(
        threshold=threshold,
        ok_mean=float(ok.mean()),
        ng_mean=ng_mean,
        p99_ok=p99_ok,
        p5_ng=p5_ng,
        mm_per_px=float(mm_per_px),
        area_mm2_thr=None if area_mm2_thr is None else float(area_mm2_thr),
        score_percentile=percentile,
        n_ok=int(ok.size),
        n_ng=int(ng.size),
        method=method,
        separable=separable,
    )


def _youden_threshold(ok: npt.NDArray[np.float64], ng: npt.NDArray[np.float64]) -> float:
    # Candidate cuts lie midway between consecutive distinct scores; a score >= cut is NG.
    values = np.unique(np.concatenate([ok, ng]))
    cuts = (values[:-1] + values[1:]) / 2.0 if values.size > 1 else values
    ok_sorted, ng_sorted = np.sort(ok), np.sort(ng)
    tpr = 1.0 - np.searchsorted(ng_sorted, cuts, side="left") / ng.size
    fpr = 1.0 - np.searchsorted(ok_sorted, cuts, side="left") / ok.size
    j = tpr - fpr
    # Among equally good cuts prefer the highest, which raises the fewest false alarms.
    best = np.flatnonzero(j == j.max())[-1]
    return float(cuts[best])
