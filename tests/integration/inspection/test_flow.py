"""The GUI's whole flow through HTTP: datasets, fit and calibration from them, inference of a
defect and of an OK crop, the manifest and state around it, then delete and clear."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx

from tests.integration.inspection.helper import ROI, ROLE, files, ids, ng_crop, ok_crop


async def upload(http: httpx.AsyncClient, label: str, crops: list[bytes], **data: Any) -> Any:
    r = await http.post(f"/datasets/{label}/upload", data=ids(**data), files=files("images", crops))
    assert r.status_code == 200, r.text
    return r.json()


async def test_the_gui_flow_from_upload_to_inference_and_back(http: httpx.AsyncClient) -> None:
    # Nothing yet.
    r = await http.get("/state", params=ids())
    assert r.status_code == 200, r.text
    assert r.json() | {"request_id": None} == {
        "status": "ok",
        "memory_fitted": False,
        "calib_present": False,
        "request_id": None,
        "recipe_id": "default",
        "role_id": ROLE,
        "roi_id": ROI,
        "model_key": ROI,
    }
    manifest = (await http.get("/manifest", params=ids())).json()
    assert manifest["memory"] is False and manifest["calib"] is None
    assert manifest["datasets"]["classes"] == {}
    assert manifest["datasets"]["role_id"] == ROLE and manifest["datasets"]["roi_id"] == ROI

    saved_ok = await upload(
        http, "ok", [ok_crop(i) for i in range(4)], metas=['{"mm_per_px": 0.1}'] * 4
    )
    assert saved_ok["status"] == "ok" and len(saved_ok["saved"]) == 4
    assert all(name.endswith(".png") for name in saved_ok["saved"])
    await upload(http, "ng", [ng_crop(100), ng_crop(101)])

    listing = (await http.get("/datasets/list", params=ids())).json()
    assert listing["classes"]["ok"]["count"] == 4
    assert listing["classes"]["ok"]["files"] == sorted(saved_ok["saved"])
    assert all(listing["classes"]["ok"]["meta"].values())
    assert listing["classes"]["ng"]["count"] == 2

    first = saved_ok["saved"][0]
    r = await http.get("/datasets/file", params=ids(label="ok", filename=first))
    assert r.status_code == 200 and r.content == ok_crop(0)
    meta = (await http.get("/datasets/meta", params=ids(label="ok", filename=first))).json()
    assert meta["mm_per_px"] == 0.1 and meta["label"] == "ok" and meta["filename"] == first
    assert meta["role_id"] == ROLE and meta["recipe_id"] == "default" and meta["created_at_utc"]

    # Fit from the stored OK samples, then calibrate on the stored OK and NG samples.
    r = await http.post("/fit_ok", data=ids(mm_per_px="0.1", use_dataset="true"))
    assert r.status_code == 200, r.text
    fitted = r.json()
    assert set(fitted) == {
        "n_embeddings",
        "coreset_size",
        "token_shape",
        "coreset_rate_requested",
        "coreset_rate_applied",
        "request_id",
        "recipe_id",
    }
    assert fitted["token_shape"] == [6, 6] and fitted["n_embeddings"] == 4 * 36
    assert 0 < fitted["coreset_size"] < fitted["n_embeddings"]

    r = await http.post("/calibrate_dataset", json=ids())
    assert r.status_code == 200, r.text
    calibrated = r.json()
    assert calibrated["status"] == "ok" and calibrated["n_ok"] == 4 and calibrated["n_ng"] == 2
    threshold = calibrated["threshold"]

    state = (await http.get("/state", params=ids())).json()
    assert state["memory_fitted"] is True and state["calib_present"] is True
    manifest = (await http.get("/manifest", params=ids())).json()
    assert manifest["memory"] is True and manifest["calib"]["threshold"] == threshold
    assert manifest["datasets"]["classes"]["ng"]["count"] == 2

    # A defect crop: NG, with its region in mm² and a heatmap PNG.
    r = await http.post(
        "/infer",
        data=ids(mm_per_px="0.1"),
        files={"image": ("roi.png", ng_crop(7), "image/png")},
        headers={"X-Request-Id": "req-ng-1"},
    )
    assert r.status_code == 200, r.text
    ng = r.json()
    assert r.headers["x-request-id"] == "req-ng-1" and ng["request_id"] == "req-ng-1"
    assert ng["decision"] == "ng" and ng["score"] >= ng["threshold"] == threshold
    assert ng["token_shape"] == [6, 6]
    region = ng["regions"][0]
    assert region["area_mm2"] == region["area_px"] * 0.1 * 0.1 > 0
    x, y, w, h = region["bbox"]
    assert [region["x"], region["y"], region["w"], region["h"]] == [x, y, w, h]
    # The region covers the blob painted at rows 30-60, columns 34-64.
    assert x < 64 and x + w > 34 and y < 60 and y + h > 30
    assert base64.b64decode(ng["heatmap_png_base64"]).startswith(b"\x89PNG")

    # An OK crop: OK, no regions, and no heatmap unless asked for.
    r = await http.post(
        "/infer", data=ids(mm_per_px="0.1"), files={"image": ("roi.png", ok_crop(50), "image/png")}
    )
    assert r.status_code == 200, r.text
    ok = r.json()
    assert ok["decision"] == "ok" and ok["score"] < threshold
    assert ok["regions"] == [] and ok["heatmap_png_base64"] is None
    r = await http.post(
        "/infer",
        data=ids(mm_per_px="0.1", include_heatmap="true"),
        files={"image": ("roi.png", ok_crop(50), "image/png")},
    )
    assert base64.b64decode(r.json()["heatmap_png_base64"]).startswith(b"\x89PNG")

    # The stored dataset scored as a whole.
    r = await http.post("/infer_dataset", json=ids())
    assert r.status_code == 200, r.text
    scored = r.json()
    assert scored["n_total"] == 6 and scored["n_errors"] == 0
    by_label = {
        label: [i for i in scored["items"] if i["label"] == label] for label in ("ok", "ng")
    }
    assert min(i["score"] for i in by_label["ng"]) > max(i["score"] for i in by_label["ok"])
    assert all(i["mm_per_px"] == 0.1 for i in by_label["ok"])

    # Delete one sample, then clear a label.
    r = await http.delete("/datasets/file", params=ids(label="ok", filename=first))
    assert r.json() | {"request_id": None} == {
        "deleted": True,
        "filename": first,
        "request_id": None,
        "recipe_id": "default",
    }
    r = await http.get("/datasets/file", params=ids(label="ok", filename=first))
    assert r.status_code == 404 and r.json()["error"] == "file not found"
    r = await http.delete("/datasets/file", params=ids(label="ok", filename=first))
    assert r.json()["deleted"] is False
    r = await http.delete("/datasets/clear", params=ids(label="ng"))
    assert r.json()["cleared"] == 2 and r.json()["label"] == "ng"
    listing = (await http.get("/datasets/list", params=ids())).json()
    assert listing["classes"]["ok"]["count"] == 3 and "ng" not in listing["classes"]


async def test_health_names_the_backbone_and_device_the_worker_runs(
    http: httpx.AsyncClient,
) -> None:
    # The worker reports once its backbone is loaded (at start, in the background).
    for _ in range(200):
        r = await http.get("/health", headers={"X-Recipe-Id": "line-a"})
        if r.json()["device"] != "unknown":
            break
        await asyncio.sleep(0.1)
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ok"
    assert body["model"] == "tf_efficientnet_lite0" and body["device"] == "cpu"
    assert body["reason"] == "cuda_not_available"
    assert body["recipe_id"] == "line-a" and body["version"]
