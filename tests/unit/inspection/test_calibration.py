import numpy as np
import pytest

from domain.inspection.calibration import calibrate
from domain.inspection.error import InvalidScoresError


def test_ok_only_threshold_is_the_percentile() -> None:
    ok = list(np.linspace(1.0, 2.0, 101))
    cal = calibrate(ok, score_percentile=95, mm_per_px=0.1, area_mm2_thr=0.5)
    assert cal.threshold == pytest.approx(1.95)
    assert cal.ok_mean == pytest.approx(1.5)
    assert cal.p99_ok == pytest.approx(1.99)
    assert cal.ng_mean is None and cal.p5_ng is None and cal.n_ng == 0
    assert cal.area_mm2_thr == 0.5 and cal.mm_per_px == 0.1 and cal.method == "ok_percentile"


def test_separated_classes_put_the_threshold_between_them() -> None:
    ok = [1.0, 1.1, 1.2, 1.3]
    ng = [3.0, 3.5, 4.0]
    cal = calibrate(ok, ng)
    assert max(ok) < cal.threshold < min(ng)
    assert cal.separable is True and cal.method == "midpoint"
    assert cal.ng_mean == pytest.approx(3.5)
    assert cal.p5_ng == pytest.approx(np.percentile(ng, 5))


def test_overlapping_classes_choose_the_best_cut() -> None:
    ok = [1.0, 1.2, 1.4, 1.6, 2.6]
    ng = [1.5, 2.2, 2.4, 2.8, 3.0]
    cal = calibrate(ok, ng)
    assert cal.separable is False and cal.method == "youden"
    flagged_ok = sum(s >= cal.threshold for s in ok)
    caught_ng = sum(s >= cal.threshold for s in ng)
    # No other cut catches more NG for as few false alarms: 4 of 5 NG for 1 of 5 OK.
    assert (caught_ng, flagged_ok) == (4, 1)


@pytest.mark.parametrize(
    ("ok", "ng"),
    [([], None), ([1.0, float("nan")], None), ([1.0], [2.0, float("inf")]), ([[1.0]], None)],
)
def test_bad_scores_are_refused(ok: list[float], ng: list[float] | None) -> None:
    with pytest.raises(InvalidScoresError):
        calibrate(ok, ng)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(InvalidScoresError, match="percentile"):
        calibrate([1.0], score_percentile=0)
    with pytest.raises(InvalidScoresError, match="mm_per_px"):
        calibrate([1.0], mm_per_px=0)
    with pytest.raises(InvalidScoresError, match="area"):
        calibrate([1.0], area_mm2_thr=-1)


def test_auroc_counts_ties_as_half_and_refuses_one_class() -> None:
    from domain.inspection.metric import auroc

    assert auroc([False, False, True, True], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auroc([False, True], [0.5, 0.5]) == 0.5
    assert auroc([False, False, True, True], [0.4, 0.1, 0.3, 0.2]) == 0.5
    assert auroc([False, False, True, True], [0.4, 0.3, 0.1, 0.2]) == 0.0
    with pytest.raises(InvalidScoresError):
        auroc([True, True], [0.1, 0.2])
