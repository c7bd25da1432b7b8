"""The inspection job kinds, all on the `gpu` pool: fit a memory bank, infer one ROI, infer
or calibrate over a stored dataset. Payloads name blob keys, never bytes: the API has put the
request's images in the blob store, and the artifacts there carry their version in the key."""

from __future__ import annotations

from typing import Any

import msgspec

from workers.catalog.kind import JobKind

WARM = "workers.inspection:warm"

# Codes of failed jobs; the API answers each with the status its table gives.
INVALID_IMAGE = "INVALID_IMAGE"
TOKEN_GRID_MISMATCH = "TOKEN_GRID_MISMATCH"
INVALID_SHAPE = "INVALID_SHAPE"
NO_IMAGES = "NO_IMAGES"
INSUFFICIENT_SAMPLES = "INSUFFICIENT_SAMPLES"
NO_SAMPLES = "NO_SAMPLES"
INVALID_PARAMETER = "INVALID_PARAMETER"
MEMORY_REPLACED = "MEMORY_REPLACED"
BACKBONE_UNAVAILABLE = "BACKBONE_UNAVAILABLE"


class FitPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fit the memory bank of (recipe, model key) from uploads or from the stored OK samples."""

    recipe_id: str
    role_id: str
    roi_id: str
    model_key: str
    mm_per_px: float
    coreset_rate: float
    full: bool = False
    # Images the request uploaded (the job deletes them when it is done with them) ...
    image_keys: list[str] = msgspec.field(default_factory=list)
    # ... or the dataset folder whose ok/ samples to fit on.
    dataset_prefix: str | None = None
    min_ok_samples: int = 1


class InferPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Score one uploaded ROI against a memory bank."""

    memory_key: str
    # The Redis key the crop waits under (deleted when the job is done with it).
    image_ref: str
    mm_per_px: float
    threshold: float
    area_mm2_thr: float | None = None
    shape: dict[str, Any] | None = None
    # None: the heatmap only comes back for an NG decision (the original's default).
    include_heatmap: bool | None = None


class InferDatasetPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Score every stored sample of the given labels."""

    memory_key: str
    dataset_prefix: str
    labels: list[str]
    threshold: float | None = None
    area_mm2_thr: float | None = None
    include_heatmap: bool = False
    default_mm_per_px: float


class CalibrateDatasetPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Score the stored OK and NG samples and store the threshold they give."""

    recipe_id: str
    role_id: str
    roi_id: str
    model_key: str
    memory_key: str
    dataset_prefix: str
    score_percentile: int
    area_mm2_thr: float | None = None
    default_mm_per_px: float
    require_ng: bool = True


KINDS = (
    JobKind(
        name="inspection.fit",
        pool="gpu",
        payload=FitPayload,
        handler="workers.inspection:fit",
        timeout_s=3600,
        max_tries=2,
        warm=WARM,
    ),
    JobKind(
        name="inspection.infer",
        pool="gpu",
        payload=InferPayload,
        handler="workers.inspection:infer",
        timeout_s=120,
        max_tries=2,
        warm=WARM,
    ),
    JobKind(
        name="inspection.infer_dataset",
        pool="gpu",
        payload=InferDatasetPayload,
        handler="workers.inspection:infer_dataset",
        timeout_s=3600,
        max_tries=2,
        warm=WARM,
    ),
    JobKind(
        name="inspection.calibrate_dataset",
        pool="gpu",
        payload=CalibrateDatasetPayload,
        handler="workers.inspection:calibrate_dataset",
        timeout_s=3600,
        max_tries=2,
        warm=WARM,
    ),
)
