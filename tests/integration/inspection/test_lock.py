"""The mm_per_px lock: the first value a recipe sees wins, even among concurrent first
requests; every other value is a 409 in the original's `detail` shape."""

from __future__ import annotations

import asyncio

import httpx

from tests.integration.inspection.helper import files, ids, infer, ok_crop, seed_model


async def test_concurrent_first_requests_lock_one_value(http: httpx.AsyncClient) -> None:
    values = [0.1 + 0.01 * i for i in range(8)]
    answers = await asyncio.gather(
        *(
            http.post("/calibrate_ng", json=ids(recipe_id="race", ok_scores=[1.0], mm_per_px=v))
            for v in values
        )
    )
    won = [v for v, r in zip(values, answers, strict=True) if r.status_code == 200]
    assert len(won) == 1, [r.text for r in answers]
    lost = [r for r in answers if r.status_code != 200]
    assert {r.status_code for r in lost} == {409}
    for r in lost:
        detail = r.json()["detail"]
        assert detail["recipe_id"] == "race" and detail["request_id"]
        assert detail["error"].startswith(
            f"mm_per_px mismatch for recipe 'race': expected {won[0]}"
        )
    # The same value, and one within a millionth of it, still pass.
    for v in (won[0], won[0] * (1 + 1e-7)):
        r = await http.post(
            "/calibrate_ng", json=ids(recipe_id="race", ok_scores=[1.0], mm_per_px=v)
        )
        assert r.status_code == 200, r.text


async def test_the_lock_holds_for_every_route_that_takes_a_scale(http: httpx.AsyncClient) -> None:
    await seed_model(http, mm_per_px="0.1")
    r = await infer(http, ok_crop(1), mm_per_px="0.2")
    assert r.status_code == 409 and "expected 0.1, got 0.2" in r.json()["detail"]["error"]
    r = await http.post(
        "/datasets/ok/upload",
        data=ids(metas=['{"mm_per_px": 0.3}']),
        files=files("images", [ok_crop(5)]),
    )
    assert r.status_code == 409
    r = await http.post("/fit_ok", data=ids(mm_per_px="0.25", use_dataset="true"))
    assert r.status_code == 409
    # Other recipes have locks of their own.
    r = await http.post(
        "/calibrate_ng", json=ids(recipe_id="line-b", ok_scores=[1.0], mm_per_px=0.2)
    )
    assert r.status_code == 200
