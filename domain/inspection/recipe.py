"""Naming rules of the inspection contract: recipe ids, model keys, dataset names and where
each artifact lives in the blob store. Pure functions: the API and the workers share them."""

from __future__ import annotations

import base64
import math
import re
from typing import Final, Literal

from domain.inspection.error import InspectionError

DEFAULT_RECIPE: Final = "default"
RESERVED_RECIPES: Final = frozenset({"last"})
ROOT: Final = "inspection"
LABELS: Final = ("ok", "ng")
Label = Literal["ok", "ng"]

_RECIPE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_MODEL_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_MODEL_KEY = 80
# base64 grows a name by a third; both halves of a dataset name must fit one 255-byte segment.
MAX_ID_BYTES = 90
MAX_FILENAME = 120
# Two mm_per_px values within this relative distance are the same lock.
MM_PER_PX_RTOL = 1e-6


class RecipeError(InspectionError):
    """A recipe id that is malformed or reserved."""


class InvalidNameError(InspectionError):
    """A role, ROI, label or file name the contract does not allow."""


class LockMismatchError(InspectionError):
    """A recipe's mm_per_px was locked to another value."""


def resolve_recipe(explicit: str | None, header: str | None) -> str:
    """The contract's precedence: explicit field, then `X-Recipe-Id`, then `default`."""
    raw = explicit if explicit is not None and explicit.strip() else header
    recipe = (raw or "").strip().lower() or DEFAULT_RECIPE
    if recipe in RESERVED_RECIPES:
        raise RecipeError(f"recipe_id '{recipe}' is reserved")
    if not _RECIPE.match(recipe):
        raise RecipeError(
            f"invalid recipe_id {raw!r}: use 1-64 of a-z, 0-9, '_' and '-', starting with a "
            "letter or digit"
        )
    return recipe


def model_key(explicit: str | None, roi_id: str) -> str:
    """`model_key` (default: the ROI id) with unsafe characters as `_`, at most 80 long."""
    raw = explicit if explicit else roi_id
    key = _MODEL_KEY_UNSAFE.sub("_", raw)[:MAX_MODEL_KEY]
    # "." and ".." would name a directory, not a model.
    return key if key.strip(".") else key.replace(".", "_") or "_"


def check_id(name: str, value: str) -> str:
    """A role or ROI id: non-empty text short enough to name a dataset folder."""
    if not value or not value.strip():
        raise InvalidNameError(f"{name} is required")
    if len(value.encode()) > MAX_ID_BYTES:
        raise InvalidNameError(f"{name} is longer than {MAX_ID_BYTES} bytes")
    return value


def check_label(label: str) -> Label:
    if label == "ok":
        return "ok"
    if label == "ng":
        return "ng"
    raise InvalidNameError(f"label must be 'ok' or 'ng', got {label!r}")


def check_filename(filename: str) -> str:
    """A stored sample's name as a client sends it back: one plain segment, nothing above."""
    if (
        not filename
        or len(filename) > MAX_FILENAME
        or "/" in filename
        or "\\" in filename
        or ".." in filename
        or filename.startswith(".")
        or any(ord(c) < 0x20 for c in filename)
    ):
        raise InvalidNameError(f"invalid filename {filename!r}")
    return filename


def check_mm_per_px(value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise InvalidNameError(f"mm_per_px must be a positive finite number, got {value}")
    return value


def same_scale(locked: float, value: float) -> bool:
    return math.isclose(locked, value, rel_tol=MM_PER_PX_RTOL, abs_tol=0.0)


def lock_mismatch(recipe: str, locked: float, value: float) -> LockMismatchError:
    return LockMismatchError(
        f"mm_per_px mismatch for recipe '{recipe}': expected {locked}, got {value}"
    )


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def base_name(role_id: str, roi_id: str) -> str:
    """`base64(role_id) + "__" + base64(roi_id)`, urlsafe without padding."""
    return f"{_b64(role_id)}__{_b64(roi_id)}"


def dataset_prefix(recipe: str, role_id: str, roi_id: str) -> str:
    """`inspection/recipes/<recipe>/datasets/<base_name>`: the folder of ok/ and ng/."""
    return f"{ROOT}/recipes/{recipe}/datasets/{base_name(role_id, roi_id)}"


def sample_key(prefix: str, label: Label, filename: str) -> str:
    return f"{prefix}/{label}/{filename}"


def meta_name(filename: str) -> str:
    """The meta file beside a sample: its stem with `.json`."""
    stem, dot, _ = filename.rpartition(".")
    return f"{stem if dot else filename}.json"


def is_meta(name: str) -> bool:
    return name.endswith(".json")


def model_prefix(recipe: str, key: str) -> str:
    """Where the artifacts of one model (memory bank, calibration) of a recipe live."""
    return f"{ROOT}/recipes/{recipe}/models/{key}"


def upload_prefix() -> str:
    """Where request images wait for the job that reads them."""
    return f"{ROOT}/incoming"
