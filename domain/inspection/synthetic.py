"""Synthetic inspection data: textures and machined parts, with scratch, blob and missing-piece
defects and their pixel masks. Used by the tests and by `bench/inspection.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Kind = Literal["texture", "part"]
Defect = Literal["scratch", "blob", "missing"]
DEFECTS: tuple[Defect, ...] = ("scratch", "blob", "missing")


@dataclass(frozen=True)
class Sample:
    """One ROI image with its defect mask (all False for a good sample)."""

    image: npt.NDArray[np.uint8]
    mask: npt.NDArray[np.bool_]
    defect: Defect | None

    @property
    def is_defect(self) -> bool:
        """Whether the sample carries a defect."""
        return self.defect is not None


def _grid(size: tuple[int, int]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    return ys, xs


def _texture(size: tuple[int, int], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """A woven texture: two crossing periodic threads, a random shift and fine grain."""
    ys, xs = _grid(size)
    dy, dx = rng.uniform(0, 40, size=2)
    period = 16.0
    warp = np.sin(2 * np.pi * (xs + dx) / period) ** 2
    weft = np.sin(2 * np.pi * (ys + dy) / period) ** 2
    base = 0.45 + 0.25 * warp * (1 - weft) + 0.15 * weft
    base = base * rng.uniform(0.92, 1.08) + rng.normal(0, 0.025, size)
    tint = np.array([0.95, 0.85, 0.7]) * rng.uniform(0.97, 1.03, 3)
    out: npt.NDArray[np.float64] = base[..., None] * tint
    return out


def _part(
    size: tuple[int, int], rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], tuple[float, float, float]]:
    """A flange on a dark background: ring with bolt holes, slightly shifted and rotated."""
    h, w = size
    ys, xs = _grid(size)
    cy, cx = h / 2 + rng.uniform(-3, 3), w / 2 + rng.uniform(-3, 3)
    outer, inner = 0.42 * min(h, w), 0.16 * min(h, w)
    r = np.hypot(ys - cy, xs - cx)
    theta = np.arctan2(ys - cy, xs - cx)
    body = (r <= outer) & (r >= inner)
    rot = rng.uniform(0, np.pi / 2)
    bolt_r = 0.29 * min(h, w)
    for k in range(4):
        a = rot + k * np.pi / 2
        by, bx = cy + bolt_r * np.sin(a), cx + bolt_r * np.cos(a)
        body &= np.hypot(ys - by, xs - bx) > 0.05 * min(h, w)
    # Brushed metal: radial shading plus fine circumferential grain.
    metal = 0.6 + 0.15 * np.cos(theta - 0.7) + 0.05 * np.sin(r * 0.9) + rng.normal(0, 0.02, size)
    background = 0.12 + rng.normal(0, 0.02, size)
    gray = np.where(body, metal, background) * rng.uniform(0.95, 1.05)
    img = gray[..., None] * np.array([0.9, 0.92, 1.0])
    return img, body, (cy, cx, outer)


def _scratch(
    img: npt.NDArray[np.float64], region: npt.NDArray[np.bool_], rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    h, w = region.shape
    ys, xs = _grid((h, w))
    points = np.argwhere(region)
    y0, x0 = points[rng.integers(len(points))]
    angle = rng.uniform(0, np.pi)
    length = rng.uniform(0.2, 0.35) * min(h, w)
    dy, dx = np.sin(angle), np.cos(angle)
    t = np.clip((ys - y0) * dy + (xs - x0) * dx, 0, length)
    dist = np.hypot(ys - (y0 + t * dy), xs - (x0 + t * dx))
    mask: npt.NDArray[np.bool_] = (dist <= rng.uniform(1.5, 3.0)) & region
    img[mask] = img[mask] * 0.35 + rng.choice([0.0, 0.6])
    return mask


def _blob(
    img: npt.NDArray[np.float64], region: npt.NDArray[np.bool_], rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    h, w = region.shape
    ys, xs = _grid((h, w))
    points = np.argwhere(region)
    y0, x0 = points[rng.integers(len(points))]
    ry, rx = rng.uniform(0.04, 0.09, 2) * min(h, w)
    inside = ((ys - y0) / ry) ** 2 + ((xs - x0) / rx) ** 2
    mask: npt.NDArray[np.bool_] = (inside <= 1.0) & region
    stain = np.array([0.35, 0.2, 0.1]) if rng.random() < 0.5 else np.array([0.9, 0.9, 0.85])
    alpha = np.clip(1.2 - inside, 0, 1)[..., None] * 0.8
    img[:] = img * (1 - alpha * mask[..., None]) + stain * alpha * mask[..., None]
    return mask


def _missing_part(
    img: npt.NDArray[np.float64],
    body: npt.NDArray[np.bool_],
    centre: tuple[float, float, float],
    rng: np.random.Generator,
) -> npt.NDArray[np.bool_]:
    """A chunk broken off the flange rim: that part of the body shows background."""
    cy, cx, outer = centre
    ys, xs = _grid(body.shape)
    a = rng.uniform(0, 2 * np.pi)
    py, px = cy + outer * np.sin(a), cx + outer * np.cos(a)
    chunk = np.hypot(ys - py, xs - px) <= rng.uniform(0.12, 0.2) * outer * 2
    mask: npt.NDArray[np.bool_] = chunk & body
    img[mask] = (0.12 + rng.normal(0, 0.02, int(mask.sum())))[:, None]
    return mask


def _missing_texture(
    img: npt.NDArray[np.float64], rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """A hole in the weave: a patch without threads."""
    h, w = img.shape[:2]
    ph, pw = (rng.uniform(0.08, 0.15, 2) * np.array([h, w])).astype(int)
    y0, x0 = rng.integers(0, h - ph), rng.integers(0, w - pw)
    mask = np.zeros((h, w), dtype=bool)
    mask[y0 : y0 + ph, x0 : x0 + pw] = True
    img[mask] = 0.08 + rng.normal(0, 0.02, (int(mask.sum()), 1))
    return mask


def make_sample(
    kind: Kind,
    defect: Defect | None,
    size: tuple[int, int] = (448, 448),
    *,
    seed: int = 0,
) -> Sample:
    """One synthetic ROI of `kind`, with `defect` (or none) and its mask."""
    rng = np.random.default_rng(seed)
    if kind == "texture":
        img = _texture(size, rng)
        region = np.ones(size, dtype=bool)
        body, centre = region, (0.0, 0.0, 0.0)
    else:
        img, body, centre = _part(size, rng)
        region = body
    mask = np.zeros(size, dtype=bool)
    if defect == "scratch":
        mask = _scratch(img, region, rng)
    elif defect == "blob":
        mask = _blob(img, region, rng)
    elif defect == "missing":
        mask = (
            _missing_texture(img, rng)
            if kind == "texture"
            else _missing_part(img, body, centre, rng)
        )
    image = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Sample(image=image, mask=mask, defect=defect)


def make_dataset(
    kind: Kind,
    n_good: int,
    n_defect: int,
    size: tuple[int, int] = (448, 448),
    *,
    seed: int = 0,
) -> tuple[list[Sample], list[Sample]]:
    """`n_good` good samples and `n_defect` defective ones cycling through every defect kind."""
    good = [make_sample(kind, None, size, seed=seed * 100_003 + i) for i in range(n_good)]
    bad = [
        make_sample(kind, DEFECTS[i % len(DEFECTS)], size, seed=seed * 100_003 + 50_000 + i)
        for i in range(n_defect)
    ]
    return good, bad
