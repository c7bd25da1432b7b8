"""Inspection engine figures: image/pixel AUROC, fit, coreset, search and infer timings.

    python -m bench.inspection                 # generated set + every timing (make bench)
    python -m bench.inspection --data DIR      # any folder with good/, defect/, optional masks/
    python -m bench.inspection --only http     # /inspection/infer over HTTP vs the engine alone

With `--data` a recipe table comes first (image and pixel AUROC per backbone and recipe, crops
at their own size, per defect kind when defect/ has sub-folders; `--backbones`, `--recipes`,
`--fit-crops`, `--held`, `--fit-extra` for more good crops to fit on, `--max-coreset`), then,
unless `--recipes-only`, the engine's default on crops resized to one ROI; the last line is
`image_auroc=<x> pixel_auroc=<y or na> infer_ms_p50=<z>`. The real magnetic-tile set:
`python -m bench.magnetic_tile GIT_DIR DIR --extra` (README, inspection accuracy).
`--threads 1` is the fastest on a shared, loaded CPU (OpenMP threads spin against each other
there).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from domain.inspection.backbone import (
    DINOV2,
    EFFICIENTNET_LITES,
    Backbone,
    aggregate,
    load_backbone,
    load_efficientnet_lite,
    resolve_device,
)
from domain.inspection.calibration import calibrate
from domain.inspection.coreset import greedy_coreset
from domain.inspection.heatmap import BLUR_SIGMA, gaussian_blur, smoothed_scores
from domain.inspection.image import (
    RGBImage,
    aspect_size,
    decode_image,
    normalise_contrast,
    resize_image,
)
from domain.inspection.inspector import Inspector
from domain.inspection.memory import MemoryBank
from domain.inspection.metric import auroc
from domain.inspection.neighbour import nearest
from domain.inspection.synthetic import Kind, make_dataset

IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(
    fn: Callable[[], object], device: torch.device, repeat: int, warmup: int = 2
) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _p(times: Sequence[float], q: float) -> float:
    return float(np.percentile(times, q))


def evaluate(
    inspector: Inspector,
    good: Sequence[RGBImage],
    defect: Sequence[RGBImage],
    masks: Sequence[np.ndarray | None],
    *,
    seed: int = 0,
    coreset_rate: float = 0.1,
) -> tuple[float, float | None, float]:
    """Fit on a seeded random half of `good`; score the rest and every defect image."""
    order = np.random.default_rng(seed).permutation(len(good))
    half = max(1, len(good) // 2)
    fit = [good[i] for i in order[:half]]
    held = [good[i] for i in order[half:]]
    bank, _ = inspector.fit(fit, coreset_rate=coreset_rate)
    test = held + list(defect)
    labels = [False] * len(held) + [True] * len(defect)
    scores, pixel_labels, pixel_scores, times = [], [], [], []
    h, w = good[0].shape[:2]
    test_masks: list[np.ndarray | None] = [np.zeros((h, w), bool) for _ in held]
    test_masks.extend(masks)
    for image, mask in zip(test, test_masks, strict=True):
        start = time.perf_counter()
        result = inspector.infer(bank, image, mm_per_px=0.1)
        times.append((time.perf_counter() - start) * 1e3)
        scores.append(result.score)
        if mask is not None:
            amap = next(inspector.score_maps(bank, [image]))[1]
            pixel_labels.append(mask.ravel())
            pixel_scores.append(amap.ravel())
    image_auc = auroc(labels, scores)
    pixel_auc = None
    labels_px = np.concatenate(pixel_labels) if pixel_labels else np.zeros(0, bool)
    if any(m is not None for m in masks) and labels_px.any() and not labels_px.all():
        pixel_auc = auroc(labels_px, np.concatenate(pixel_scores))
    return image_auc, pixel_auc, statistics.median(times)


def _line(image_auc: float, pixel_auc: float | None, p50: float) -> str:
    px = "na" if pixel_auc is None else f"{pixel_auc:.4f}"
    return f"image_auroc={image_auc:.4f} pixel_auroc={px} infer_ms_p50={p50:.1f}"


def _read_folder(
    root: Path, size: tuple[int, int]
) -> tuple[list[RGBImage], list[RGBImage], list[np.ndarray | None]]:
    def images(sub: str) -> list[Path]:
        folder = root / sub
        if not folder.is_dir():
            raise SystemExit(f"{folder} is missing")
        return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT)

    good = [resize_image(decode_image(p.read_bytes()), size) for p in images("good")]
    defect_paths = images("defect")
    defect = [resize_image(decode_image(p.read_bytes()), size) for p in defect_paths]
    masks: list[np.ndarray | None] = []
    for p in defect_paths:
        mask_path = root / "masks" / f"{p.stem}.png"
        if mask_path.is_file():
            with Image.open(mask_path) as m:
                resized = m.convert("L").resize((size[1], size[0]), Image.Resampling.NEAREST)
                masks.append(np.asarray(resized) > 0)
        else:
            masks.append(None)
    if len(good) < 2 or not defect:
        raise SystemExit("need at least 2 good/ images and 1 defect/ image")
    return good, defect, masks


def _roi_size(backbone: Backbone, size: int) -> tuple[int, int]:
    side = max(2, round(size / backbone.stride)) * backbone.stride
    return side, side


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How crops become patch features and scores; `side=None` keeps a crop's own size."""

    name: str
    square: bool = False
    side: int | None = None
    stride: int = 16
    neighbourhood: int = 3
    score_sigma: float = 0.0
    normalise: bool = False
    # PatchCore eq. 7: the image score weighed by how dense the bank is around its patch.
    reweight: bool = False
    # Gaussian σ (pixels) of the full-resolution anomaly map.
    blur_sigma: float = BLUR_SIGMA

    def prepare(self, image: RGBImage) -> RGBImage:
        """The crop as the backbone sees it under this recipe."""
        image = resize_image(image, self.size(*image.shape[:2]))
        return normalise_contrast(image) if self.normalise else image

    def size(self, height: int, width: int) -> tuple[int, int]:
        if self.square:
            side = self.side or 448
            return side, side
        return aspect_size(height, width, 16, self.side)


