"""The inspection contract's request and response bodies, as the original backend writes them
(`../shared/contracts/inspection.md`, and ORIGINALS.md where the contract is silent)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

# Non-finite numbers (1e999 decodes to inf) are refused where they are used.
Float = float
MAX_SCORES = 100_000


class InspectionHealth(msgspec.Struct, omit_defaults=True):
    status: str
    device: str
    model: str
    version: str
    request_id: str
    recipe_id: str
    # Only when CUDA is not available to the gpu workers.
    reason: str | None = None


class FitResult(msgspec.Struct):
    n_embeddings: int
    coreset_size: int
    token_shape: list[int]
    coreset_rate_requested: float
    coreset_rate_applied: float
    request_id: str
    recipe_id: str


class CalibrateNg(msgspec.Struct, kw_only=True):
    role_id: str
    roi_id: str
    model_key: str | None = None
    recipe_id: str | None = None
    mm_per_px: Float | None = None
    ok_scores: Annotated[list[Float], msgspec.Meta(max_length=MAX_SCORES)]
    ng_scores: Annotated[list[Float], msgspec.Meta(max_length=MAX_SCORES)] | None = None
    score_percentile: int | None = None
    area_mm2_thr: Float | None = None


class CalibrateNgResult(msgspec.Struct):
    threshold: float
    ok_mean: float
    ng_mean: float
    p99_ok: float | None
    p5_ng: float | None
    mm_per_px: float
    area_mm2_thr: float | None
    score_percentile: int
    request_id: str
    recipe_id: str


class Region(msgspec.Struct):
    bbox: list[int]
    area_px: float
    area_mm2: float
    contour: list[list[int]]
    x: int
    y: int
    w: int
    h: int


class InferResult(msgspec.Struct):
    score: float
    threshold: float | None
    token_shape: list[int]
    heatmap_png_base64: str | None
    regions: list[Region]
    decision: str | None
    request_id: str
    recipe_id: str


class ClassSummary(msgspec.Struct):
    count: int
    files: list[str]
    meta: dict[str, bool]


class Classes(msgspec.Struct, omit_defaults=True):
    ok: ClassSummary | None = None
    ng: ClassSummary | None = None


class DatasetList(msgspec.Struct):
    role_id: str
    roi_id: str
    classes: Classes
    request_id: str
    recipe_id: str


class Manifest(msgspec.Struct):
    role_id: str
    roi_id: str
    recipe_id: str
    model_key: str
    memory: bool
    calib: dict[str, Any] | None
    datasets: DatasetList
    request_id: str


class State(msgspec.Struct):
    status: str
    memory_fitted: bool
    calib_present: bool
    request_id: str
    recipe_id: str
    role_id: str
    roi_id: str
    model_key: str


class Saved(msgspec.Struct):
    status: str
    saved: list[str]
    request_id: str
    recipe_id: str


class Deleted(msgspec.Struct):
    deleted: bool
    filename: str
    request_id: str
    recipe_id: str


class Cleared(msgspec.Struct):
    cleared: int
    label: str
    request_id: str
    recipe_id: str


class InferDataset(msgspec.Struct, kw_only=True):
    role_id: str
    roi_id: str
    recipe_id: str | None = None
    model_key: str | None = None
    labels: list[str] = msgspec.field(default_factory=lambda: ["ok", "ng"])
    include_heatmap: bool = False
    default_mm_per_px: Float | None = None


class DatasetItem(msgspec.Struct, omit_defaults=True):
    label: str
    filename: str
    mm_per_px: float
    score: float | None
    threshold: float | None
    regions: list[Region]
    n_regions: int
    error: str | None
    heatmap_png_base64: str | None = None


class InferDatasetResult(msgspec.Struct):
    status: str
    n_total: int
    n_errors: int
    items: list[DatasetItem]
    request_id: str
    recipe_id: str


class CalibrateDataset(msgspec.Struct, kw_only=True):
    role_id: str
    roi_id: str
    recipe_id: str | None = None
    model_key: str | None = None
    score_percentile: int | None = None
    area_mm2_thr: Float | None = None
    default_mm_per_px: Float | None = None
    require_ng: bool = True


class CalibrateDatasetResult(msgspec.Struct):
    status: str
    threshold: float
    n_ok: int
    n_ng: int
    score_percentile: int
    area_mm2_thr: float | None
    role_id: str
    roi_id: str
    model_key: str
    request_id: str
    recipe_id: str
