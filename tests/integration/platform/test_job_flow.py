"""Jobs from a client's point of view: HTTP submit and polling, events over /ws."""

from __future__ import annotations

import asyncio

from tests.integration.platform.helper import submit, wait_status
from tests.wsclient import WsClient


async def test_sleep_job_reports_progress_and_completes_over_ws(http, api, login, worker) -> None:
    alice = await login("alice")
    await worker("indexing")
    ws = await WsClient.connect(api.ws_url, alice["access_token"])
    await ws.subscribe([f"user:{alice['user']['id']}"])
    job = await submit(http, alice["headers"], payload={"seconds": 0.5, "steps": 5})
    assert job["status"] == "pending" and job["pool"] == "indexing"
    events = await ws.until("job.completed")
    types = [e["type"] for e in events if e["data"]["job_id"] == job["id"]]
    assert types[0] == "job.created"
    assert "job.started" in types and "job.progress" in types
    progress = [e["data"]["progress"] for e in events if e["type"] == "job.progress"]
    assert progress == sorted(progress) and 0 < progress[-1] <= 100
    done = events[-1]
    assert done["topic"] == f"user:{alice['user']['id']}"
    assert done["data"]["status"] == "completed" and done["data"]["progress"] == 100
    assert done["data"]["result"]["steps"] == 5
    final = await wait_status(http, alice["headers"], job["id"], "completed")
    assert final["attempts"] == 1 and final["started_at"] and final["completed_at"]
    assert final["result"] == {"slept_s": 0.5, "steps": 5, "attempt": 1}
    await ws.close()


async def test_job_topic_subscription_with_first_message_auth(http, api, login, worker) -> None:
    alice = await login("alice")
    await worker("media")
    job = await submit(http, alice["headers"], "platform.noop", pool="media")
    ws = await WsClient.connect(api.ws_url, alice["access_token"], query=False)
    # since "0" replays everything retained, so a job that finished already is not missed.
    early = await ws.subscribe([f"job:{job['id']}"], since={f"job:{job['id']}": "0"})
    events = (
        early
        if any(e["type"] == "job.completed" for e in early)
        else early + await ws.until("job.completed")
    )
    assert [e["type"] for e in events] == ["job.created", "job.started", "job.completed"]
    assert all(e["data"]["pool"] == "media" for e in events)
    await ws.close()


async def test_transient_failures_retry_then_succeed(http, login, worker) -> None:
    alice = await login("alice")
    await worker()
    job = await submit(
        http, alice["headers"], payload={"seconds": 0.05, "steps": 1, "fail_times": 2}
    )
    done = await wait_status(http, alice["headers"], job["id"], "completed", "failed")
    assert done["status"] == "completed", done
    assert done["attempts"] == 3
    assert done["result"]["attempt"] == 3


async def test_transient_failures_beyond_max_tries_fail(http, login, worker) -> None:
    alice = await login("alice")
    await worker()
    job = await submit(
        http, alice["headers"], payload={"seconds": 0.01, "steps": 1, "fail_times": 50}
    )
    done = await wait_status(http, alice["headers"], job["id"], "failed", "completed", timeout=60)
    assert done["status"] == "failed"
    assert done["attempts"] == done["max_tries"] == 5
    assert (
        done["error"]["code"] == "TRANSIENT" and "gave up after 5 tries" in done["error"]["detail"]
    )


async def test_permanent_failure_fails_at_once_with_its_code(http, api, login, worker) -> None:
    alice = await login("alice")
    await worker()
    ws = await WsClient.connect(api.ws_url, alice["access_token"])
    await ws.subscribe([f"user:{alice['user']['id']}"])
    job = await submit(http, alice["headers"], payload={"fail_permanently": True})
    events = await ws.until("job.failed")
    assert events[-1]["data"]["error"] == {
        "code": "ASKED_TO_FAIL",
        "detail": "failing permanently as asked",
    }
    done = await wait_status(http, alice["headers"], job["id"], "failed")
    assert done["attempts"] == 1
    assert done["error"]["code"] == "ASKED_TO_FAIL"
    await ws.close()


async def test_timeout_fails_with_timeout_code(http, login, worker) -> None:
    alice = await login("alice")
    await worker()
    job = await submit(http, alice["headers"], payload={"seconds": 30, "steps": 30}, timeout_s=0.5)
    done = await wait_status(http, alice["headers"], job["id"], "failed", "completed")
    assert done["status"] == "failed"
    assert done["error"]["code"] == "TIMEOUT"
    assert done["attempts"] == 1


