"""Recipe resolution (field, then X-Recipe-Id, then default) and the artifact fallback from a
recipe to `default` for memory, calibration and datasets."""

from __future__ import annotations

import httpx

from tests.integration.inspection.helper import files, ids, infer, ng_crop, ok_crop, seed_model


async def test_a_recipe_without_artifacts_uses_the_defaults(http: httpx.AsyncClient) -> None:
    threshold = await seed_model(http)
    line = {"X-Recipe-Id": "Line-A"}
    state = (await http.get("/state", params=ids(), headers=line)).json()
    assert state["recipe_id"] == "line-a"
    assert state["memory_fitted"] is True and state["calib_present"] is True
    r = await infer(http, ng_crop(5), headers=line)
    assert r.status_code == 200, r.text
    assert r.json()["recipe_id"] == "line-a" and r.json()["threshold"] == threshold
    # The default's dataset is what the recipe lists until it has samples of its own.
    listing = (await http.get("/datasets/list", params=ids(), headers=line)).json()
    assert listing["recipe_id"] == "line-a" and listing["classes"]["ok"]["count"] == 3

    r = await http.post(
        "/datasets/ok/upload", data=ids(), files=files("images", [ok_crop(40)]), headers=line
    )
    assert r.status_code == 200 and r.json()["recipe_id"] == "line-a"
    listing = (await http.get("/datasets/list", params=ids(), headers=line)).json()
    assert listing["classes"]["ok"]["count"] == 1
    default = (await http.get("/datasets/list", params=ids())).json()
    assert default["classes"]["ok"]["count"] == 3


async def test_an_explicit_recipe_wins_over_the_header(http: httpx.AsyncClient) -> None:
    r = await http.get("/state", params=ids(recipe_id="line-b"), headers={"X-Recipe-Id": "line-a"})
    assert r.json()["recipe_id"] == "line-b"
    r = await http.post(
        "/calibrate_ng", json=ids(recipe_id="line-c", ok_scores=[1.0]), headers={"X-Recipe-Id": "x"}
    )
    assert r.json()["recipe_id"] == "line-c"
    r = await http.get("/state", params=ids(recipe_id=""), headers={"X-Recipe-Id": ""})
    assert r.json()["recipe_id"] == "default"


async def test_a_recipes_own_model_shadows_the_default(http: httpx.AsyncClient) -> None:
    await seed_model(http)
    r = await http.post(
        "/calibrate_ng", json=ids(recipe_id="line-a", ok_scores=[123.0], mm_per_px=0.1)
    )
    assert r.status_code == 200
    # line-a has a calibration of its own but no memory: the memory comes from default.
    manifest = (await http.get("/manifest", params=ids(recipe_id="line-a"))).json()
    assert manifest["memory"] is True
    r = await infer(http, ok_crop(3), recipe_id="line-a")
    assert r.status_code == 200, r.text
