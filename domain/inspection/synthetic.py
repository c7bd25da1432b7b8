"""Synthetic inspection data with pixel masks, used by the tests and by `bench/inspection.py`.

Two easy kinds (a woven texture and a machined flange, with scratch, blob and missing-piece
defects) and a hard one, `surface`: a grainy ground surface under an illumination gradient and
vignetting, with thin low-contrast cracks, pin-hole blowholes, frayed edges and uneven patches,
in crops of varied size and aspect ratio, as a line camera cuts them from real parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Kind = Literal["texture", "part", "surface"]
Defect = Literal["scratch", "blob", "missing", "crack", "pinhole", "fray", "uneven"]
DEFECTS: tuple[Defect, ...] = ("scratch", "blob", "missing")
SURFACE_DEFECTS: tuple[Defect, ...] = ("crack", "pinhole", "fray", "uneven")


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


def _smooth(field: npt.NDArray[np.float64], radius: int) -> npt.NDArray[np.float64]:
    """Box blur of a 2-D field (two passes of running sums, edges clamped)."""
    out = field
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius + 1, radius)
        c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis)
        n = out.shape[axis]
        hi = np.take(c, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        out = (hi - lo) / (2 * radius + 1)
    return out


def _surface(size: tuple[int, int], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Ground grey surface: fine grain, grinding streaks, a light gradient and vignetting."""
    h, w = size
    ys, xs = _grid(size)
    grain = rng.normal(0, 0.035, size) + _smooth(rng.normal(0, 0.1, size), 2)
    # Grinding marks run along one axis: a 1-D profile, smeared a little along the marks.
    profile = _smooth(rng.normal(0, 0.12, (1, w)), 1)
    streaks = _smooth(np.repeat(profile, h, axis=0) + rng.normal(0, 0.05, size), 3)
    mottle = _smooth(rng.normal(0, 1.0, size), 24) * 0.6
    angle = rng.uniform(0, 2 * np.pi)
    ramp = ((ys / h - 0.5) * np.sin(angle) + (xs / w - 0.5) * np.cos(angle)) * rng.uniform(0.1, 0.3)
    r2 = ((ys / h - 0.5) ** 2 + (xs / w - 0.5) ** 2) / 0.5
    vignette = 1.0 - rng.uniform(0.15, 0.35) * r2
    base = (rng.uniform(0.35, 0.5) + ramp + grain + streaks + mottle) * vignette
    out: npt.NDArray[np.float64] = base[..., None] * np.ones(3)
    return out


