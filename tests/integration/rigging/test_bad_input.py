"""Bad input ends in a clear 4xx in the contract's shape, or in a failed job with
PROCESSING_FAILED and a readable message: never a 500, never a job left running."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
import websockets

from domain.rigging.synthetic import character
from infra.settings import Settings
from tests.conftest import LiveApi
from tests.integration.rigging.conftest import Browser, bare_glb, blob_files, with_rigging
from tests.integration.rigging.test_access import error_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def rigging_settings(settings: Settings) -> Settings:
    return with_rigging(settings, max_faces=10_000, max_upload_bytes=1024 * 1024)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("model.obj", PNG),  # an image calling itself a model
        ("model.glb", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"),  # an OBJ calling itself GLB
        ("model.obj", b"just some notes\n"),
        ("model.txt", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"),  # not a contract extension
        ("model.obj", b""),
    ],
)
async def test_a_file_that_is_not_what_it_claims_is_refused(
    browser: Callable[[], Browser], rigging_settings: Settings, name: str, data: bytes
) -> None:
    async with browser() as tab:
        r = await tab.upload(name, data)
        assert error_of(r) == (400, "INVALID_FILE_FORMAT")
        assert r.json()["detail"].startswith(
            "Invalid file format. Supported: .obj, .fbx, .glb, .vrm"
        )
        assert blob_files(rigging_settings) == []


async def test_an_upload_over_the_size_limit_is_refused(
    browser: Callable[[], Browser], large_obj: bytes, rigging_settings: Settings
) -> None:
    async with browser() as tab:
        r = await tab.upload("big.obj", large_obj)
        assert error_of(r) == (413, "FILE_TOO_LARGE")
        assert r.json()["detail"] == "File size exceeds maximum allowed size of 1MB"
        assert blob_files(rigging_settings) == []


async def test_requests_that_are_not_the_contracts_are_refused(
    browser: Callable[[], Browser], small_obj: bytes
) -> None:
    async with browser() as tab:
        path = await tab.uploaded("a.obj", small_obj)
        r = await tab.http.post("/upload", content=b"{}", headers=tab.headers)
        assert error_of(r) == (400, "INVALID_REQUEST")
        for body in ({}, {"input_file": 3}, {"input_file": path, "output_format": "obj"}):
            r = await tab.job("skeleton", body)
            assert error_of(r) == (400, "INVALID_REQUEST"), body
        r = await tab.http.post(
            "/jobs/skeleton",
            content=b"{not json",
            headers={**tab.headers, "content-type": "application/json"},
        )
        assert error_of(r) == (400, "INVALID_REQUEST")
        r = await tab.job("skeleton", {"input_file": f"/uploads/{tab.session_id}/missing.obj"})
        assert error_of(r) == (404, "FILE_NOT_FOUND")
        assert r.json()["detail"].endswith("/missing.obj")


async def failed(tab: Browser, kind: str, body: dict[str, str]) -> str:
    job = await tab.finished(kind, body)
    assert job["status"] == "failed", job
    assert job["error_code"] == "PROCESSING_FAILED", job
    assert job["error"] and "Traceback" not in job["error"]
    return str(job["error"])


async def test_models_the_engine_cannot_rig_fail_their_job_readably(
    browser: Callable[[], Browser], stack: LiveApi, small_obj: bytes
) -> None:
    glb = bare_glb(character(2))
    no_faces = b"".join(f"v {i} {i % 3} {i % 5}\n".encode() for i in range(20))
    over_limit = bare_glb(character(6))  # 26k faces; this test's limit is 10k
    async with browser() as tab:
        # The socket says why too.
        path = await tab.uploaded("points.obj", no_faces)
        url = f"{stack.ws_url}/rigging/ws?session={tab.session_id}"
        async with websockets.connect(url) as ws:
            job = await tab.started("skeleton", {"input_file": path})
            frame: dict[str, object] = {}
            while frame.get("type") != "job_failed":
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert frame["job_id"] == job["job_id"] and frame["status"] == "failed"
        assert frame["error_code"] == "PROCESSING_FAILED"
        assert "no faces" in str(frame["error"])
        cases = {
            "truncated.glb": (glb[: len(glb) // 2], "glb"),
            "points.obj": (no_faces, "no faces"),
            "dense.glb": (over_limit, "exceeds the limit of 10000"),
        }
        for name, (data, words) in cases.items():
            path = await tab.uploaded(name, data)
            error = await failed(tab, "skeleton", {"input_file": path})
            assert words in error.lower(), (name, error)
        bare = await tab.uploaded("bare.obj", small_obj)
        error = await failed(tab, "skinning", {"input_file": bare})
        assert "no skeleton" in error


async def test_a_merge_of_two_different_models_fails_readably(
    browser: Callable[[], Browser], small_obj: bytes, other_obj: bytes
) -> None:
    async with browser() as tab:
        rigs = {}
        for name, data in (("person.obj", small_obj), ("tree.obj", other_obj)):
            path = await tab.uploaded(name, data)
            skeleton = await tab.finished("skeleton", {"input_file": path})
            skin = await tab.finished("skinning", {"input_file": skeleton["output_file"]})
            rigs[name] = (skeleton["output_file"], skin["output_file"])
        error = await failed(
            tab,
            "merge",
            {"skeleton_file": rigs["person.obj"][0], "skinning_file": rigs["tree.obj"][1]},
        )
        assert "different joints" in error or "same mesh" in error
