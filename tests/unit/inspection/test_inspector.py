import io

import numpy as np
import pytest
from PIL import Image

from domain.inspection.backbone import DinoV2, EfficientNetLite0
from domain.inspection.calibration import calibrate
from domain.inspection.error import (
    EmptyTrainingSetError,
    GridMismatchError,
    InvalidImageError,
    InvalidParameterError,
)
from domain.inspection.inspector import Inspector
from domain.inspection.memory import MemoryBank
from domain.inspection.metric import auroc
from domain.inspection.model import FitReport, InferResult
from domain.inspection.shape import Annulus, Circle, Rect
from domain.inspection.synthetic import Sample, make_dataset, make_sample

Data = tuple[list[Sample], list[Sample]]
Fitted = tuple[MemoryBank, FitReport]
MM = 0.1


@pytest.fixture(scope="module")
def threshold(inspector: Inspector, parts: Data, parts_bank: Fitted) -> float:
    """Threshold calibrated on held-out good flanges that the tests below never score."""
    good, _ = parts
    ok = inspector.score(parts_bank[0], [s.image for s in good[20:]])
    return calibrate(ok, score_percentile=100).threshold * 1.1


@pytest.fixture(scope="module")
def parts_results(
    inspector: Inspector, parts: Data, parts_bank: Fitted, threshold: float
) -> list[InferResult]:
    good, bad = parts
    images = [s.image for s in good[16:20] + bad]
    return inspector.infer_many(parts_bank[0], images, mm_per_px=MM, threshold=threshold)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _overlaps(box: tuple[int, int, int, int], mask: np.ndarray) -> bool:
    x, y, w, h = box
    return bool(mask[y : y + h, x : x + w].any())


def _heatmap(result: InferResult) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(result.heatmap_png)))


def test_fit_reports_what_the_memory_holds(parts_bank: Fitted) -> None:
    bank, report = parts_bank
    assert report.n_embeddings == 16 * 14 * 14 == bank.n_embeddings
    assert report.coreset_size == round(0.1 * 16 * 14 * 14) == bank.coreset_size
    assert report.token_shape == (14, 14) and report.n_images == 16
    assert report.coreset_rate_requested == 0.1
    assert report.coreset_rate_applied == pytest.approx(0.1, abs=1e-3)
    assert report.backbone == "tf_efficientnet_lite0"


def test_full_fit_and_size_cap(inspector: Inspector, parts: Data) -> None:
    images = [s.image[:128, :128].copy() for s in parts[0][:4]]
    _, full = inspector.fit(images, full=True)
    assert full.coreset_size == full.n_embeddings == 4 * 8 * 8 and full.coreset_rate_applied == 1.0
    _, capped = inspector.fit(images, coreset_rate=0.5, max_coreset_size=50)
    assert capped.coreset_size == 50 and capped.coreset_rate_requested == 0.5
    assert capped.coreset_rate_applied == pytest.approx(50 / 256)


def test_fit_reports_progress(inspector: Inspector, parts: Data) -> None:
    seen: list[tuple[float, str]] = []
    inspector.fit(
        [s.image[:128, :128].copy() for s in parts[0][:6]],
        progress=lambda p, m: seen.append((p, m)),
    )
    values = [p for p, _ in seen]
    assert values == sorted(values) and values[-1] == 100.0 and 0 <= values[0] < 80
    assert any("embedded" in m for _, m in seen) and any("coreset" in m for _, m in seen)


def test_defective_parts_score_above_good_ones(parts_results: list[InferResult]) -> None:
    labels = [False] * 4 + [True] * 12
    assert auroc(labels, [r.score for r in parts_results]) >= 0.95


def test_defective_textures_score_above_good_ones(inspector: Inspector, textures: Data) -> None:
    good, bad = textures
    bank, _ = inspector.fit([s.image for s in good[:16]])
    scores = inspector.score(bank, [s.image for s in good[16:] + bad])
    assert auroc([False] * 8 + [True] * 12, scores) >= 0.95


