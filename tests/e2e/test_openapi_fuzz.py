"""The OpenAPI document tells the truth: schemathesis fuzzes every operation of the real API,
logged in as an admin, and every response must match what `/openapi.json` says."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from infra.settings import Settings
from tests.conftest import LiveApi, create_user
from tests.robodata_factory import FRONT, DatasetSpec, write_dataset

# What `st run --checks all` checks of responses against the document; the checks that judge
# the server's choices (which valid data it accepts, which invalid data it refuses) are not.
# Fuzzed refresh tokens are never valid, so /auth/refresh spends none; DELETEs may remove the
# admin's own records, which is fine on the test's scratch database.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
MAX_EXAMPLES = int(os.environ.get("OPENAPI_FUZZ_EXAMPLES", "25"))
# Only the paths this regex matches (e.g. "^/studio"), to iterate on one service's prefix.
ONLY_PATHS = os.environ.get("OPENAPI_FUZZ_PATHS", "")
# The run took 3.6 minutes with /robodata on two shared cores (its media and index routes
# run real jobs); each service adds its own share.
MAX_TIME_S = 600


@pytest.mark.slow
@pytest.mark.timeout(MAX_TIME_S + 120)
async def test_every_response_matches_the_document(
    settings: Settings, worker: Any, tmp_path: Path
) -> None:
    # /studio's steps run on the media pool; a short deadline keeps a step the fuzzer starts
    # from holding the run (past it the route answers its documented 504).
    settings = msgspec.structs.replace(
        settings, studio=msgspec.structs.replace(settings.studio, step_deadline_s=5.0, local_fps=2)
    )
    # Robodata's routes reach real records and media: a small dataset indexed by real workers.
    await worker("indexing", concurrency=1, s=settings)
    await worker("media", concurrency=2, s=settings)
    write_dataset(
        Path(settings.robodata.roots[0]) / "koch_stack_2026-01-01",
        DatasetSpec(version="v2.1", robot_type="koch", lengths=(6, 4), cameras={FRONT: "libx264"}),
    )
    api = LiveApi(settings)
    await api.start()
    try:
        await create_user(settings, "fuzz-admin", "correct-horse", ["admin"])
        async with httpx.AsyncClient(base_url=api.url) as http:
            r = await http.post(
                "/auth/login", json={"username": "fuzz-admin", "password": "correct-horse"}
            )
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]
            await _index_robodata(http, token, settings.robodata.roots[0])
        await schemathesis(
            api,
            [f"Authorization: Bearer {token}"],
            ["--include-path-regex", ONLY_PATHS] if ONLY_PATHS else [],
            tmp_path,
        )
    finally:
        await api.stop()


@pytest.mark.slow
@pytest.mark.timeout(MAX_TIME_S + 120)
async def test_rigging_responses_match_the_document_inside_a_session(
    settings: Settings, tmp_path: Path
) -> None:
    """/rigging again, as a browser session with a valid CSRF token: the fuzzed changes reach
    the handlers instead of stopping at the CSRF check (no worker: jobs stay pending)."""
    api = LiveApi(settings)
    await api.start()
    try:
        async with httpx.AsyncClient(base_url=f"{api.url}/rigging/api") as http:
            csrf = (await http.get("/csrf-token")).json()["csrf_token"]
            r = await http.post(
                "/upload",
                files={"file": ("m.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")},
                headers={"X-CSRF-Token": csrf},
            )
            assert r.status_code == 200, r.text
            session = r.json()["session_id"]
        headers = [f"X-CSRF-Token: {csrf}", f"Cookie: session_id={session}"]
        await schemathesis(api, headers, ["--include-path-regex", "^/rigging/"], tmp_path)
    finally:
        await api.stop()


async def schemathesis(
    api: LiveApi, headers: list[str], options: list[str], tmp_path: Path
) -> None:
    """Run schemathesis over the live API's document; fail on any failure it reports."""
    report_path = tmp_path / "schemathesis.json"
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{api.url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        *(arg for header in headers for arg in ("--header", header)),
        *options,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--seed",
        "1",
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
        # Schemathesis keeps its replay store in the working directory.
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), MAX_TIME_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"schemathesis took more than {MAX_TIME_S} s")
    output = out.decode(errors="replace")
    report = json.loads(report_path.read_text())
    # The summary names each kind of failure; the output has a curl line reproducing each one.
    assert (report["failures"], report["errors"]) == ([], []), output[-20000:]
    assert report["test_cases"]["generated"] > 0, output[-20000:]


async def _index_robodata(http: httpx.AsyncClient, token: str, root: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    r = await http.post("/robodata/index/scan", json={"path": root}, headers=headers)
    assert r.status_code == 200, r.text
    for _ in range(600):
        status = await http.get(
            "/robodata/index/status", params={"task_id": r.json()["taskId"]}, headers=headers
        )
        if status.json()["status"] in ("completed", "failed"):
            assert status.json()["status"] == "completed", status.text
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the robodata index did not finish")
