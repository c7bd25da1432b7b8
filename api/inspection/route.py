"""The inspection routes: the contract's endpoints under /inspection.

Work on the backbone runs as jobs on the gpu pool (fit, infer, infer_dataset,
calibrate_dataset): a route submits its job and waits for it (`api.submit.run`), or answers
202 with the job under `Prefer: respond-async`. Datasets, the lock, calibration from given
scores and the read-only views are done here.
"""

from __future__ import annotations

import importlib.metadata
import uuid
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import FromQuery, JSONBody, SkipValidation

import infra.log
from api.error import BadRequest, NotFound
from api.inspection import forms, service
from api.inspection.error import ERRORS, JOB_ERRORS, RECIPE
from api.inspection.forms import DATASET_UPLOADS, FIT_UPLOADS, INFER_UPLOAD
from api.inspection.schema import (
    CalibrateDataset,
    CalibrateDatasetResult,
    CalibrateNg,
    CalibrateNgResult,
    Cleared,
    DatasetList,
    Deleted,
    FitResult,
    InferDataset,
    InferDatasetResult,
    InferResult,
    InspectionHealth,
    Manifest,
    Saved,
    State,
)
from api.inspection.state import CALIBRATIONS_KEPT, state
from api.state import from_request
from api.submit import run
from api.upload import UploadForm, discard_uploads, upload_route
from domain.inspection.calibration import calibrate
from domain.inspection.recipe import (
    DEFAULT_RECIPE,
    Label,
    check_filename,
    check_id,
    check_label,
    dataset_prefix,
    model_key,
    resolve_recipe,
)
from infra.inspection import ENGINE_KEY, INCOMING, ModelRef, save_calibration
from infra.security import Principal
from workers.catalog.inspection import (
    CalibrateDatasetPayload,
    FitPayload,
    InferDatasetPayload,
    InferPayload,
)

Caller = SkipValidation[Principal]
DEFAULT_MM_PER_PX = 0.2
JOB = ERRORS.responses(400, 401, 403, 409, 413, 415, 504)
READ = ERRORS.responses(400, 401, 403)


def request_id() -> str:
    return infra.log.request_id.get() or ""


def recipe(request: Request[Any, Any, Any], explicit: str | None) -> str:
    """The contract's recipe id; set for error bodies before it is checked."""
    header = request.headers.get("x-recipe-id")
    raw = explicit if explicit is not None and explicit.strip() else header
    RECIPE.set((raw or "").strip().lower() or DEFAULT_RECIPE)
    value = resolve_recipe(explicit, header)
    RECIPE.set(value)
    return value


def _recipe_of(form: UploadForm, request: Request[Any, Any, Any]) -> str:
    return recipe(request, form.fields.get("recipe_id"))


async def _model(
    request: Request[Any, Any, Any], recipe_id: str, key: str
) -> tuple[str, dict[str, Any] | None]:
    """The model's memory bank key and its calibration (each: recipe, else default)."""
    res = from_request(request)
    found = await service.find_model(res.autocommit, recipe_id, key)
    if found.memory_key is None:
        raise BadRequest(
            f"Memory not found for model_key '{key}' in recipe '{recipe_id}': fit it first "
            "(/fit_ok)",
            code="MEMORY_MISSING",
        )
    calib = await service.calibration(
        await res.blobs(), state(request).calibrations, found.calib_key, CALIBRATIONS_KEPT
    )
    return found.memory_key, calib


# -- health --------------------------------------------------------------------------------------


def _version() -> str:
    try:
        return importlib.metadata.version("switchyard")
    except importlib.metadata.PackageNotFoundError:
        return "0.1.0"


