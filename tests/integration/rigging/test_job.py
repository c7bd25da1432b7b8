"""Job rules: one active job per session, cancel (pending and running), delete, listing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.conftest import LiveApi
from tests.integration.rigging.conftest import Browser
from tests.integration.rigging.test_access import error_of


async def test_one_active_job_per_session(
    api_only: LiveApi, small_obj: bytes, other_obj: bytes
) -> None:
    """With no worker the first job stays pending: the second is refused, even when asked
    for at once, until the first is cancelled."""
    async with Browser(api_only) as tab, Browser(api_only) as other:
        path = await tab.uploaded("a.obj", small_obj)
        second = await tab.uploaded("b.obj", other_obj)
        replies = await asyncio.gather(
            *(tab.job("skeleton", {"input_file": p}) for p in (path, second, path))
        )
        assert sorted(r.status_code for r in replies) == [200, 409, 409]
        refused = next(r for r in replies if r.status_code == 409)
        assert error_of(refused) == (409, "CONCURRENT_JOB_LIMIT")
        assert refused.json()["detail"] == (
            "Cannot create new job: Active job already exists for this session"
        )
        # Another session is not held back by this one.
        theirs = await other.uploaded("c.obj", small_obj)
        assert (await other.job("skeleton", {"input_file": theirs})).status_code == 200

        job = next(r for r in replies if r.status_code == 200).json()
        r = await tab.http.post(f"/jobs/{job['job_id']}/cancel", headers=tab.headers)
        assert r.status_code == 200, r.text
        assert r.json() == {
            "job_id": job["job_id"],
            "status": "cancelled",
            "message": "Job cancelled successfully",
        }
        assert (await tab.http.get(f"/jobs/{job['job_id']}")).json()["status"] == "cancelled"
        r = await tab.http.post(f"/jobs/{job['job_id']}/cancel", headers=tab.headers)
        assert error_of(r) == (400, "JOB_NOT_ACTIVE")
        assert r.json()["detail"] == "Cannot cancel job: Job already cancelled"
        assert (await tab.job("skeleton", {"input_file": second})).status_code == 200
        listed = (await tab.http.get("/jobs", params={"status": "pending"})).json()
        assert [j["input_file"] for j in listed["jobs"]] == [second]


async def test_cancel_stops_a_running_job(browser: Callable[[], Browser], large_obj: bytes) -> None:
    async with browser() as tab:
        path = await tab.uploaded("big.obj", large_obj)
        job = await tab.started("skeleton", {"input_file": path})
        running = await tab.until(job["job_id"], lambda j: j["status"] != "pending")
        assert running["status"] == "running", running
        r = await tab.http.post(f"/jobs/{job['job_id']}/cancel", headers=tab.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        ended = await tab.until(job["job_id"])
        assert ended["status"] == "cancelled" and ended["output_file"] is None
        # The session may start again at once.
        assert (await tab.job("skeleton", {"input_file": path})).status_code == 200


async def test_delete_removes_a_finished_job_only(
    browser: Callable[[], Browser], small_obj: bytes
) -> None:
    async with browser() as tab:
        path = await tab.uploaded("a.obj", small_obj)
        job = await tab.finished("skeleton", {"input_file": path})
        r = await tab.http.delete(f"/jobs/{job['job_id']}", headers=tab.headers)
        assert (r.status_code, r.json()) == (200, {"message": "Job deleted successfully"})
        assert error_of(await tab.http.get(f"/jobs/{job['job_id']}")) == (404, "JOB_NOT_FOUND")
        # Its result stays the session's: later jobs may use it.
        assert (await tab.job("skinning", {"input_file": job["output_file"]})).status_code == 200


async def test_a_list_refuses_a_status_it_does_not_know(
    browser: Callable[[], Browser], small_obj: bytes
) -> None:
    async with browser() as tab:
        await tab.uploaded("a.obj", small_obj)
        r = await tab.http.get("/jobs", params={"status": "exploded"})
        assert error_of(r) == (400, "INVALID_REQUEST")
        r = await tab.http.get("/jobs", params={"limit": 0})
        assert error_of(r) == (400, "INVALID_REQUEST")
