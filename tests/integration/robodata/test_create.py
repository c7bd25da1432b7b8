"""parse-lerobot, create-lerobot and upload-lerobot (a folder, or an uploaded archive
unpacked safely into the roots), each parsed by a job and indexed on request."""

from __future__ import annotations

import asyncio
import io
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from tests.integration.robodata.conftest import V3_NAME, V21_NAME, Stack, lab
from tests.integration.robodata.test_media import media_jobs


async def test_parse_lerobot_previews_a_dataset(stack: Stack) -> None:
    r = await stack.post(
        "/datasets/parse-lerobot", {"dataset_path": str(lab(stack.settings) / V3_NAME)}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    info = body["dataset_info"]
    assert (info["codebase_version"], info["robot_type"], info["fps"]) == (
        "v3.0",
        "so101_follower",
        30.0,
    )
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"]) == (4, 46, 2)
    assert info["total_size_bytes"] > 0
    assert body["robot_info"]["robot_id"] == "so101_follower"
    assert [t["task_description"] for t in body["tasks"]] == ["clean the desk", "stack the cups"]
    first = body["episodes"][0]
    assert (first["episode_index"], first["length"], first["task_index"]) == (0, 12, 0)
    assert (first["data_chunk_index"], first["data_file_index"]) == (0, 0)
    assert first["capture_time"] == "2026-01-01"
    assert first["data_files"]["parquet"] == ["data/chunk-000/file-000.parquet"]
    assert len(first["data_files"]["video"]) == 2
    # Nothing was registered by a preview.
    assert (await stack.get("/robots")).json() == {"robots": []}


async def _materialized(stack: Stack, task_id: int) -> dict[str, Any]:
    """The result of the media job the index task asked for, once it has run."""
    job_id = (await stack.get("/index/status", params={"task_id": task_id})).json()["jobId"]
    follow = (await stack.http.get(f"/jobs/{job_id}", headers=stack.headers)).json()
    materialize = follow["result"]["materializeJobId"]
    for _ in range(300):
        job = (await stack.http.get(f"/jobs/{materialize}", headers=stack.headers)).json()
        if job["status"] in ("completed", "failed"):
            assert job["status"] == "completed", job
            return dict(job["result"])
        await asyncio.sleep(0.1)
    raise AssertionError("the materialize job did not finish")


async def test_materialized_assets_are_served_without_a_media_job(stack: Stack) -> None:
    v21 = lab(stack.settings) / V21_NAME
    body = {"path": str(v21), "materialize_assets": True}
    r = await stack.post("/datasets/register", body)
    assert r.status_code == 200, r.text
    assert (await stack.finish(r.json()["taskId"]))["status"] == "completed"
    assert await _materialized(stack, r.json()["taskId"]) == {"episodes": 2, "made": 4, "kept": 0}
    for item in await stack.items():
        for what in ("thumbnail", "stream"):
            got = await stack.http.get(f"/robodata/items/{item['id']}/{what}")
            assert got.status_code == 200, got.text
    assert await media_jobs(stack) == 0
    # Registered again: what is cached is kept, unless the client asks to overwrite it.
    r = await stack.post("/datasets/register", body)
    await stack.finish(r.json()["taskId"])
    assert await _materialized(stack, r.json()["taskId"]) == {"episodes": 2, "made": 0, "kept": 4}
    r = await stack.post("/datasets/register", {**body, "overwrite_assets": True})
    await stack.finish(r.json()["taskId"])
    assert await _materialized(stack, r.json()["taskId"]) == {"episodes": 2, "made": 4, "kept": 0}


async def test_create_lerobot_parses_and_indexes_on_request(stack: Stack) -> None:
    path = str(lab(stack.settings) / V21_NAME)
    r = await stack.post("/datasets/create-lerobot", {"dataset_path": path, "index_now": False})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["taskId"]) == ("parsed", None)
    assert (r.json()["mappedRobot"], r.json()["mappedTaskType"]) == ("koch", "stackcups")
    assert r.json()["parsed"]["episode_count"] == 2
    r = await stack.post("/datasets/create-lerobot", {"dataset_path": path, "robot": "koch2"})
    assert r.json()["status"] == "running"
    assert (await stack.finish(r.json()["taskId"]))["status"] == "completed"
    assert [i["robot"] for i in await stack.items()] == ["koch2", "koch2"]


def zipped(root: Path, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + str(path.relative_to(root.parent)))
    return buffer.getvalue()


def uploads(stack: Stack) -> Path:
    """Where uploaded archives are unpacked: `uploads` in the first root."""
    return Path(stack.settings.robodata.roots[0]).resolve() / "uploads"


async def upload(stack: Stack, name: str, data: bytes, **fields: str) -> tuple[int, Any]:
    r = await stack.http.post(
        "/robodata/datasets/upload-lerobot",
        files={"file": (name, data, "application/octet-stream")},
        data=fields,
        headers=stack.headers,
    )
    return r.status_code, r.json()


async def test_an_uploaded_zip_is_unpacked_into_the_roots_and_indexed(stack: Stack) -> None:
    status, body = await upload(
        stack,
        "koch.zip",
        zipped(lab(stack.settings) / V21_NAME),
        dataset_name="koch_upload_2026-02-02",
    )
    assert status == 200, body
    unpacked = uploads(stack)
    assert body["datasetPath"] == str(unpacked / "koch_upload_2026-02-02" / V21_NAME)
    assert (await stack.finish(body["taskId"]))["status"] == "completed"
    assert len(await stack.items(robot="koch")) == 2
    # The archive itself did not stay in the blob store.
    blobs = Path(stack.settings.blob.root) / "robodata" / "uploads"
    assert not any(p.is_file() for p in blobs.rglob("*"))


async def test_a_tar_upload_works_too(stack: Stack) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(lab(stack.settings) / V21_NAME, arcname=V21_NAME)
    status, body = await upload(stack, "koch.tar", buffer.getvalue(), index_now="false")
    assert (status, body["status"]) == (200, "parsed"), body


async def test_unsafe_archives_are_refused_and_leave_nothing(stack: Stack, tmp_path: Path) -> None:
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("ds/meta/info.json", "{}")
        archive.writestr("../../escaped.txt", "gotcha")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ds/meta/info.json", "{}")
        archive.writestr("ds/zeros.bin", bytes(20 * 1024 * 1024))
    for name, data in (
        ("evil.zip", evil.getvalue()),
        ("bomb.zip", bomb.getvalue()),
        ("junk.zip", b"not an archive at all"),
    ):
        status, body = await upload(stack, name, data)
        assert status == 400 and set(body) == {"detail"}, (name, body)
    root = Path(stack.settings.robodata.roots[0])
    assert not list(root.parent.rglob("escaped.txt"))
    assert not [p for p in (root / "uploads").iterdir() if not p.name.startswith(".")]
    assert (await stack.get("/robots")).json() == {"robots": []}