@get("/health", responses=ERRORS.responses(400), security=[{}])
async def health(request: Request[Any, Any, Any]) -> InspectionHealth:
    """The backbone and device the gpu workers run (as the last one to start reported)."""
    recipe_id = recipe(request, None)
    res = from_request(request)
    raw = await res.redis.get(f"{res.settings.redis.prefix}:{ENGINE_KEY}")
    settings = res.settings.inspection
    engine: dict[str, Any] = msgspec.json.decode(raw) if raw else {}
    model = engine.get("model") or (
        "vit_small_patch14_dinov2.lvd142m" if settings.dinov2_weights else "tf_efficientnet_lite0"
    )
    return InspectionHealth(
        status="ok",
        device=engine.get("device") or "unknown",
        model=model,
        version=_version(),
        request_id=request_id(),
        recipe_id=recipe_id,
        reason=engine.get("reason") if engine else "no_gpu_worker_reported",
    )


# -- fit, calibrate, infer -----------------------------------------------------------------------


@upload_route("/fit_ok", FIT_UPLOADS, responses=JOB, status_code=200)
async def fit_ok(request: Request[Any, Any, Any], principal: Caller) -> Response[Any]:
    """Fit the memory bank of (role, ROI) from uploaded OK images or the stored dataset."""
    res = from_request(request)
    settings = res.settings.inspection
    form = await forms.uploads(request, FIT_UPLOADS)
    store = await res.blobs()
    try:
        recipe_id = _recipe_of(form, request)
        role_id = check_id("role_id", forms.field(form, "role_id") or "")
        roi_id = check_id("roi_id", forms.field(form, "roi_id") or "")
        mm_per_px = forms.number(forms.field(form, "mm_per_px"), "mm_per_px")
        use_dataset = bool(forms.flag(form, "use_dataset", False))
        full = bool(forms.flag(form, "memory_fit", False))
        key = model_key(form.fields.get("model_key"), roi_id)
        if settings.train_dataset_only and (form.files or not use_dataset):
            raise BadRequest(
                "training from uploaded images is disabled here: store OK samples with "
                "/datasets/ok/upload and fit with use_dataset=true"
            )
        if not use_dataset and not form.files:
            raise BadRequest("No images provided", code="NO_IMAGES")
        await service.check_lock(res.engine, state(request).locks, recipe_id, mm_per_px)
        prefix = None
        if use_dataset:
            prefix = await service.readable_dataset(store, recipe_id, role_id, roi_id)
        payload = FitPayload(
            recipe_id=recipe_id,
            role_id=role_id,
            roi_id=roi_id,
            model_key=key,
            mm_per_px=mm_per_px,
            coreset_rate=settings.coreset_rate,
            full=full,
            image_keys=[] if use_dataset else [f.key for f in form.files],
            dataset_prefix=prefix,
            min_ok_samples=settings.min_ok_samples,
        )
        if use_dataset:
            await discard_uploads(store, form.files)
        outcome = await run(
            request,
            principal,
            "inspection.fit",
            payload,
            deadline_s=settings.fit_deadline_s,
            job_errors=JOB_ERRORS,
        )
    except BaseException:
        await discard_uploads(store, form.files)
        raise
    if isinstance(outcome, Response):
        return outcome
    return Response(
        msgspec.convert(
            {**outcome.result, "request_id": request_id(), "recipe_id": recipe_id}, FitResult
        )
    )


