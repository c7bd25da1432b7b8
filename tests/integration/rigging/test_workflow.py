"""The contract's complete workflow through HTTP with a real rigging worker: CSRF token,
upload, skeleton (polled and watched on the socket), skinning, merge to FBX and GLB, download."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from domain.rigging.loader import load_model
from domain.rigging.model import Limits
from tests.conftest import LiveApi
from tests.integration.rigging.conftest import API, Browser


async def frames_until(ws: Any, job_id: str, last: str) -> list[dict[str, Any]]:
    """The socket's frames for one job, up to its frame of type `last`."""
    seen: list[dict[str, Any]] = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if frame.get("job_id") != job_id:
            continue
        seen.append(frame)
        if frame["type"] == last:
            return seen


async def test_the_complete_workflow(
    browser: Callable[[], Browser], stack: LiveApi, small_obj: bytes, tmp_path: Path
) -> None:
    async with browser() as tab:
        r = await tab.upload("character.obj", small_obj)
        assert r.status_code == 200, r.text
        uploaded = r.json()
        sid = tab.session_id
        assert uploaded["path"] == f"/uploads/{sid}/character.obj"
        assert (uploaded["filename"], uploaded["size"]) == ("character.obj", len(small_obj))
        assert uploaded["mime_type"] == "model/obj"
        assert r.headers["X-RateLimit-Limit"] == "10"
        assert r.headers["X-RateLimit-Remaining"] == "9"

        async with websockets.connect(f"{stack.ws_url}/rigging/ws?session={sid}") as ws:
            job = await tab.started("skeleton", {"input_file": uploaded["path"]})
            assert job["status"] == "pending" and job["type"] == "skeleton"
            assert (job["input_file"], job["progress"]) == (uploaded["path"], 0)
            frames = await frames_until(ws, job["job_id"], "job_completed")
        polled = await tab.until(job["job_id"])
        skeleton = f"/results/{sid}/character_skeleton.glb"
        assert polled["status"] == "completed" and polled["progress"] == 100
        assert polled["output_file"] == skeleton and polled["error"] is None
        assert polled["started_at"] and polled["completed_at"]
        # The original backend's extras, which its page reads.
        assert (polled["session_id"], polled["filename"]) == (sid, "character.obj")
        assert polled["results"]["skeleton_file"] == skeleton
        progress = [f for f in frames if f["type"] == "job_progress"]
        assert progress and all(f["status"] == "running" for f in progress)
        assert [f["progress"] for f in progress] == sorted(f["progress"] for f in progress)
        assert any(f["message"] for f in progress)  # stages are named
        assert frames[-1]["output_file"] == skeleton

        skin = await tab.finished("skinning", {"input_file": skeleton})
        assert skin["status"] == "completed", skin
        skinning = f"/results/{sid}/character_skinning.glb"
        assert skin["output_file"] == skinning

        for fmt in ("fbx", "glb"):
            merged = await tab.finished(
                "merge",
                {"skeleton_file": skeleton, "skinning_file": skinning, "output_format": fmt},
            )
            assert merged["status"] == "completed", merged
            assert merged["output_file"] == f"/results/{sid}/character_rigged.{fmt}"

        # The contract's download: no cookie, the session id in the path.
        async with httpx.AsyncClient(base_url=stack.url) as anonymous:
            for fmt, magic in (("glb", b"glTF"), ("fbx", b"Kaydara FBX Binary")):
                r = await anonymous.get(f"/rigging/results/{sid}/character_rigged.{fmt}")
                assert r.status_code == 200
                assert r.headers["content-type"] == "application/octet-stream"
                assert r.headers["content-disposition"].startswith(
                    f'attachment; filename="character_rigged.{fmt}"'
                )
                assert r.content.startswith(magic)
                path = tmp_path / f"rig.{fmt}"
                path.write_bytes(r.content)
                rig = load_model(path, Limits())
                assert rig.skeleton is not None and rig.weights is not None
                assert len(rig.skeleton.names) == merged_joints(rig)
            r = await anonymous.get(
                f"/rigging/results/{sid}/character_rigged.glb", headers={"Range": "bytes=0-3"}
            )
            assert (r.status_code, r.content) == (206, b"glTF")
            assert r.headers["content-range"].startswith("bytes 0-3/")

        listed = (await tab.http.get("/jobs")).json()
        assert listed["total"] == 4 and (listed["limit"], listed["offset"]) == (50, 0)
        assert [j["type"] for j in listed["jobs"]] == ["merge", "merge", "skinning", "skeleton"]
        done = (await tab.http.get("/jobs", params={"status": "completed", "limit": 1})).json()
        assert (done["total"], len(done["jobs"])) == (4, 1)