def _crack(img: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """A thin, low-contrast crack: a wandering line one to two pixels wide, a little darker."""
    h, w = img.shape[:2]
    mask = np.zeros((h, w), dtype=bool)
    y, x = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    heading = rng.uniform(0, 2 * np.pi)
    width = rng.uniform(0.6, 1.3)
    for _ in range(int(rng.uniform(0.25, 0.45) * min(h, w))):
        heading += rng.normal(0, 0.15)
        y, x = y + np.sin(heading), x + np.cos(heading)
        y0, y1 = int(max(0, y - width)), int(min(h, y + width + 1))
        x0, x1 = int(max(0, x - width)), int(min(w, x + width + 1))
        mask[y0:y1, x0:x1] = True
    img[mask] *= rng.uniform(0.6, 0.75)
    return mask


def _pinholes(img: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """One to three blowholes: small dark pits a few pixels across with a darker core."""
    h, w = img.shape[:2]
    ys, xs = _grid((h, w))
    mask = np.zeros((h, w), dtype=bool)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w
        r = rng.uniform(2.0, 5.0)
        d = np.hypot(ys - cy, xs - cx) / r
        pit = d <= 1.0
        depth = rng.uniform(0.35, 0.6) * (1.0 - 0.5 * d[pit])
        img[pit] *= (1.0 - depth)[:, None]
        mask |= pit
    return mask


def _fray(img: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """A frayed edge: one side of the crop chipped to an irregular depth, showing the dark gap."""
    h, w = img.shape[:2]
    side = int(rng.integers(4))
    length = w if side < 2 else h
    start = int(rng.uniform(0.1, 0.6) * length)
    span = int(rng.uniform(0.2, 0.4) * length)
    depth = np.zeros(length)
    bumps = _smooth(rng.uniform(0, 1, (1, span)), 3)[0]
    depth[start : start + span] = 3 + bumps / bumps.max() * rng.uniform(6, 14)
    across = np.arange(h if side < 2 else w)[:, None]
    bitten = across < depth[None, :]
    if side == 1 or side == 3:
        bitten = bitten[::-1]
    mask: npt.NDArray[np.bool_] = bitten if side < 2 else bitten.T
    img[mask] = (0.06 + rng.normal(0, 0.02, int(mask.sum())))[:, None]
    return np.ascontiguousarray(mask)


def _uneven(img: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """An uneven patch: an irregular area a little brighter or darker, its grain smoothed."""
    h, w = img.shape[:2]
    ys, xs = _grid((h, w))
    cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
    ry, rx = rng.uniform(0.08, 0.16, 2) * np.array([h, w])
    wobble = _smooth(rng.normal(0, 1.0, (h, w)), 12) * 2.0
    inside = ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 + wobble
    mask: npt.NDArray[np.bool_] = inside <= 1.0
    alpha = np.clip((1.0 - inside) * 3.0, 0.0, 1.0)[mask][:, None]
    smoothed = np.stack([_smooth(img[..., c], 2) for c in range(3)], axis=-1)[mask]
    shift = rng.choice([-1.0, 1.0]) * rng.uniform(0.06, 0.1)
    img[mask] = img[mask] * (1 - alpha) + (smoothed + shift) * alpha
    return mask


def surface_size(rng: np.random.Generator) -> tuple[int, int]:
    """A crop size as the real line gives them: 200–510 px, aspect ratio 0.4–2.5."""
    area = rng.uniform(220, 420) ** 2
    aspect = float(np.exp(rng.uniform(np.log(0.4), np.log(2.5))))
    h = int(np.clip(np.sqrt(area / aspect), 200, 510))
    w = int(np.clip(np.sqrt(area * aspect), 200, 510))
    return h, w


def make_sample(
    kind: Kind,
    defect: Defect | None,
    size: tuple[int, int] | None = (448, 448),
    *,
    seed: int = 0,
) -> Sample:
    """One synthetic ROI of `kind`, with `defect` (or none) and its mask.

    `size=None` draws a crop size (only the `surface` kind varies it; others use 448×448).
    """
    rng = np.random.default_rng(seed)
    if size is None:
        size = surface_size(rng) if kind == "surface" else (448, 448)
    if kind == "surface":
        img = _surface(size, rng)
        defect_rng = np.random.default_rng([seed, 1])
        if defect is None:
            mask = np.zeros(size, dtype=bool)
        elif defect in SURFACE_DEFECTS:
            mask = {"crack": _crack, "pinhole": _pinholes, "fray": _fray, "uneven": _uneven}[
                defect
            ](img, defect_rng)
        else:
            raise ValueError(f"{defect!r} is not a surface defect")
        image = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return Sample(image=image, mask=mask, defect=defect)
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
    size: tuple[int, int] | None = (448, 448),
    *,
    seed: int = 0,
) -> tuple[list[Sample], list[Sample]]:
    """`n_good` good samples and `n_defect` defective ones cycling through every defect kind.

    `size=None` gives the `surface` kind's crops their own sizes and aspect ratios.
    """
    kinds = SURFACE_DEFECTS if kind == "surface" else DEFECTS
    good = [make_sample(kind, None, size, seed=seed * 100_003 + i) for i in range(n_good)]
    bad = [
        make_sample(kind, kinds[i % len(kinds)], size, seed=seed * 100_003 + 50_000 + i)
        for i in range(n_defect)
    ]
    return good, bad