@post("/calibrate_ng", responses=ERRORS.responses(400, 401, 403, 409), status_code=200)
async def calibrate_ng(
    request: Request[Any, Any, Any], data: JSONBody[CalibrateNg], principal: Caller
) -> CalibrateNgResult:
    """Pick and store a threshold from the OK (and NG) scores a client measured."""
    import numpy as np

    res = from_request(request)
    settings = res.settings.inspection
    recipe_id = recipe(request, data.recipe_id)
    role_id = check_id("role_id", data.role_id)
    roi_id = check_id("roi_id", data.roi_id)
    if data.mm_per_px is not None:
        await service.check_lock(res.engine, state(request).locks, recipe_id, data.mm_per_px)
    percentile = (
        settings.score_percentile if data.score_percentile is None else data.score_percentile
    )
    area = settings.area_mm2_thr if data.area_mm2_thr is None else data.area_mm2_thr
    calib = calibrate(
        data.ok_scores,
        data.ng_scores,
        score_percentile=percentile,
        area_mm2_thr=area,
        mm_per_px=DEFAULT_MM_PER_PX if data.mm_per_px is None else data.mm_per_px,
    )
    # The original reports the OK scores' percentile at the chosen level under this name.
    calib = msgspec.structs.replace(
        calib, p99_ok=float(np.percentile(np.asarray(data.ok_scores), calib.score_percentile))
    )
    ref = ModelRef(
        recipe_id=recipe_id,
        role_id=role_id,
        roi_id=roi_id,
        model_key=model_key(data.model_key, roi_id),
    )
    await save_calibration(res.engine, await res.blobs(), ref, calib)
    return CalibrateNgResult(
        threshold=calib.threshold,
        ok_mean=calib.ok_mean,
        ng_mean=calib.ng_mean if calib.ng_mean is not None else 0.0,
        p99_ok=calib.p99_ok,
        p5_ng=calib.p5_ng,
        mm_per_px=calib.mm_per_px,
        area_mm2_thr=calib.area_mm2_thr,
        score_percentile=calib.score_percentile,
        request_id=request_id(),
        recipe_id=recipe_id,
    )


@upload_route("/infer", INFER_UPLOAD, responses=JOB, status_code=200)
async def infer(request: Request[Any, Any, Any], principal: Caller) -> Response[Any]:
    """Score one ROI crop: score, decision, regions in mm², heatmap."""
    res = from_request(request)
    settings = res.settings.inspection
    form, image = await forms.crop_form(request)
    recipe_id = _recipe_of(form, request)
    roi_id = check_id("roi_id", forms.field(form, "roi_id") or "")
    check_id("role_id", forms.field(form, "role_id") or "")
    mm_per_px = forms.number(forms.field(form, "mm_per_px"), "mm_per_px")
    include_heatmap = forms.flag(form, "include_heatmap", None)
    shape = forms.shape(form.fields.get("shape"))
    key = model_key(form.fields.get("model_key"), roi_id)
    await service.check_lock(res.engine, state(request).locks, recipe_id, mm_per_px)
    memory_key, calib = await _model(request, recipe_id, key)
    if calib is None:
        raise BadRequest("calibration_missing", code="CALIBRATION_MISSING")
    # The crop waits for its job in Redis, which every gpu worker reads: it lives for
    # milliseconds, where a blob-store file would cost an fsync for nothing.
    image_ref = f"{res.settings.redis.prefix}:{INCOMING}:{uuid.uuid4().hex}"
    await res.redis.set(image_ref, image, ex=int(settings.infer_deadline_s) + 60)
    try:
        outcome = await run(
            request,
            principal,
            "inspection.infer",
            InferPayload(
                memory_key=memory_key,
                image_ref=image_ref,
                mm_per_px=mm_per_px,
                threshold=float(calib["threshold"]),
                area_mm2_thr=calib.get("area_mm2_thr"),
                shape=msgspec.to_builtins(shape) if shape is not None else None,
                include_heatmap=include_heatmap,
            ),
            deadline_s=settings.infer_deadline_s,
            job_errors=JOB_ERRORS,
        )
    except BaseException:
        await res.redis.delete(image_ref)
        raise
    if isinstance(outcome, Response):
        return outcome
    return Response(
        msgspec.convert(
            {**outcome.result, "request_id": request_id(), "recipe_id": recipe_id}, InferResult
        )
    )


# -- views ---------------------------------------------------------------------------------------


async def _view(
    request: Request[Any, Any, Any],
    role_id: str,
    roi_id: str,
    recipe_id: str | None,
    key: str | None,
) -> tuple[str, str, service.Artifacts, dict[str, Any] | None]:
    res = from_request(request)
    recipe_value = recipe(request, recipe_id)
    check_id("role_id", role_id)
    check_id("roi_id", roi_id)
    mkey = model_key(key, roi_id)
    found = await service.find_model(res.autocommit, recipe_value, mkey)
    calib = await service.calibration(
        await res.blobs(), state(request).calibrations, found.calib_key, CALIBRATIONS_KEPT
    )
    return recipe_value, mkey, found, calib