def merged_joints(model: Any) -> int:
    return int(model.weights.shape[1])


async def test_the_socket_replays_what_a_reconnecting_client_missed(
    browser: Callable[[], Browser], stack: LiveApi, small_obj: bytes
) -> None:
    async with browser() as tab:
        path = await tab.uploaded("a.obj", small_obj)
        sid = tab.session_id
        url = f"{stack.ws_url}/rigging/ws?session={sid}"
        async with websockets.connect(url) as ws:
            job = await tab.started("skeleton", {"input_file": path})
            first = json.loads(await asyncio.wait_for(ws.recv(), 30))
        # Gone after its first frame; the job ends while nobody listens.
        await tab.until(job["job_id"])
        async with websockets.connect(f"{url}&since={first['event_id']}") as ws:
            missed = await frames_until(ws, job["job_id"], "job_completed")
        assert missed[0]["event_id"] != first["event_id"]
        assert missed[-1]["output_file"] == f"/results/{sid}/a_skeleton.glb"


async def test_the_socket_refuses_a_session_never_issued(stack: LiveApi) -> None:
    async with websockets.connect(f"{stack.ws_url}/rigging/ws?session={'x' * 43}") as ws:
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 4404
        else:
            raise AssertionError("the socket stayed open")


async def test_the_socket_shows_only_its_own_sessions_jobs(
    browser: Callable[[], Browser], stack: LiveApi, small_obj: bytes
) -> None:
    async with browser() as mine, browser() as theirs:
        own = await mine.uploaded("m.obj", small_obj)
        other = await theirs.uploaded("t.obj", small_obj)
        url = f"{stack.ws_url}/rigging/ws?session={mine.session_id}"
        async with websockets.connect(url) as ws:
            foreign = await theirs.started("skeleton", {"input_file": other})
            await theirs.until(foreign["job_id"])
            job = await mine.started("skeleton", {"input_file": own})
            await mine.until(job["job_id"])
            frames = []
            while not frames or frames[-1].get("type") != "job_completed":
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        assert {f["job_id"] for f in frames} == {job["job_id"]}


async def test_the_contract_python_client_runs_as_written(
    stack: LiveApi, small_obj: bytes, tmp_path: Path
) -> None:
    """`UniRigClient` from the contract, unchanged but for its base URL and poll interval."""
    import requests

    class UniRigClient:
        def __init__(self, base_url: str = "http://localhost/api") -> None:
            self.base_url = base_url
            self.session = requests.Session()
            self.csrf_token = self._get_csrf_token()

        def _get_csrf_token(self) -> Any:
            response = self.session.get(f"{self.base_url}/csrf-token")
            return response.json()["csrf_token"]

        def upload_file(self, file_path: str) -> Any:
            with open(file_path, "rb") as f:
                files = {"file": (Path(file_path).name, f)}
                headers = {"X-CSRF-Token": self.csrf_token}
                response = self.session.post(
                    f"{self.base_url}/upload", files=files, headers=headers
                )
                response.raise_for_status()
                return response.json()

        def create_skeleton_job(self, input_file: str) -> Any:
            headers = {"X-CSRF-Token": self.csrf_token}
            data = {"input_file": input_file}
            response = self.session.post(
                f"{self.base_url}/jobs/skeleton", json=data, headers=headers
            )
            response.raise_for_status()
            return response.json()

        def get_job_status(self, job_id: str) -> Any:
            response = self.session.get(f"{self.base_url}/jobs/{job_id}")
            response.raise_for_status()
            return response.json()

        def wait_for_job(self, job_id: str, poll_interval: float = 5) -> Any:
            import time

            while True:
                job = self.get_job_status(job_id)
                if job["status"] in ["completed", "failed", "cancelled"]:
                    return job
                print(f"Progress: {job['progress']}%")
                time.sleep(poll_interval)

    model = tmp_path / "character.obj"
    model.write_bytes(small_obj)

    def usage() -> Any:
        client = UniRigClient(f"{stack.url}{API}")
        upload_result = client.upload_file(str(model))
        job = client.create_skeleton_job(upload_result["path"])
        return client.wait_for_job(job["job_id"], poll_interval=0.2)

    final_job = await asyncio.to_thread(usage)
    assert final_job["status"] == "completed", final_job
    assert final_job["output_file"].endswith("/character_skeleton.glb")


