import numpy as np
import pytest

from domain.inspection.synthetic import DEFECTS, SURFACE_DEFECTS, make_dataset, make_sample


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


@pytest.mark.parametrize("defect", SURFACE_DEFECTS)
def test_hard_surface_defects_stay_inside_their_masks(defect: str) -> None:
    for seed in range(3):
        sample = make_sample("surface", defect, None, seed=seed)  # type: ignore[arg-type]
        clean = make_sample("surface", None, None, seed=seed)
        h, w = sample.image.shape[:2]
        assert clean.image.shape == sample.image.shape and 200 <= min(h, w) and max(h, w) <= 510
        assert sample.is_defect and 0 < sample.mask.sum() < 0.1 * h * w
        differs = (sample.image.astype(int) - clean.image.astype(int)).any(axis=2)
        assert differs.any() and not (differs & ~sample.mask).any()


def test_hard_surface_defects_are_subtle_against_the_grain() -> None:
    # A crack darkens its pixels by less than the surface's own spread of grey levels, so no
    # fixed grey threshold finds it: the detector has to learn the texture.
    sample = make_sample("surface", "crack", None, seed=4)
    gray = sample.image[..., 0].astype(float)
    drop = gray[~sample.mask].mean() - gray[sample.mask].mean()
    assert 0 < drop < 2.5 * gray[~sample.mask].std()


def test_surface_crops_vary_in_size_and_aspect() -> None:
    good, bad = make_dataset("surface", 8, 4, None, seed=3)
    shapes = {s.image.shape[:2] for s in good + bad}
    aspects = [h / w for h, w in shapes]
    assert len(shapes) == 12 and min(aspects) < 0.8 and max(aspects) > 1.25
    assert [s.defect for s in bad] == list(SURFACE_DEFECTS)