def test_regions_and_heatmap_point_at_the_defect(
    parts: Data, parts_results: list[InferResult]
) -> None:
    _, bad = parts
    good_results, bad_results = parts_results[:4], parts_results[4:]
    assert not any(r.is_anomalous for r in good_results)
    assert sum(bool(r.is_anomalous) for r in bad_results) >= 10
    pixel_labels, pixel_scores = [], []
    for sample, result in zip(bad, bad_results, strict=True):
        heat = _heatmap(result)
        assert heat.shape == sample.mask.shape
        pixel_labels.append(sample.mask.ravel())
        pixel_scores.append(heat.ravel())
        if result.regions:
            assert _overlaps(result.regions[0].bbox, sample.mask), sample.defect
    assert auroc(np.concatenate(pixel_labels), np.concatenate(pixel_scores)) >= 0.9


def test_area_mm2_follows_mm_per_px(
    inspector: Inspector, parts: Data, parts_bank: Fitted, threshold: float
) -> None:
    image = parts[1][2].image  # a broken-off rim: a large region
    fine = inspector.infer(parts_bank[0], image, mm_per_px=0.1, threshold=threshold)
    coarse = inspector.infer(parts_bank[0], image, mm_per_px=0.2, threshold=threshold)
    assert fine.regions and [r.area_px for r in fine.regions] == [r.area_px for r in coarse.regions]
    for f, c in zip(fine.regions, coarse.regions, strict=True):
        assert f.area_mm2 == pytest.approx(f.area_px * 0.01)
        assert c.area_mm2 == pytest.approx(4 * f.area_mm2)
    largest = fine.regions[0].area_mm2
    strict = inspector.infer(
        parts_bank[0], image, mm_per_px=0.1, threshold=threshold, area_mm2_thr=largest + 1
    )
    assert strict.regions == [] and strict.is_anomalous is False and strict.score == fine.score


def _blob_sample(parts: Data) -> Sample:
    return next(s for s in parts[1] if s.defect == "blob")


def test_rect_shape_outside_the_defect_hides_it(
    inspector: Inspector, parts: Data, parts_bank: Fitted, threshold: float
) -> None:
    sample = _blob_sample(parts)
    x0, y0, x1, y1 = _bbox(sample.mask)
    # The widest band of the ROI that keeps 24 px away from the defect.
    bands = [
        Rect(0, 0, max(x0 - 24, 1), 224),
        Rect(x1 + 24, 0, max(200 - x1, 1), 224),
        Rect(0, 0, 224, max(y0 - 24, 1)),
        Rect(0, y1 + 24, 224, max(200 - y1, 1)),
    ]
    away = max(bands, key=lambda r: r.w * r.h)
    hidden = inspector.infer(
        parts_bank[0], sample.image, mm_per_px=MM, threshold=threshold, shape=away
    )
    shown = inspector.infer(
        parts_bank[0],
        sample.image,
        mm_per_px=MM,
        threshold=threshold,
        shape=Rect(x0 - 16, y0 - 16, x1 - x0 + 32, y1 - y0 + 32),
    )
    assert hidden.score < threshold <= shown.score
    assert hidden.regions == [] and shown.regions
    for region in shown.regions:
        x, y, w, h = region.bbox
        assert x >= x0 - 16 and y >= y0 - 16 and x + w <= x1 + 16 and y + h <= y1 + 16