async def test_the_curl_walkthrough_token_without_a_cookie_jar(
    stack: LiveApi, small_obj: bytes
) -> None:
    """Step 1 fetches the token with no cookie jar; step 2 uploads with it (saving the new
    session's cookie); step 3 creates a job with the same token and that cookie."""
    base = stack.url + API
    async with httpx.AsyncClient() as no_jar:
        token = (await no_jar.get(f"{base}/csrf-token")).json()["csrf_token"]
    async with httpx.AsyncClient() as jar:
        r = await jar.post(
            f"{base}/upload",
            headers={"X-CSRF-Token": token},
            files={"file": ("character.obj", small_obj)},
        )
        assert r.status_code == 200, r.text
        assert "httponly" in r.headers["set-cookie"].lower()
        r = await jar.post(
            f"{base}/jobs/skeleton",
            headers={"X-CSRF-Token": token},
            json={"input_file": r.json()["path"]},
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "pending"


async def test_a_form_field_session_is_the_session(
    browser: Callable[[], Browser], stack: LiveApi, small_obj: bytes
) -> None:
    """The original page sends `session_id` as a form field; a client without cookies may too."""
    async with browser() as tab:
        first = (await tab.upload("a.obj", small_obj)).json()
    async with httpx.AsyncClient(base_url=stack.url + API) as no_cookies:
        token = (await no_cookies.get("/csrf-token")).json()["csrf_token"]
        no_cookies.cookies.clear()
        r = await no_cookies.post(
            "/upload",
            headers={"X-CSRF-Token": token},
            files={"file": ("b.obj", small_obj)},
            data={"session_id": first["session_id"]},
        )
        assert r.status_code == 200, r.text
        assert r.json()["path"] == f"/uploads/{first['session_id']}/b.obj"
        stats = (await no_cookies.get(f"/sessions/{first['session_id']}/stats")).json()
        assert stats["total_uploads"] == 2


async def test_the_contract_typescript_client_runs_as_written(
    stack: LiveApi, small_obj: bytes, tmp_path: Path
) -> None:
    """`UniRigClient` from the contract (types stripped) in Node, with a browser's cookie jar."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node binary")
    model = tmp_path / "character.obj"
    model.write_bytes(small_obj)
    proc = await asyncio.create_subprocess_exec(
        node,
        str(Path(__file__).with_name("unirig_client.mjs")),
        f"{stack.url}{API}",
        str(model),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out)
    assert result["finalJob"]["status"] == "completed", result
    assert result["finalJob"]["output_file"].endswith("/character_skeleton.glb")
    assert result["seen"][-1] == 100


async def test_every_contract_format_is_rigged(
    browser: Callable[[], Browser], stack: LiveApi, figure_glb: bytes, small_obj: bytes
) -> None:
    """GLB (Khronos' RiggedFigure mesh), the same bytes as .vrm, and an FBX file (the
    service's own FBX export: bpy runs in the worker's threads only, never beside it)."""
    async with browser() as tab:
        path = await tab.uploaded("model.obj", small_obj)
        skeleton = await tab.finished("skeleton", {"input_file": path, "output_format": "fbx"})
        assert skeleton["output_file"].endswith("/model_skeleton.fbx"), skeleton
        fbx = (await tab.http.get(f"{stack.url}/rigging{skeleton['output_file']}")).content
        for name, data, mime in (
            ("figure.glb", figure_glb, "model/gltf-binary"),
            ("avatar.vrm", figure_glb, "model/gltf-binary"),
            ("rigged.fbx", fbx, "application/vnd.autodesk.fbx"),
        ):
            r = await tab.upload(name, data)
            assert r.status_code == 200, r.text
            assert r.json()["mime_type"] == mime
            job = await tab.finished("skeleton", {"input_file": r.json()["path"]})
            assert job["status"] == "completed", job
