"""`Prefer: respond-async`: the job instead of the answer, its progress on /ws like any job."""

from __future__ import annotations

from typing import Any

import httpx

from infra.settings import Settings
from tests.conftest import LiveApi
from tests.integration.inspection.helper import files, ids, incoming, ok_crop, seed_model
from tests.integration.platform.helper import wait_status
from tests.wsclient import WsClient


async def test_a_fit_answers_202_and_streams_its_progress(
    stack: LiveApi,
    http: httpx.AsyncClient,
    platform: httpx.AsyncClient,
    inspector: dict[str, Any],
) -> None:
    login, h = inspector, inspector["headers"]
    ws = await WsClient.connect(stack.ws_url, login["access_token"])
    await ws.subscribe([f"user:{login['user']['id']}"])

    r = await http.post(
        "/fit_ok",
        data=ids(mm_per_px="0.1"),
        files=files("images", [ok_crop(i) for i in range(6)]),
        headers={**h, "Prefer": "respond-async"},
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "inspection.fit" and r.headers["location"] == f"/jobs/{job['id']}"
    events = await ws.until("job.completed", timeout=60)
    await ws.close()
    progress = [e["data"] for e in events if e["type"] == "job.progress"]
    assert progress and all(p["job_id"] == job["id"] for p in progress)
    # Throttled to one per interval, but in order and from the fit's own steps.
    percents = [p["progress"] for p in progress]
    assert percents == sorted(percents)
    assert {p["message"].split(" ")[0] for p in progress} <= {
        "embedded",
        "coreset",
        "memory",
        "storing",
    }
    done = await wait_status(platform, h, job["id"], "completed", "failed")
    assert done["status"] == "completed"
    assert done["result"]["token_shape"] == [6, 6] and done["result"]["n_embeddings"] == 6 * 36

    state = (await http.get("/state", params=ids(), headers=h)).json()
    assert state["memory_fitted"] is True


async def test_dataset_inference_can_run_as_a_job(
    stack: LiveApi,
    http: httpx.AsyncClient,
    platform: httpx.AsyncClient,
    inspector: dict[str, Any],
) -> None:
    login, h = inspector, inspector["headers"]
    await seed_model(http)
    ws = await WsClient.connect(stack.ws_url, login["access_token"])
    await ws.subscribe([f"user:{login['user']['id']}"])
    r = await http.post("/infer_dataset", json=ids(), headers={**h, "Prefer": "respond-async"})
    assert r.status_code == 202, r.text
    events = await ws.until("job.completed", timeout=60)
    await ws.close()
    messages = [e["data"]["message"] for e in events if e["type"] == "job.progress"]
    # Throttled (at most one per interval), but there.
    assert messages and all(m.startswith("scored ") and m.endswith("/4") for m in messages)
    done = await wait_status(platform, h, r.json()["id"], "completed", "failed")
    assert done["status"] == "completed" and done["progress"] == 100
    assert done["result"]["n_total"] == 4 and done["result"]["n_errors"] == 0


async def test_a_failed_job_leaves_no_upload_behind(
    settings: Settings,
    http: httpx.AsyncClient,
    platform: httpx.AsyncClient,
    inspector: dict[str, Any],
) -> None:
    h = inspector["headers"]
    r = await http.post(
        "/fit_ok",
        data=ids(mm_per_px="0.1"),
        files=files("images", [ok_crop(1), ok_crop(2)[:300]]),
        headers={**h, "Prefer": "respond-async"},
    )
    assert r.status_code == 202, r.text
    done = await wait_status(platform, h, r.json()["id"], "completed", "failed")
    assert done["status"] == "failed" and done["error"]["code"] == "INVALID_IMAGE"
    assert await incoming(settings) == []
