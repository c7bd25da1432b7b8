"""The contract's naming rules: recipe ids, model keys, dataset names, sample file names."""

from __future__ import annotations

import base64

import pytest

from domain.inspection.error import InvalidShapeError
from domain.inspection.recipe import (
    InvalidNameError,
    RecipeError,
    base_name,
    check_filename,
    check_label,
    meta_name,
    model_key,
    resolve_recipe,
    same_scale,
)
from domain.inspection.shape import Circle, Rect, check_inside


def test_recipe_precedence_is_field_then_header_then_default() -> None:
    assert resolve_recipe("Line-A", "other") == "line-a"
    assert resolve_recipe(None, " Line_B ") == "line_b"
    assert resolve_recipe("  ", "x1") == "x1"
    assert resolve_recipe(None, None) == "default"
    assert resolve_recipe("", "") == "default"


@pytest.mark.parametrize("bad", ["last", "LAST", "-a", "a b", "a/b", "x" * 65, "é"])
def test_bad_or_reserved_recipes_are_refused(bad: str) -> None:
    with pytest.raises(RecipeError):
        resolve_recipe(bad, None)


def test_model_keys_are_sanitised_and_default_to_the_roi() -> None:
    assert model_key(None, "roi 1/ä") == "roi_1__"
    assert model_key("key.v2", "roi") == "key.v2"
    assert len(model_key("k" * 200, "roi")) == 80
    # A key that would name a directory is not one.
    assert model_key("..", "roi") == "__"
    assert model_key(".", "roi") == "_"


def test_dataset_names_are_urlsafe_base64_without_padding() -> None:
    name = base_name("Inspection", "roi/1?")
    role, roi = name.split("__")
    assert base64.urlsafe_b64decode(role + "==").decode() == "Inspection"
    assert base64.urlsafe_b64decode(roi + "==").decode() == "roi/1?"
    assert "=" not in name and "/" not in name


@pytest.mark.parametrize("bad", ["", "..", "../x.png", "a/b.png", "a\\b.png", ".hidden", "a..b"])
def test_sample_names_stay_in_their_folder(bad: str) -> None:
    with pytest.raises(InvalidNameError):
        check_filename(bad)


def test_labels_and_meta_names() -> None:
    assert check_label("ok") == "ok" and check_label("ng") == "ng"
    with pytest.raises(InvalidNameError):
        check_label("OK")
    assert meta_name("20260101-000000-000001.png") == "20260101-000000-000001.json"


def test_scales_within_a_millionth_are_the_same_lock() -> None:
    assert same_scale(0.1, 0.1 * (1 + 5e-7))
    assert not same_scale(0.1, 0.1 * (1 + 5e-6))


def test_a_shape_must_lie_inside_its_crop() -> None:
    check_inside(Rect(x=0, y=0, w=96, h=96), 96, 96)
    check_inside(Circle(cx=48, cy=48, r=48.4), 96, 96)
    with pytest.raises(InvalidShapeError):
        check_inside(Rect(x=10, y=10, w=96, h=20), 96, 96)
    with pytest.raises(InvalidShapeError):
        check_inside(Circle(cx=224, cy=224, r=210), 96, 96)
