import math

import pytest

from domain.inspection.error import InvalidShapeError
from domain.inspection.shape import Annulus, Circle, Rect, parse_shape, shape_mask


def test_contract_examples_parse() -> None:
    assert parse_shape('{"kind": "rect", "x": 0, "y": 0, "w": 448, "h": 448}') == Rect(
        0, 0, 448, 448
    )
    assert parse_shape({"kind": "circle", "cx": 224, "cy": 224, "r": 210}) == Circle(224, 224, 210)
    assert parse_shape(
        '{"kind": "annulus", "cx": 224, "cy": 224, "r": 210, "r_inner": 150}'
    ) == Annulus(224, 224, 210, 150)


@pytest.mark.parametrize(
    "raw",
    [
        "{}",
        '{"kind": "polygon", "points": []}',
        '{"kind": "rect", "x": 0, "y": 0, "w": -1, "h": 5}',
        '{"kind": "circle", "cx": 1, "cy": 1}',
        '{"kind": "annulus", "cx": 1, "cy": 1, "r": 5, "r_inner": 6}',
        '{"kind": "circle", "cx": 1, "cy": 1, "r": NaN}',
        "not json",
    ],
)
def test_malformed_shapes_are_refused(raw: str) -> None:
    with pytest.raises(InvalidShapeError):
        parse_shape(raw)


def test_masks_cover_the_expected_area() -> None:
    rect = shape_mask(Rect(10, 20, 30, 40), 100, 100)
    assert rect.sum() == 30 * 40 and rect[20, 10] and not rect[19, 10] and not rect[20, 40]
    circle = shape_mask(Circle(50, 50, 30), 100, 100)
    assert abs(circle.sum() - math.pi * 30**2) < 0.02 * math.pi * 30**2
    ring = shape_mask(Annulus(50, 50, 30, 20), 100, 100)
    assert abs(ring.sum() - math.pi * (30**2 - 20**2)) < 0.03 * math.pi * (30**2 - 20**2)
    assert not ring[50, 50] and ring[50, 75]


def test_shape_outside_the_roi_is_refused() -> None:
    with pytest.raises(InvalidShapeError, match="covers no pixel"):
        shape_mask(Circle(1000, 1000, 10), 224, 224)
