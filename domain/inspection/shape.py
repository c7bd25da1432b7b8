"""Shape masks (rect, circle, annulus) in ROI pixel coordinates, as the contract sends them."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from domain.inspection.error import InvalidShapeError


class Rect(msgspec.Struct, tag_field="kind", tag="rect", frozen=True, forbid_unknown_fields=True):
    """Axis-aligned rectangle with its top-left corner at `(x, y)`."""

    x: float
    y: float
    w: float
    h: float


class Circle(
    msgspec.Struct, tag_field="kind", tag="circle", frozen=True, forbid_unknown_fields=True
):
    """Disc of radius `r` centred on `(cx, cy)`."""

    cx: float
    cy: float
    r: float


class Annulus(
    msgspec.Struct, tag_field="kind", tag="annulus", frozen=True, forbid_unknown_fields=True
):
    """Ring between radii `r_inner` and `r` centred on `(cx, cy)`."""

    cx: float
    cy: float
    r: float
    r_inner: float


Shape = Rect | Circle | Annulus


def parse_shape(raw: str | bytes | dict[str, Any]) -> Shape:
    """Parse the contract's shape JSON (string or decoded object) into a Shape."""
    try:
        if isinstance(raw, dict):
            shape: Shape = msgspec.convert(raw, Shape)
        else:
            shape = msgspec.json.decode(raw, type=Shape)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidShapeError(f"invalid shape: {exc}") from exc
    values = [float(v) for v in msgspec.structs.astuple(shape)]
    if not all(np.isfinite(values)):
        raise InvalidShapeError("shape coordinates must be finite numbers")
    if isinstance(shape, Rect) and (shape.w <= 0 or shape.h <= 0):
        raise InvalidShapeError("rect needs a positive width and height")
    if isinstance(shape, Circle | Annulus) and shape.r <= 0:
        raise InvalidShapeError("circle radius must be positive")
    if isinstance(shape, Annulus) and not 0 <= shape.r_inner < shape.r:
        raise InvalidShapeError("annulus needs 0 <= r_inner < r")
    return shape


def shape_mask(shape: Shape, height: int, width: int) -> npt.NDArray[np.bool_]:
    """Rasterise a shape over an ROI of `height`×`width` pixels (pixel centres decide)."""
    ys = np.arange(height, dtype=np.float64)[:, None] + 0.5
    xs = np.arange(width, dtype=np.float64)[None, :] + 0.5
    if isinstance(shape, Rect):
        mask = (
            (xs >= shape.x) & (xs < shape.x + shape.w) & (ys >= shape.y) & (ys < shape.y + shape.h)
        )
    else:
        dist2 = (xs - shape.cx) ** 2 + (ys - shape.cy) ** 2
        mask = dist2 <= shape.r**2
        if isinstance(shape, Annulus):
            mask &= dist2 >= shape.r_inner**2
    if not mask.any():
        raise InvalidShapeError(
            f"shape covers no pixel of the {width}×{height} ROI; coordinates must match the ROI"
        )
    return np.ascontiguousarray(mask)


def check_inside(shape: Shape, height: int, width: int) -> None:
    """Refuse a shape that reaches outside an ROI of `height`×`width` pixels: its coordinates
    were meant for another crop size."""
    if isinstance(shape, Rect):
        left, top, right, bottom = shape.x, shape.y, shape.x + shape.w, shape.y + shape.h
    else:
        left, top = shape.cx - shape.r, shape.cy - shape.r
        right, bottom = shape.cx + shape.r, shape.cy + shape.r
    # Half a pixel of slack: a GUI rounds its canonical coordinates.
    if left < -0.5 or top < -0.5 or right > width + 0.5 or bottom > height + 0.5:
        raise InvalidShapeError(
            f"shape reaches outside the {width}×{height} ROI (it spans x {left:g}..{right:g}, "
            f"y {top:g}..{bottom:g}); coordinates must match the ROI crop"
        )
