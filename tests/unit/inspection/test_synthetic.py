import numpy as np
import pytest

from domain.inspection.synthetic import DEFECTS, make_dataset, make_sample


@pytest.mark.parametrize("kind", ["part", "texture"])
def test_defects_change_exactly_their_masked_pixels(kind: str) -> None:
    for seed, defect in enumerate(DEFECTS):
        sample = make_sample(kind, defect, (128, 160), seed=seed)  # type: ignore[arg-type]
        clean = make_sample(kind, None, (128, 160), seed=seed)  # type: ignore[arg-type]
        assert sample.image.shape == (128, 160, 3) and sample.image.dtype == np.uint8
        assert sample.is_defect and 20 < sample.mask.sum() < 0.2 * 128 * 160
        differs = (sample.image.astype(int) - clean.image.astype(int)).any(axis=2)
        # Same seed, same scene: the defect is the only change, and it lies inside its mask.
        assert differs.any() and not (differs & ~sample.mask).any()


def test_datasets_are_reproducible_and_cycle_defects() -> None:
    good, bad = make_dataset("part", 3, 4, (64, 64), seed=9)
    again, _ = make_dataset("part", 3, 0, (64, 64), seed=9)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(good, again, strict=True))
    assert not any(s.mask.any() or s.is_defect for s in good)
    assert [s.defect for s in bad] == ["scratch", "blob", "missing", "scratch"]
    assert not np.array_equal(good[0].image, good[1].image)
