"""Index and registration as jobs on the indexing pool, with progress on `/ws`."""

from __future__ import annotations

import asyncio

from tests.integration.robodata.conftest import V3_NAME, Stack, lab
from tests.wsclient import WsClient


async def test_a_scan_streams_its_progress_on_the_platform_socket(stack: Stack) -> None:
    ws = await WsClient.connect(stack.api.ws_url, stack.user["access_token"])
    try:
        await ws.subscribe([f"user:{_user_uuid(stack)}"])
        r = await stack.post("/index/scan", {"path": str(lab(stack.settings))})
        assert r.status_code == 200, r.text
        started = r.json()
        assert (started["status"], started["message"]) == ("running", "Index task started")
        events = await ws.until("job.completed", timeout=90)
    finally:
        await ws.close()
    mine = [e for e in events if e.get("data", {}).get("job_id") == started["jobId"]]
    progress = [e["data"]["progress"] for e in mine if e["type"] == "job.progress"]
    assert progress and progress == sorted(progress)
    assert mine[-1]["type"] == "job.completed"
    status = await stack.finish(started["taskId"])
    assert (status["status"], status["processedEpisodes"]) == ("completed", 6)


def _user_uuid(stack: Stack) -> str:
    import jwt

    claims = jwt.decode(stack.user["access_token"], options={"verify_signature": False})
    return str(claims["sub"])


async def test_registration_maps_the_dataset_and_keeps_the_mapping(stack: Stack) -> None:
    v3 = lab(stack.settings) / V3_NAME
    r = await stack.post(
        "/datasets/register",
        {"path": str(v3), "dataset_name": V3_NAME, "robot": "so101", "task_type": "tidy"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["mappedRobot"], body["mappedTaskType"]) == ("so101", "tidy")
    assert (await stack.finish(body["taskId"]))["status"] == "completed"
    # A later plain scan keeps the registered mapping.
    await stack.index(lab(stack.settings))
    datasets = (await stack.get("/datasets", params={"robot": "so101"})).json()["datasets"]
    assert [(d["name"], d["taskType"], d["episodeCount"]) for d in datasets] == [
        (V3_NAME, "tidy", 4)
    ]
    names = [r["name"] for r in (await stack.get("/robots")).json()["robots"]]
    assert names == ["koch", "so101"]
    assert {i["taskType"] for i in await stack.items(robot="so101", type="tidy")} == {"tidy"}


async def test_an_index_task_is_its_owners(stack: Stack) -> None:
    r = await stack.post("/index/scan", {"path": str(lab(stack.settings))})
    task = r.json()["taskId"]
    await stack.finish(task)
    await stack.login("bob")
    r = await stack.get("/index/status", params={"task_id": task})
    assert (r.status_code, r.json()) == (404, {"detail": "Index task not found"})


async def test_a_parser_process_that_died_does_not_break_indexing(stack: Stack) -> None:
    """The indexing worker's parser processes can be killed (out of memory, an operator):
    the scan's job fails that try, the next try starts new ones and completes."""
    from workers import robodata as handlers

    pool = handlers._parser_pool()
    await asyncio.get_running_loop().run_in_executor(pool, handlers._load_parser)
    for process in list(pool._processes.values()):
        process.kill()
    status = await stack.index(lab(stack.settings))
    assert status["status"] == "completed", status["errorMessage"]
    assert status["processedEpisodes"] == 6
    assert handlers._parser_pool() is not pool