async def test_cancel_pending_job(http, login) -> None:
    alice = await login("alice")
    # No worker: the job stays pending until cancelled.
    job = await submit(http, alice["headers"], payload={"seconds": 1})
    r = await http.post(f"/jobs/{job['id']}/cancel", headers=alice["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    again = await http.post(f"/jobs/{job['id']}/cancel", headers=alice["headers"])
    assert again.status_code == 409 and again.json()["code"] == "ALREADY_FINISHED"


async def test_cancelled_pending_job_never_runs(http, login, worker) -> None:
    alice = await login("alice")
    job = await submit(http, alice["headers"], payload={"seconds": 0.01, "steps": 1})
    await http.post(f"/jobs/{job['id']}/cancel", headers=alice["headers"])
    await worker()
    other = await submit(http, alice["headers"], "platform.noop")
    await wait_status(http, alice["headers"], other["id"], "completed")
    final = await wait_status(http, alice["headers"], job["id"], "cancelled")
    assert final["started_at"] is None and final["attempts"] == 0


async def _cancel_running(http, alice, payload) -> dict:
    job = await submit(http, alice["headers"], payload=payload)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:  # wait until it has made visible progress
        cur = (await http.get(f"/jobs/{job['id']}", headers=alice["headers"])).json()
        if cur["status"] == "running" and cur["progress"] > 0:
            break
        assert loop.time() < deadline, cur
        await asyncio.sleep(0.05)
    r = await http.post(f"/jobs/{job['id']}/cancel", headers=alice["headers"])
    assert r.status_code == 202, r.text
    assert r.json()["cancel_requested"] is True
    return await wait_status(http, alice["headers"], job["id"], "cancelled", "completed", "failed")


async def test_cancel_running_job(http, login, worker) -> None:
    alice = await login("alice")
    await worker()
    done = await _cancel_running(http, alice, {"seconds": 30, "steps": 300})
    assert done["status"] == "cancelled"
    assert 0 < done["progress"] < 100


async def test_cancel_running_job_in_a_thread(http, login, worker) -> None:
    alice = await login("alice")
    await worker()
    done = await _cancel_running(http, alice, {"seconds": 30, "steps": 300, "in_thread": True})
    assert done["status"] == "cancelled"
    progress_at_cancel = done["progress"]
    await asyncio.sleep(0.5)
    # The thread really stopped: no progress is written after the cancel.
    later = (await http.get(f"/jobs/{done['id']}", headers=alice["headers"])).json()
    assert later["progress"] == progress_at_cancel < 100


async def test_idempotency_key_returns_the_same_job(http, login, worker) -> None:
    alice = await login("alice")
    body = {"kind": "platform.noop", "payload": {}, "idempotency_key": "order-42"}
    first = await http.post("/jobs", json=body, headers=alice["headers"])
    second = await http.post("/jobs", json=body, headers=alice["headers"])
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    listed = (await http.get("/jobs", headers=alice["headers"])).json()
    assert listed["total"] == 1
    clash = await http.post(
        "/jobs",
        json={"kind": "platform.sleep", "payload": {}, "idempotency_key": "order-42"},
        headers=alice["headers"],
    )
    assert clash.status_code == 409 and clash.json()["code"] == "IDEMPOTENCY_CONFLICT"
    # Keys are per user: bob's "order-42" is a different job.
    bob = await login("bob")
    other = await http.post("/jobs", json=body, headers=bob["headers"])
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    await worker()
    await wait_status(http, alice["headers"], first.json()["id"], "completed")


async def test_batch_submit_in_order_and_all_run(http, login, worker) -> None:
    alice = await login("alice")
    jobs = [{"kind": "platform.noop"} for _ in range(20)] + [
        {"kind": "platform.sleep", "payload": {"seconds": 0.01, "steps": 1}, "pool": "gpu"}
    ]
    r = await http.post("/jobs/batch", json={"jobs": jobs}, headers=alice["headers"])
    assert r.status_code == 202, r.text
    out = r.json()["jobs"]
    assert [j["kind"] for j in out] == [j["kind"] for j in jobs]
    assert out[-1]["pool"] == "gpu"
    await worker("indexing", concurrency=8)
    await worker("gpu")
    for j in out:
        await wait_status(http, alice["headers"], j["id"], "completed")


async def test_batch_is_one_transaction(http, login) -> None:
    alice = await login("alice")
    jobs = [{"kind": "platform.noop"}, {"kind": "platform.sleep", "payload": {"seconds": "x"}}]
    r = await http.post("/jobs/batch", json={"jobs": jobs}, headers=alice["headers"])
    assert r.status_code == 400
    assert r.json()["detail"].startswith("jobs[1].payload:")
    assert (await http.get("/jobs", headers=alice["headers"])).json()["total"] == 0


async def test_list_filters_pagination_and_delete(http, login, worker) -> None:
    alice = await login("alice")
    ids = [(await submit(http, alice["headers"], "platform.noop"))["id"] for _ in range(3)]
    pending = await submit(http, alice["headers"], payload={"seconds": 1})
    await http.post(f"/jobs/{pending['id']}/cancel", headers=alice["headers"])
    await worker()
    for job_id in ids:
        await wait_status(http, alice["headers"], job_id, "completed")
    page = (await http.get("/jobs?status=completed&limit=2", headers=alice["headers"])).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["limit"] == 2
    rest = (
        await http.get("/jobs?status=completed&limit=2&offset=2", headers=alice["headers"])
    ).json()
    assert {j["id"] for j in page["items"] + rest["items"]} == set(ids)
    assert (await http.get("/jobs?kind=platform.sleep", headers=alice["headers"])).json()[
        "total"
    ] == 1
    bad = await http.get("/jobs?status=weird", headers=alice["headers"])
    assert bad.status_code == 400 and "status" in bad.json()["detail"]
    too_many = await http.get("/jobs?limit=100000", headers=alice["headers"])
    assert too_many.status_code == 400
    assert (await http.delete(f"/jobs/{ids[0]}", headers=alice["headers"])).status_code == 204
    assert (await http.get(f"/jobs/{ids[0]}", headers=alice["headers"])).status_code == 404
    running = await submit(http, alice["headers"], payload={"seconds": 5, "steps": 50})
    await wait_status(http, alice["headers"], running["id"], "running")
    r = await http.delete(f"/jobs/{running['id']}", headers=alice["headers"])
    assert r.status_code == 409 and r.json()["code"] == "JOB_ACTIVE"