@get("/manifest", responses=READ)
async def manifest(
    request: Request[Any, Any, Any],
    principal: Caller,
    role_id: FromQuery[str],
    roi_id: FromQuery[str],
    recipe_id: FromQuery[str | None] = None,
    model_key: FromQuery[str | None] = None,
) -> Manifest:
    """Memory, calibration and dataset status of one model."""
    recipe_value, mkey, found, calib = await _view(request, role_id, roi_id, recipe_id, model_key)
    store = await from_request(request).blobs()
    prefix = await service.readable_dataset(store, recipe_value, role_id, roi_id)
    return Manifest(
        role_id=role_id,
        roi_id=roi_id,
        recipe_id=recipe_value,
        model_key=mkey,
        memory=found.memory_key is not None,
        calib=calib,
        datasets=DatasetList(
            role_id=role_id,
            roi_id=roi_id,
            classes=await service.summary(store, prefix),
            request_id=request_id(),
            recipe_id=recipe_value,
        ),
        request_id=request_id(),
    )


@get("/state", responses=READ)
async def model_state(
    request: Request[Any, Any, Any],
    principal: Caller,
    role_id: FromQuery[str],
    roi_id: FromQuery[str],
    recipe_id: FromQuery[str | None] = None,
    model_key: FromQuery[str | None] = None,
) -> State:
    """Whether a model is ready to infer."""
    recipe_value, mkey, found, calib = await _view(request, role_id, roi_id, recipe_id, model_key)
    return State(
        status="ok",
        memory_fitted=found.memory_key is not None,
        calib_present=calib is not None,
        request_id=request_id(),
        recipe_id=recipe_value,
        role_id=role_id,
        roi_id=roi_id,
        model_key=mkey,
    )


# -- datasets ------------------------------------------------------------------------------------


async def _upload_samples(request: Request[Any, Any, Any], label: Label) -> Saved:
    res = from_request(request)
    form = await forms.uploads(request, DATASET_UPLOADS)
    store = await res.blobs()
    try:
        recipe_id = _recipe_of(form, request)
        role_id = check_id("role_id", forms.field(form, "role_id") or "")
        roi_id = check_id("roi_id", forms.field(form, "roi_id") or "")
        metas = service.parse_metas(form.lists.get("metas", []), len(form.files))
        await service.check_images(store, form.files)
        for meta in metas:
            if meta.get("mm_per_px") is not None:
                await service.check_lock(
                    res.engine, state(request).locks, recipe_id, float(meta["mm_per_px"])
                )
    except BaseException:
        await discard_uploads(store, form.files)
        raise
    saved = await service.save_samples(
        store,
        form.files,
        metas,
        prefix=dataset_prefix(recipe_id, role_id, roi_id),
        label=label,
        recipe_id=recipe_id,
        role_id=role_id,
        roi_id=roi_id,
    )
    return Saved(status="ok", saved=saved, request_id=request_id(), recipe_id=recipe_id)


@upload_route("/datasets/ok/upload", DATASET_UPLOADS, responses=JOB, status_code=200)
async def upload_ok(request: Request[Any, Any, Any], principal: Caller) -> Saved:
    """Store OK samples (with optional per-image metas)."""
    return await _upload_samples(request, "ok")


@upload_route("/datasets/ng/upload", DATASET_UPLOADS, responses=JOB, status_code=200)
async def upload_ng(request: Request[Any, Any, Any], principal: Caller) -> Saved:
    """Store NG samples (with optional per-image metas)."""
    return await _upload_samples(request, "ng")


@get("/datasets/list", responses=READ)
async def dataset_list(
    request: Request[Any, Any, Any],
    principal: Caller,
    role_id: FromQuery[str],
    roi_id: FromQuery[str],
    recipe_id: FromQuery[str | None] = None,
) -> DatasetList:
    """The stored samples of (role, ROI) per label."""
    recipe_value = recipe(request, recipe_id)
    check_id("role_id", role_id)
    check_id("roi_id", roi_id)
    store = await from_request(request).blobs()
    prefix = await service.readable_dataset(store, recipe_value, role_id, roi_id)
    return DatasetList(
        role_id=role_id,
        roi_id=roi_id,
        classes=await service.summary(store, prefix),
        request_id=request_id(),
        recipe_id=recipe_value,
    )


