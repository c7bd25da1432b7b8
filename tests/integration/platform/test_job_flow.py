"""Submit → running → progress → completed, as a client sees it over HTTP and /ws."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.wsclient import WsClient


async def wait_status(
    http: Any, headers: dict[str, str], job_id: str, status: str, timeout: float = 20
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await http.get(f"/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] == status:
            return job
        assert loop.time() < deadline, f"job stayed {job['status']}, wanted {status}: {job}"
        await asyncio.sleep(0.05)


async def test_sleep_job_reports_progress_and_completes_over_ws(http, api, login, worker) -> None:
    alice = await login("alice")
    await worker("indexing")
    ws = await WsClient.connect(api.ws_url, alice["access_token"])
    await ws.subscribe([f"user:{alice['user']['id']}"])
    r = await http.post(
        "/jobs",
        json={"kind": "platform.sleep", "payload": {"seconds": 0.5, "steps": 5}},
        headers=alice["headers"],
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "pending" and job["pool"] == "indexing"
    events = await ws.until("job.completed")
    types = [e["type"] for e in events if e["data"]["job_id"] == job["id"]]
    assert types[0] == "job.created"
    assert "job.started" in types and "job.progress" in types
    progress = [e["data"]["progress"] for e in events if e["type"] == "job.progress"]
    assert progress == sorted(progress) and progress[-1] <= 100
    done = events[-1]
    assert done["topic"] == f"user:{alice['user']['id']}"
    assert done["data"]["status"] == "completed" and done["data"]["progress"] == 100
    assert done["data"]["result"]["steps"] == 5
    final = await wait_status(http, alice["headers"], job["id"], "completed")
    assert final["attempts"] == 1 and final["started_at"] and final["completed_at"]
    await ws.close()
