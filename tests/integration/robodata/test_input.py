"""Bad input through HTTP: each a clear 4xx in `{"detail"}`, nothing indexed or lost."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from domain.robodata.catalog import dataset_id
from tests.integration.robodata.conftest import V3_NAME, Stack, lab


async def test_auth_errors_speak_the_originals_words(stack: Stack) -> None:
    r = await stack.http.post(
        "/robodata/auth/login", json={"username": "alice", "password": "wrong-horse"}
    )
    assert (r.status_code, r.json()) == (401, {"detail": "Invalid credentials"})
    r = await stack.http.post("/robodata/auth/refresh", json={"refresh_token": "nope"})
    assert (r.status_code, r.json()) == (401, {"detail": "Invalid refresh token"})
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        r = await stack.http.get("/robodata/robots", headers=headers)
        assert (r.status_code, r.json()) == (401, {"detail": "Unauthorized"})
    r = await stack.http.post(
        "/robodata/auth/refresh", json={"refresh_token": stack.user["refresh_token"]}
    )
    assert r.status_code == 200 and r.json()["user"]["id"] == stack.user["user"]["id"]


@pytest.mark.parametrize(
    "path",
    [
        "/etc",
        "../../..",
        "lab/../../..",
        "/tmp",
        "lab/%2e%2e/%2e%2e",
        "lab/\x00",
    ],
)
async def test_a_scan_outside_the_roots_is_refused(stack: Stack, path: str) -> None:
    r = await stack.post("/index/scan", {"path": path})
    assert r.status_code in (400, 403, 404), r.text
    assert set(r.json()) == {"detail"}
    assert (await stack.get("/robots")).json() == {"robots": []}


async def test_a_symlink_out_of_the_roots_is_refused(stack: Stack, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link = lab(stack.settings) / "escape"
    os.symlink(outside, link)
    r = await stack.post("/index/scan", {"path": str(link)})
    assert r.status_code == 403, r.text
    assert "outside the dataset roots" in r.json()["detail"]


async def test_a_missing_path_is_the_originals_404(stack: Stack) -> None:
    r = await stack.post("/index/scan", {"path": "lab/nothing-here"})
    assert (r.status_code, r.json()) == (404, {"detail": "Path not found"})


async def test_unknown_ids_are_404_with_the_originals_messages(stack: Stack) -> None:
    await stack.index(lab(stack.settings))
    cases = {
        "/items/999999": "Item not found",
        "/robots/nobody/types": "Robot not found",
        "/task-types?robot=nobody": "Robot not found",
        f"/datasets/{dataset_id('/no/such/dataset')}/items": "Dataset not found",
        "/index/status?task_id=424242": "Index task not found",
    }
    for path, message in cases.items():
        r = await stack.get(path)
        assert (r.status_code, r.json()) == (404, {"detail": message}), path


async def test_malformed_ids_and_values_are_400(stack: Stack) -> None:
    await stack.index(lab(stack.settings))
    item = (await stack.items())[0]["id"]
    for path in (
        "/datasets/not*base64!/items",
        "/datasets/YQ=/items",
        "/items/abc",
        "/items/99999999999999999999999",
        "/index/status?task_id=x",
        f"/items/{item}/stream?resolution=4k",
        f"/items/{item}/timeseries?max_points=1",
        f"/items/{item}/thumbnail?frame=-1",
    ):
        r = await stack.get(path)
        assert r.status_code == 400, (path, r.text)
        assert set(r.json()) == {"detail"}, path


async def test_an_unknown_camera_is_404(stack: Stack) -> None:
    await stack.index(lab(stack.settings))
    item = (await stack.items())[0]["id"]
    for what in ("stream", "thumbnail"):
        r = await stack.get(f"/items/{item}/{what}", params={"camera": "observation.images.nope"})
        assert (r.status_code, r.json()) == (404, {"detail": "Camera not found"})


async def test_paging_is_clamped_as_the_original_clamps_it(stack: Stack) -> None:
    await stack.index(lab(stack.settings))
    cases = [
        ({"page": -5, "page_size": 0}, (1, 1, 1)),
        ({"page": 0, "page_size": -3}, (1, 1, 1)),
        ({"page": 1, "page_size": 10**6}, (1, 200, 6)),
        ({"page": 10**15, "page_size": 2}, (10_000_000, 2, 0)),
    ]
    for params, (page, size, count) in cases:
        r = await stack.get("/items", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["page"], body["pageSize"], len(body["items"])) == (page, size, count)
        assert body["total"] == 6
    # Past the end of a filtered list: no items, the filter's total.
    for params in (
        {"robot": "koch"},
        {"robot": "koch", "type": "stackcups"},
        {"type": "cleandesk"},
    ):
        body = (await stack.get("/items", params={**params, "page": 99})).json()
        assert (body["items"], body["page"]) == ([], 99)
        assert body["total"] == (4 if params.get("type") == "cleandesk" else 2), params
    # Past what any integer column holds: refused, not clamped.
    r = await stack.get("/items", params={"page": 10**30})
    assert r.status_code == 400 and set(r.json()) == {"detail"}


async def test_a_v3_dataset_misnamed_is_refused_at_registration(stack: Stack) -> None:
    v3 = lab(stack.settings) / V3_NAME
    r = await stack.post("/datasets/register", {"path": str(v3), "dataset_name": "so101_desk"})
    assert r.status_code == 400 and "_YYYY-MM-DD" in r.json()["detail"]
    r = await stack.post("/datasets/register", {"path": str(lab(stack.settings))})
    assert r.status_code == 400 and "not a LeRobot dataset" in r.json()["detail"]
    assert (await stack.get("/robots")).json() == {"robots": []}


async def test_the_browser_pages_origin_may_call_the_api(stack: Stack) -> None:
    origin = {"Origin": "http://localhost:5173"}
    r = await stack.http.options(
        "/robodata/items",
        headers={
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert r.status_code in (200, 204), r.text
    assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
    r = await stack.http.get("/robodata/robots", headers={**origin, **stack.headers})
    assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
    r = await stack.http.get(
        "/robodata/robots", headers={"Origin": "https://evil.example", **stack.headers}
    )
    assert "access-control-allow-origin" not in r.headers