async def _sample(
    request: Request[Any, Any, Any],
    role_id: str,
    roi_id: str,
    label: str,
    filename: str,
    recipe_id: str | None,
    *,
    read: bool,
) -> tuple[str, str, Label, str]:
    recipe_value = recipe(request, recipe_id)
    check_id("role_id", role_id)
    check_id("roi_id", roi_id)
    checked = check_label(label)
    check_filename(filename)
    store = await from_request(request).blobs()
    if read:
        prefix = await service.readable_dataset(store, recipe_value, role_id, roi_id)
    else:
        prefix = dataset_prefix(recipe_value, role_id, roi_id)
    return recipe_value, prefix, checked, filename


@get(
    "/datasets/file",
    responses=ERRORS.responses(400, 401, 403, 404),
    media_type="application/octet-stream",
)
async def dataset_file(
    request: Request[Any, Any, Any],
    principal: Caller,
    role_id: FromQuery[str],
    roi_id: FromQuery[str],
    label: FromQuery[str],
    filename: FromQuery[str],
    recipe_id: FromQuery[str | None] = None,
) -> Response[bytes]:
    """One stored sample's image bytes."""
    _, prefix, checked, name = await _sample(
        request, role_id, roi_id, label, filename, recipe_id, read=True
    )
    data, content_type = await service.read_sample(
        await from_request(request).blobs(), prefix, checked, name
    )
    return Response(data, media_type=content_type)