RECIPES = (
    # What the engine did: every crop squashed to 448², stride-16 grid, raw maximum.
    Recipe("square448", square=True, side=448),
    Recipe("native", side=None),
    Recipe("native+smooth", side=None, score_sigma=1.0),
    Recipe("native+norm+smooth", side=None, normalise=True, score_sigma=1.0),
    Recipe("native+norm+smooth+rw", side=None, normalise=True, score_sigma=1.0, reweight=True),
    Recipe("native+norm+smooth+g8", side=None, normalise=True, score_sigma=2.0, stride=8),
    Recipe("native+norm+smooth+blur2", side=None, normalise=True, score_sigma=1.0, blur_sigma=2),
    Recipe("native+norm+smooth+blur8", side=None, normalise=True, score_sigma=1.0, blur_sigma=8),
    Recipe("native448", side=448),
    Recipe("native448+smooth", side=448, score_sigma=1.0),
    Recipe("native448+norm", side=448, normalise=True),
    Recipe("native448+norm+smooth", side=448, normalise=True, score_sigma=1.0),
    Recipe("native448+g8", side=448, stride=8),
    Recipe("native448+g8+smooth", side=448, stride=8, score_sigma=2.0),
)


def _good_crops(folder: Path) -> list[RGBImage]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT)
    return [decode_image(p.read_bytes()) for p in paths]


def _crops(
    root: Path,
) -> tuple[list[RGBImage], list[RGBImage], list[np.ndarray], list[str]]:
    """Crops at their own size, with each defect's kind (its sub-folder of defect/, if any);
    a defect without a mask file counts as all defect."""

    def images(sub: str) -> list[Path]:
        folder = root / sub
        if not folder.is_dir():
            raise SystemExit(f"{folder} is missing")
        return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT)

    good = [decode_image(p.read_bytes()) for p in images("good")]
    defect_paths = images("defect")
    defect = [decode_image(p.read_bytes()) for p in defect_paths]
    masks = []
    for p, img in zip(defect_paths, defect, strict=True):
        mask_path = root / "masks" / f"{p.stem}.png"
        if mask_path.is_file():
            with Image.open(mask_path) as m:
                masks.append(np.asarray(m.convert("L")) > 127)
        else:
            masks.append(np.ones(img.shape[:2], bool))
    if len(good) < 2 or not defect:
        raise SystemExit("need at least 2 good/ images and 1 defect/ image")
    kinds = [str(p.parent.relative_to(root / "defect")) for p in defect_paths]
    return good, defect, masks, [k if k != "." else "defect" for k in kinds]


