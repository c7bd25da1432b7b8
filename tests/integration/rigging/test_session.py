"""Session statistics and deletion (from Postgres and the blob store), disk space, health."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from infra.settings import Settings
from tests.conftest import LiveApi
from tests.integration.rigging.conftest import Browser, blob_files
from tests.integration.rigging.test_access import error_of


async def test_stats_count_the_sessions_jobs_and_files(
    browser: Callable[[], Browser], stack: LiveApi, small_obj: bytes, other_obj: bytes
) -> None:
    async with browser() as tab:
        path = await tab.uploaded("a.obj", small_obj)
        await tab.uploaded("b.obj", other_obj)
        done = await tab.finished("skeleton", {"input_file": path})
        failed = await tab.finished("merge", {"skeleton_file": path, "skinning_file": path})
        assert failed["status"] == "failed"
        r = await tab.http.get(f"/sessions/{tab.session_id}/stats")
        assert r.status_code == 200, r.text
        stats = r.json()
        assert stats["session_id"] == tab.session_id
        assert (stats["total_jobs"], stats["completed_jobs"], stats["failed_jobs"]) == (2, 1, 1)
        assert (stats["pending_jobs"], stats["total_uploads"]) == (0, 2)
        result = await tab.http.get(f"{stack.url}/rigging{done['output_file']}")
        assert result.status_code == 200
        stored = len(small_obj) + len(other_obj) + len(result.content)
        assert stats["storage_used_mb"] == round(stored / 1024 / 1024, 2)
        assert stats["created_at"] <= stats["last_activity"]


async def test_deleting_a_session_cancels_its_jobs_and_frees_its_files(
    browser: Callable[[], Browser],
    stack: LiveApi,
    small_obj: bytes,
    large_obj: bytes,
    rigging_settings: Settings,
) -> None:
    async with browser() as tab, browser() as other:
        kept = await other.uploaded("kept.obj", small_obj)
        path = await tab.uploaded("a.obj", small_obj)
        done = await tab.finished("skeleton", {"input_file": path})
        big = await tab.uploaded("big.obj", large_obj)
        job = await tab.started("skeleton", {"input_file": big})
        await tab.until(job["job_id"], lambda j: j["status"] == "running")
        sid = tab.session_id
        r = await tab.http.delete(f"/sessions/{sid}", headers=tab.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["message"] == "Session deleted successfully"
        assert body["files_deleted"] == 3
        assert body["storage_freed_mb"] > 0
        assert "session_id" not in tab.http.cookies  # the browser was told to forget it
        async with httpx.AsyncClient(base_url=stack.url) as anonymous:
            name = done["output_file"].rsplit("/", 1)[1]
            r = await anonymous.get(f"/rigging/results/{sid}/{name}")
            assert error_of(r) == (404, "SESSION_NOT_FOUND")
            r = await anonymous.get(f"/rigging/api/sessions/{sid}/stats")
            assert error_of(r) == (404, "SESSION_NOT_FOUND")
        # Only the other session's upload is left once the running job has stopped.
        assert (
            await other.until((await other.started("skeleton", {"input_file": kept}))["job_id"])
        )["status"] == "completed"
        names = sorted(p.name for p in blob_files(rigging_settings))
        assert names == ["kept.obj", "kept_skeleton.glb"]


async def test_disk_space_and_health(stack: LiveApi) -> None:
    async with httpx.AsyncClient(base_url=stack.url + "/rigging/api") as http:
        disk = (await http.get("/disk-space")).json()
        assert disk["total"] >= disk["used"] > 0 and disk["free"] > 0
        assert disk["percent_used"] == round(100 * disk["used"] / disk["total"], 1)
        assert (disk["warning_threshold_gb"], disk["critical_threshold_gb"]) == (10, 5)
        expected = (
            "critical"
            if disk["free"] < 5 * 1024**3
            else "warning"
            if disk["free"] < 10 * 1024**3
            else "ok"
        )
        assert disk["status"] == expected
        health = (await http.get("/health")).json()
        assert (health["status"], health["version"]) == ("healthy", "1.0.0")
        docs = await http.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
