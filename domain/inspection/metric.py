"""Evaluation metrics for inspection results."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from domain.inspection.error import InvalidScoresError


def auroc(
    labels: Sequence[bool] | npt.NDArray[np.bool_],
    scores: Sequence[float] | npt.NDArray[np.floating],
) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied scores averaged); labels True = defect."""
    from scipy.stats import rankdata

    y = np.asarray(labels, dtype=bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise InvalidScoresError("labels and scores differ in length")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise InvalidScoresError("AUROC needs both positive and negative samples")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