@dataclasses.dataclass(frozen=True)
class RecipeResult:
    """One recipe's figures on one fit/test split."""

    recipe: Recipe
    image_auroc: float
    pixel_auroc: float
    bank: int
    coreset_s: float
    scores: list[float]


def evaluate_recipes(
    backbone_name: str,
    recipes: Sequence[Recipe],
    fit: Sequence[RGBImage],
    test: Sequence[RGBImage],
    labels: Sequence[bool],
    masks: Sequence[np.ndarray],
    *,
    coreset_rate: float = 0.1,
    max_coreset: int = 10_000,
) -> list[RecipeResult]:
    """Image and pixel AUROC of each recipe, crops embedded once per processing size.

    Pixel AUROC is taken at each crop's own resolution, so recipes that process crops at
    other sizes are judged on the same pixels.
    """
    cpu = torch.device("cpu")
    net = load_efficientnet_lite(backbone_name, cpu, stride=8)
    out = []
    by_size: dict[tuple[bool, int | None, bool], list[Recipe]] = {}
    for r in recipes:
        by_size.setdefault((r.square, r.side, r.normalise), []).append(r)
    for group in by_size.values():

        def maps(img: RGBImage, r: Recipe = group[0]) -> list[torch.Tensor]:
            return net.feature_maps([r.prepare(img)])[0]

        fit_maps = [maps(i) for i in fit]
        test_maps = [maps(i) for i in test]
        for r in group:

            def feats(m: list[torch.Tensor], r: Recipe = r) -> torch.Tensor:
                grid = (m[0].shape[-2] * 8 // r.stride, m[0].shape[-1] * 8 // r.stride)
                return aggregate(m, grid, r.neighbourhood)[0]

            bank = torch.cat([feats(m).reshape(-1, net.dim) for m in fit_maps])
            keep = min(len(bank), max_coreset, max(1, round(coreset_rate * len(bank))))
            start = time.perf_counter()
            bank = bank[greedy_coreset(bank, keep)].contiguous()
            coreset_s = time.perf_counter() - start
            norm = (bank * bank).sum(1)
            scores, px_scores, px_labels = [], [], []
            for m, img, mask in zip(test_maps, test, masks, strict=True):
                f = feats(m)
                flat = f.reshape(-1, net.dim)
                dist, idx = nearest(flat, bank, bank_sq_norm=norm)
                # As the engine does: the map is smoothed before the image score is read off it.
                patch = smoothed_scores(dist[:, 0].reshape(1, *f.shape[:2]), r.score_sigma)
                score = float(patch.max())
                if r.reweight:
                    # As Inspector._reweight: 1 - softmax of the distances from the top patch
                    # to its nearest bank feature's 9 nearest bank features.
                    best = int(patch.reshape(-1).argmax())
                    _, support = nearest(bank[idx[best]], bank, 9, bank_sq_norm=norm)
                    d = torch.linalg.vector_norm(flat[best] - bank[support[0]], dim=1)
                    score *= 1.0 - float(torch.softmax(d, dim=0)[0])
                scores.append(score)
                up = F.interpolate(patch[:, None], size=img.shape[:2], mode="bilinear")
                amap = gaussian_blur(up[:, 0], r.blur_sigma)[0]
                # Every 4th pixel: the same ranking at a quarter of the sorting.
                px_scores.append(amap.numpy().ravel()[::4])
                px_labels.append(mask.ravel()[::4])
            pixel = auroc(np.concatenate(px_labels), np.concatenate(px_scores))
            out.append(RecipeResult(r, auroc(labels, scores), pixel, len(bank), coreset_s, scores))
    return out


def bench_recipes(
    good: Sequence[RGBImage],
    defect: Sequence[RGBImage],
    masks: Sequence[np.ndarray],
    backbones: Sequence[str],
    recipes: Sequence[Recipe],
    *,
    label: str,
    n_fit: int,
    n_held: int,
    seed: int = 0,
    kinds: Sequence[str] = (),
    extra_fit: Sequence[RGBImage] = (),
    max_coreset: int = 10_000,
) -> None:
    """Test on `n_held` seeded good crops and every defect; fit on `n_fit` of the other good
    crops, then of `extra_fit`. The held-out crops do not depend on `n_fit`, so figures for
    several fit sizes compare on one test set. With defect `kinds`, image AUROC per kind too."""
    order = np.random.default_rng(seed).permutation(len(good))
    n_held = min(n_held, len(good) - 1)
    held = [good[i] for i in order[:n_held]]
    pool = [good[i] for i in order[n_held:]] + list(extra_fit)
    fit = pool[:n_fit]
    labels = [False] * len(held) + [True] * len(defect)
    all_masks = [np.zeros(g.shape[:2], bool) for g in held] + list(masks)
    print(f"{label}: fit {len(fit)} good, test {len(held)} good + {len(defect)} defect")
    for name in backbones:
        for res in evaluate_recipes(
            name, recipes, fit, held + list(defect), labels, all_masks, max_coreset=max_coreset
        ):
            good_scores = res.scores[: len(held)]
            per_kind = []
            for kind in sorted(set(kinds)) if len(set(kinds)) > 1 else ():
                bad = [s for s, k in zip(res.scores[len(held) :], kinds, strict=True) if k == kind]
                ok = [False] * len(good_scores) + [True] * len(bad)
                per_kind.append(f"{kind} {auroc(ok, good_scores + bad):.2f}")
            print(
                f"{label} {name} {res.recipe.name:24s} image_auroc={res.image_auroc:.4f} "
                f"pixel_auroc={res.pixel_auroc:.4f} (bank {res.bank}, coreset "
                f"{res.coreset_s:.1f} s)"
                + (f"; image by kind: {', '.join(per_kind)}" if per_kind else ""),
                flush=True,
            )


def bench_generated(inspector: Inspector, size: int) -> None:
    """Image and pixel AUROC on generated parts and textures (all defect kinds)."""
    roi = _roi_size(inspector.backbone, size)
    rows = []
    kinds: tuple[Kind, ...] = ("part", "texture")
    for kind in kinds:
        good, bad = make_dataset(kind, 30, 15, roi, seed=7)
        image_auc, pixel_auc, p50 = evaluate(
            inspector, [s.image for s in good], [s.image for s in bad], [s.mask for s in bad]
        )
        rows.append((image_auc, pixel_auc or 0.0, p50))
        line = _line(image_auc, pixel_auc, p50)
        print(f"generated {kind:7s} {roi[1]}×{roi[0]} {inspector.model}: {line}")
    mean = [statistics.mean(col) for col in zip(*rows, strict=True)]
    print(f"generated mean: {_line(mean[0], mean[1], mean[2])}")


def bench_fit(inspector: Inspector, n: int, size: int, kind: Kind = "part") -> MemoryBank:
    """Fit time for `n` ROIs of a generated set."""
    roi = _roi_size(inspector.backbone, size)
    good, _ = make_dataset(kind, n, 0, roi, seed=11)
    images = [s.image for s in good]
    embedded: list[float] = []

    def note(_: float, what: str) -> None:
        # The last "embedded i/n" report marks the end of embedding; the coreset follows.
        if what.startswith("embedded"):
            embedded.append(time.perf_counter())

    start = time.perf_counter()
    bank, report = inspector.fit(images, progress=note)
    end = time.perf_counter()
    embed_s = (embedded[-1] if embedded else end) - start
    print(
        f"fit {n} {kind} ROIs {roi[1]}×{roi[0]} {inspector.model} grid {inspector.backbone.stride} "
        f"on {inspector.device}: {end - start:.1f} s (embedding {embed_s:.1f} s, "
        f"coreset {end - start - embed_s:.1f} s; load avg {os.getloadavg()[0]:.1f}) "
        f"(n_embeddings={report.n_embeddings}, coreset={report.coreset_size}, "
        f"rate applied={report.coreset_rate_applied:.3f})"
    )
    return bank


def bench_infer(inspector: Inspector, bank: MemoryBank, repeat: int) -> None:
    """Latency of one defective ROI (decode excluded, heatmap PNG and regions included)."""
    h, w = bank.image_size
    good, bad = make_dataset("part", 5, 1, (h, w), seed=13)
    # A calibrated threshold, so regions are what a real ROI yields rather than the whole map.
    threshold = calibrate(inspector.score(bank, [s.image for s in good])).threshold
    image = bad[0].image

    def once() -> None:
        inspector.infer(bank, image, mm_per_px=0.1, threshold=threshold)

    times = _timed(once, inspector.device, repeat)
    print(
        f"infer {w}×{h} {inspector.model} grid {inspector.backbone.stride} on {inspector.device} "
        f"(bank {bank.coreset_size}): "
        f"p50={_p(times, 50):.1f} ms p99={_p(times, 99):.1f} ms"
    )


def bench_coreset(device: torch.device, n: int = 100_000, dim: int = 152) -> None:
    """Greedy coreset on `n` patches: vectorised update vs the naive per-step norm."""
    feats = torch.randn(n, dim, generator=torch.Generator().manual_seed(0)).to(device)
    k = n // 100
    seconds = _timed(functools.partial(greedy_coreset, feats, k), device, 1, warmup=0)[0] / 1e3
    # Every greedy step costs the same, so a 10% coreset takes ten times as long as a 1% one.
    print(
        f"coreset {k} of {n} patches ({dim}-d) on {device}: {seconds:.1f} s "
        f"(10% = {10 * k} centres: ~{10 * seconds:.0f} s by the same per-step cost)"
    )
    steps = 50

    def naive() -> None:
        min_d = torch.full((n,), float("inf"), device=device)
        current = 0
        for _ in range(steps):
            d = torch.linalg.vector_norm(feats - feats[current], dim=1)
            min_d = torch.minimum(min_d, d)
            current = int(torch.argmax(min_d))

    naive_ms = _timed(naive, device, 1, warmup=0)[0] / steps
    fast_ms = seconds * 1e3 / k
    print(
        f"coreset step at {n} patches: vectorised {fast_ms:.2f} ms, naive {naive_ms:.2f} ms "
        f"({naive_ms / fast_ms:.1f}× slower)"
    )


def bench_search(device: torch.device) -> None:
    """Exact nearest-neighbour search of one ROI's patches: torch matmul vs faiss flat L2."""
    from domain.inspection.neighbour import faiss_index_for

    gen = torch.Generator().manual_seed(0)
    for label, q, m, d in (("lite0 448", 784, 10_000, 152), ("dinov2 448", 1024, 20_000, 384)):
        queries = torch.randn(q, d, generator=gen).to(device)
        bank = torch.randn(m, d, generator=gen).to(device)
        norm = (bank * bank).sum(1)
        index = faiss_index_for(bank)

        def by_torch(
            q: torch.Tensor = queries, b: torch.Tensor = bank, n: torch.Tensor = norm
        ) -> None:
            nearest(q, b, bank_sq_norm=n)

        def by_faiss(q: torch.Tensor = queries, b: torch.Tensor = bank, i: object = index) -> None:
            nearest(q, b, method="faiss", faiss_index=i)

        t_torch = _timed(by_torch, device, 10)
        t_faiss = _timed(by_faiss, device, 10)
        print(
            f"search {label} ({q} queries × {m} bank, {d}-d) on {device}: "
            f"torch p50={_p(t_torch, 50):.1f} ms, faiss(cpu) p50={_p(t_faiss, 50):.1f} ms"
        )


def _dinov2_file(args: argparse.Namespace) -> tuple[str, bool]:
    if args.dinov2_weights:
        return args.dinov2_weights, True
    import timm

    # Without real weights the timings still hold: same architecture, same FLOPs.
    net = timm.create_model(DINOV2, pretrained=False, num_classes=0, img_size=448)
    path = os.path.join(tempfile.mkdtemp(prefix="dinov2-"), "random.pth")
    torch.save(net.state_dict(), path)
    return path, False


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, help="folder with good/, defect/ and optional masks/")
    parser.add_argument(
        "--size", type=int, default=448, help="ROI side in pixels (rounded to the grid)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--dinov2-weights", default="", help="DINOv2 ViT-S/14 weights file")
    parser.add_argument("--fit-rois", type=int, default=200)
    parser.add_argument(
        "--dinov2-fit-rois",
        type=int,
        default=0,
        help="ROIs for the DINOv2 fit timing (default: --fit-rois on CUDA, 40 on the CPU)",
    )
    parser.add_argument(
        "--only",
        choices=["generated", "surface", "latency", "search", "coreset", "lite0", "dinov2", "http"],
        action="append",
        help="run only these sections (repeatable)",
    )
    parser.add_argument("--repeat", type=int, default=30, help="timed inferences per backbone")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (http)")
    parser.add_argument(
        "--backbones",
        default=",".join(EFFICIENTNET_LITES),
        help="comma-separated backbones for the recipe table",
    )
    parser.add_argument(
        "--recipes",
        default=",".join(r.name for r in RECIPES),
        help="comma-separated recipes for the recipe table",
    )
    parser.add_argument("--fit-crops", type=int, default=120, help="good crops fitted per recipe")
    parser.add_argument("--held", type=int, default=60, help="held-out good crops tested")
    parser.add_argument(
        "--fit-extra",
        type=Path,
        help="folder of more good crops, fitted after good/'s (bench.magnetic_tile --extra)",
    )
    parser.add_argument(
        "--recipes-only", action="store_true", help="with --data: skip the engine's 448² line"
    )
    parser.add_argument(
        "--max-coreset", type=int, default=10_000, help="bank size cap for the recipe table"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (0: torch's default); 1 is fastest on a shared, loaded machine",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    known = {r.name: r for r in RECIPES}
    unknown = [n for n in args.recipes.split(",") if n not in known]
    if unknown:
        parser.error(f"unknown recipes {unknown}; known: {list(known)}")
    recipes = [known[n] for n in args.recipes.split(",")]
    backbones = args.backbones.split(",")
    device, reason = resolve_device(args.device)
    why = "" if reason is None else f" ({reason})"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    # Timings on a shared machine move with its load; the figure tells how much to trust them.
    print(f"device={device}{why} torch threads={torch.get_num_threads()} load avg {load}")

    if args.data is not None:
        crops, defect_crops, crop_masks, kinds = _crops(args.data)
        bench_recipes(
            crops,
            defect_crops,
            crop_masks,
            backbones,
            recipes,
            label=args.data.name,
            n_fit=args.fit_crops,
            n_held=args.held,
            seed=args.seed,
            kinds=kinds,
            extra_fit=_good_crops(args.fit_extra) if args.fit_extra else (),
            max_coreset=args.max_coreset,
        )
        if args.recipes_only:
            return
        inspector = Inspector(load_backbone(args.dinov2_weights, device))
        roi = _roi_size(inspector.backbone, args.size)
        good, defect, masks = _read_folder(args.data, roi)
        print(f"{args.data}: {len(good)} good, {len(defect)} defect, ROI {roi[1]}×{roi[0]}")
        print(f"backbone {inspector.model} (the engine's default, every crop resized to the ROI)")
        print(_line(*evaluate(inspector, good, defect, masks, seed=args.seed)))
        return

    sections = set(
        args.only
        or ["generated", "surface", "latency", "search", "coreset", "lite0", "dinov2", "http"]
    )
    if "http" in sections:
        from bench.inspection_http import bench_http

        bench_http(args.size, args.repeat, args.clients, device.type)
        sections.discard("http")
        if not sections:
            return
    if "surface" in sections:
        good_s, bad_s = make_dataset("surface", 70, 20, None, seed=5)
        bench_recipes(
            [s.image for s in good_s],
            [s.image for s in bad_s],
            [s.mask for s in bad_s],
            backbones,
            recipes,
            label="generated surface",
            n_fit=50,
            n_held=20,
            seed=args.seed,
        )
    if "latency" in sections:
        for name in backbones:
            for stride in (16, 8):
                net = load_efficientnet_lite(name, device, stride=stride)
                bank = bench_fit(Inspector(net), args.fit_rois, args.size, kind="surface")
                bench_infer(Inspector(net), bank, args.repeat)
    lite0 = Inspector(load_backbone(None, device))
    if "generated" in sections:
        bench_generated(lite0, args.size)
    if "search" in sections:
        bench_search(device)
    if "coreset" in sections:
        bench_coreset(device)
    if "lite0" in sections:
        bank = bench_fit(lite0, args.fit_rois, args.size)
        bench_infer(lite0, bank, args.repeat)
    if "dinov2" in sections:
        dino_path, real = _dinov2_file(args)
        dino = Inspector(load_backbone(dino_path, device))
        if not real:
            print("dinov2: no weights file given, timings use random weights of the same network")
        # A ViT-S/14 forward at 448 px takes most of a second on a small CPU: fewer ROIs keep
        # the CPU run short. The infer line prints the bank size its search ran against.
        n_fit = args.dinov2_fit_rois or (args.fit_rois if device.type == "cuda" else 40)
        dino_bank = bench_fit(dino, n_fit, args.size)
        bench_infer(dino, dino_bank, max(5, args.repeat // 3))


if __name__ == "__main__":
    main()