def test_circle_and_annulus_shapes_restrict_the_score(
    inspector: Inspector, parts: Data, parts_bank: Fitted, threshold: float
) -> None:
    sample = _blob_sample(parts)
    ys, xs = np.nonzero(sample.mask)
    cy, cx = float(ys.mean()), float(xs.mean())
    around = inspector.infer(
        parts_bank[0], sample.image, mm_per_px=MM, threshold=threshold, shape=Circle(cx, cy, 40)
    )
    assert around.score >= threshold and around.regions
    dist = np.hypot(ys - 112, xs - 112)
    ring = (
        Annulus(112, 112, 112, dist.max() + 24)
        if dist.max() + 24 < 80
        else Annulus(112, 112, dist.min() - 24, 4)
    )
    missed = inspector.infer(
        parts_bank[0], sample.image, mm_per_px=MM, threshold=threshold, shape=ring
    )
    assert missed.score < threshold and missed.regions == []


def test_incremental_update_learns_new_ok_appearance(
    inspector: Inspector, parts: Data, textures: Data
) -> None:
    parts_good, tex_good = parts[0], textures[0]
    bank, first = inspector.fit([s.image for s in parts_good[:6]])
    probe = [tex_good[-1].image]
    before = inspector.score(bank, probe)[0]
    updated, report = inspector.update(bank, [s.image for s in tex_good[:6]])
    after = inspector.score(updated, probe)[0]
    assert after < 0.7 * before
    assert report.n_embeddings == 2 * first.n_embeddings and report.n_images == 12
    assert (
        first.coreset_size
        < report.coreset_size
        <= first.coreset_size + round(0.1 * first.n_embeddings)
    )
    # What the bank already knew is kept: OK parts still score like before.
    part_probe = [parts_good[-1].image]
    assert inspector.score(updated, part_probe)[0] <= inspector.score(bank, part_probe)[0] + 1e-4


def test_batched_scores_match_single_inference(
    inspector: Inspector, parts: Data, parts_bank: Fitted
) -> None:
    images = [s.image for s in parts[0][16:18] + parts[1][:2]]
    batched = inspector.score(parts_bank[0], images)
    single = [inspector.infer(parts_bank[0], img, mm_per_px=MM).score for img in images]
    assert batched == pytest.approx(single, rel=1e-4, abs=1e-4)
    # Clients send encoded files: a PNG of the same ROI scores the same.
    buf = io.BytesIO()
    Image.fromarray(images[-1]).save(buf, format="PNG")
    from_png = inspector.infer(parts_bank[0], buf.getvalue(), mm_per_px=MM).score
    assert from_png == pytest.approx(single[-1], rel=1e-4)


def test_faiss_search_and_reweighting(
    lite0: EfficientNetLite0, parts: Data, parts_bank: Fitted
) -> None:
    images = [s.image for s in parts[0][16:20] + parts[1][:6]]
    plain = Inspector(lite0).score(parts_bank[0], images)
    assert Inspector(lite0, search="faiss").score(parts_bank[0], images) == pytest.approx(
        plain, rel=1e-3
    )
    weighted = Inspector(lite0, reweight=True).score(parts_bank[0], images)
    # Eq. 7 only ever lowers a score; with distances of tens the softmax is sharp, so the
    # change is small but present where the nearest memory feature sits in a sparse area.
    assert all(0 < w <= p for w, p in zip(weighted, plain, strict=True))
    assert any(w < p for w, p in zip(weighted, plain, strict=True))
    assert auroc([False] * 4 + [True] * 6, weighted) >= 0.9


def test_dinov2_backbone_fits_and_infers(dino: DinoV2) -> None:
    good, bad = make_dataset("part", 3, 1, (112, 112), seed=5)
    inspector = Inspector(dino)
    bank, report = inspector.fit([s.image for s in good], full=True)
    assert report.token_shape == (8, 8) and report.backbone == "vit_small_patch14_dinov2.lvd142m"
    result = inspector.infer(bank, bad[0].image, mm_per_px=MM)
    assert result.token_shape == (8, 8) and np.isfinite(result.score)
    with pytest.raises(GridMismatchError, match="tf_efficientnet_lite0"):
        Inspector(dino).infer(_lite0_bank(), bad[0].image, mm_per_px=MM)