@get("/datasets/meta", responses=ERRORS.responses(400, 401, 403, 404))
async def dataset_meta(
    request: Request[Any, Any, Any],
    principal: Caller,
    role_id: FromQuery[str],
    roi_id: FromQuery[str],
    label: FromQuery[str],
    filename: FromQuery[str],
    recipe_id: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """One stored sample's meta JSON."""
    _, prefix, checked, name = await _sample(
        request, role_id, roi_id, label, filename, recipe_id, read=True
    )
    meta = await service.read_meta(await from_request(request).blobs(), prefix, checked, name)
    if not isinstance(meta, dict):
        raise NotFound("meta not found")
    return meta


@delete("/datasets/file", responses=READ, status_code=200)
async def dataset_delete(
    request: Request[Any, Any, Any],
    principal: Caller,
    role_id: FromQuery[str],
    roi_id: FromQuery[str],
    label: FromQuery[str],
    filename: FromQuery[str],
    recipe_id: FromQuery[str | None] = None,
) -> Deleted:
    """Delete one stored sample (and its meta)."""
    recipe_value, prefix, checked, name = await _sample(
        request, role_id, roi_id, label, filename, recipe_id, read=False
    )
    deleted = await service.delete_sample(
        await from_request(request).blobs(), prefix, checked, name
    )
    return Deleted(deleted=deleted, filename=name, request_id=request_id(), recipe_id=recipe_value)


@delete("/datasets/clear", responses=READ, status_code=200)
async def dataset_clear(
    request: Request[Any, Any, Any],
    principal: Caller,
    role_id: FromQuery[str],
    roi_id: FromQuery[str],
    label: FromQuery[str],
    recipe_id: FromQuery[str | None] = None,
) -> Cleared:
    """Delete every stored sample of one label."""
    recipe_value = recipe(request, recipe_id)
    check_id("role_id", role_id)
    check_id("roi_id", roi_id)
    checked = check_label(label)
    cleared = await service.clear(
        await from_request(request).blobs(), dataset_prefix(recipe_value, role_id, roi_id), checked
    )
    return Cleared(cleared=cleared, label=checked, request_id=request_id(), recipe_id=recipe_value)


@post("/infer_dataset", responses=JOB, status_code=200)
async def infer_dataset(
    request: Request[Any, Any, Any], data: JSONBody[InferDataset], principal: Caller
) -> Response[Any]:
    """Score every stored sample of the labels asked for."""
    res = from_request(request)
    recipe_id = recipe(request, data.recipe_id)
    check_id("role_id", data.role_id)
    roi_id = check_id("roi_id", data.roi_id)
    labels = [check_label(label) for label in data.labels]
    memory_key, calib = await _model(request, recipe_id, model_key(data.model_key, roi_id))
    default_mm = data.default_mm_per_px
    if default_mm is None:
        default_mm = await service.locked_value(res.engine, state(request).locks, recipe_id)
    store = await res.blobs()
    payload = InferDatasetPayload(
        memory_key=memory_key,
        dataset_prefix=await service.readable_dataset(store, recipe_id, data.role_id, roi_id),
        labels=list(labels),
        threshold=None if calib is None else float(calib["threshold"]),
        area_mm2_thr=None if calib is None else calib.get("area_mm2_thr"),
        include_heatmap=data.include_heatmap,
        default_mm_per_px=DEFAULT_MM_PER_PX if default_mm is None else default_mm,
    )
    outcome = await run(
        request,
        principal,
        "inspection.infer_dataset",
        payload,
        deadline_s=res.settings.inspection.fit_deadline_s,
        job_errors=JOB_ERRORS,
    )
    if isinstance(outcome, Response):
        return outcome
    return Response(
        msgspec.convert(
            {**outcome.result, "request_id": request_id(), "recipe_id": recipe_id},
            InferDatasetResult,
        )
    )


@post("/calibrate_dataset", responses=JOB, status_code=200)
async def calibrate_dataset(
    request: Request[Any, Any, Any], data: JSONBody[CalibrateDataset], principal: Caller
) -> Response[Any]:
    """Score the stored OK and NG samples and store the threshold they give."""
    res = from_request(request)
    settings = res.settings.inspection
    recipe_id = recipe(request, data.recipe_id)
    role_id = check_id("role_id", data.role_id)
    roi_id = check_id("roi_id", data.roi_id)
    key = model_key(data.model_key, roi_id)
    memory_key, _ = await _model(request, recipe_id, key)
    default_mm = data.default_mm_per_px
    if default_mm is None:
        default_mm = await service.locked_value(res.engine, state(request).locks, recipe_id)
    percentile = (
        settings.score_percentile if data.score_percentile is None else data.score_percentile
    )
    if not 0 < percentile <= 100:
        raise BadRequest(f"score_percentile must be in (0, 100], got {percentile}")
    store = await res.blobs()
    payload = CalibrateDatasetPayload(
        recipe_id=recipe_id,
        role_id=role_id,
        roi_id=roi_id,
        model_key=key,
        memory_key=memory_key,
        dataset_prefix=await service.readable_dataset(store, recipe_id, role_id, roi_id),
        score_percentile=percentile,
        area_mm2_thr=settings.area_mm2_thr if data.area_mm2_thr is None else data.area_mm2_thr,
        default_mm_per_px=DEFAULT_MM_PER_PX if default_mm is None else default_mm,
        require_ng=data.require_ng,
    )
    outcome = await run(
        request,
        principal,
        "inspection.calibrate_dataset",
        payload,
        deadline_s=settings.fit_deadline_s,
        job_errors=JOB_ERRORS,
    )
    if isinstance(outcome, Response):
        return outcome
    return Response(
        msgspec.convert(
            {
                **outcome.result,
                "role_id": role_id,
                "roi_id": roi_id,
                "model_key": key,
                "request_id": request_id(),
                "recipe_id": recipe_id,
            },
            CalibrateDatasetResult,
        )
    )


ROUTES = [
    health,
    fit_ok,
    calibrate_ng,
    infer,
    manifest,
    model_state,
    upload_ok,
    upload_ng,
    dataset_list,
    dataset_file,
    dataset_meta,
    dataset_delete,
    dataset_clear,
    infer_dataset,
    calibrate_dataset,
]