def _lite0_bank() -> MemoryBank:
    import torch

    return MemoryBank(
        torch.zeros(4, 152), "tf_efficientnet_lite0", (8, 8), (128, 128), 4, 1, 1.0, True
    )


def test_bad_inputs_get_clear_errors(inspector: Inspector, parts: Data, parts_bank: Fitted) -> None:
    bank = parts_bank[0]
    image = parts[0][0].image
    with pytest.raises(EmptyTrainingSetError):
        inspector.fit([])
    with pytest.raises(InvalidImageError, match="image 1"):
        inspector.fit([image, b"GIF89a but not really"])
    with pytest.raises(GridMismatchError, match="same size"):
        inspector.fit([image, image[:192, :192].copy()])
    with pytest.raises(GridMismatchError, match="multiples of 16"):
        inspector.infer(bank, image[:220].copy(), mm_per_px=MM)
    with pytest.raises(GridMismatchError, match="token grid"):
        inspector.infer(bank, make_sample("part", None, (240, 240)).image, mm_per_px=MM)
    with pytest.raises(GridMismatchError, match="does not match"):
        inspector.update(bank, [image[:192, :192].copy()])
    with pytest.raises(InvalidImageError):
        inspector.score(bank, [])
    with pytest.raises(InvalidParameterError, match="mm_per_px"):
        inspector.infer(bank, image, mm_per_px=0)
    with pytest.raises(InvalidParameterError, match="coreset rate"):
        inspector.fit([image], coreset_rate=0)
    with pytest.raises(InvalidParameterError, match="coreset rate"):
        inspector.fit([image], coreset_rate=float("nan"))


def test_pretrained_features_are_what_finds_the_defects(textures: Data) -> None:
    import timm
    import torch

    from domain.inspection.backbone import fold_batchnorm

    # The same network with random weights: if it scored as well, the generated set would say
    # nothing about the packaged weights (measured: 0.48 to 0.77 AUROC against 1.0).
    torch.manual_seed(0)
    net = timm.create_model("tf_efficientnet_lite0")
    fold_batchnorm(net)
    untrained = Inspector(EfficientNetLite0(net, torch.device("cpu")))
    good, bad = textures
    bank, _ = untrained.fit([s.image for s in good[:16]])
    scores = untrained.score(bank, [s.image for s in good[16:] + bad])
    assert auroc([False] * 8 + [True] * 12, scores) < 0.9


def test_roi_side_resizes_each_roi_at_its_own_aspect(lite0: EfficientNetLite0) -> None:
    wide = Inspector(lite0, roi_side=160)
    good = [make_sample("surface", None, (96, 288), seed=s).image for s in range(4)]
    bank, report = wide.fit(good)
    # About 160² pixels, the 1:3 shape kept (a square resize would give a 10×10 grid).
    assert report.token_shape == (6, 17) and bank.image_size == (96, 288)
    pinhole = make_sample("surface", "pinhole", (96, 288), seed=9)
    result = wide.infer(bank, pinhole.image, mm_per_px=MM)
    # The heatmap comes back at the ROI's own size, whatever size it was embedded at.
    assert _heatmap(result).shape == (96, 288)
    with pytest.raises(InvalidParameterError):
        Inspector(lite0, roi_side=8)


def test_score_sigma_is_validated(lite0: EfficientNetLite0) -> None:
    with pytest.raises(InvalidParameterError):
        Inspector(lite0, score_sigma=-1.0)


def test_normalised_inspector_ignores_a_change_of_exposure(lite0: EfficientNetLite0) -> None:
    inspector = Inspector(lite0, normalise=True)
    good = [make_sample("surface", None, (96, 128), seed=s).image for s in range(6)]
    bank, _ = inspector.fit(good[:5])
    darker = (good[5].astype(np.float32) * 0.6).astype(np.uint8)
    same, dim = inspector.score(bank, [good[5], darker])
    # The same crop shot darker scores as it did, to the rounding of its grey levels.
    assert abs(dim - same) < 0.05 * same
