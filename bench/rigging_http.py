"""The rigging service end to end beside the engine alone (`python -m bench.rigging --http`).

One API process and one rigging worker (concurrency 1) on the bench's scratch database. Per
model and run: a new session (CSRF token, upload), then skeleton, skinning and merge to GLB,
each awaited on the session's socket, then the download. The engine alone runs the same three
pipeline functions on the same file in this process. Medians of `runs`; one warm-up run
first, so neither side pays for first imports; the two sides alternate, so both see the
same background load.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.harness import free_port, machine, stack
from domain.rigging.model import Limits
from domain.rigging.pipeline import merge_job, skeleton_job, skinning_job
from domain.rigging.synthetic import character, obj_bytes


def engine_alone(data: bytes, folder: Path) -> float:
    """Seconds for skeleton, skinning and merge on local files, as the worker runs them."""
    src = folder / "model.obj"
    src.write_bytes(data)
    limits = Limits()
    start = time.perf_counter()
    skeleton_job(src, folder / "s.glb", limits)
    skinning_job(folder / "s.glb", folder / "k.glb", limits)
    merge_job(folder / "s.glb", folder / "k.glb", folder / "m.glb", limits)
    return time.perf_counter() - start


async def service(url: str, data: bytes) -> dict[str, float]:
    """Seconds from the first request to the downloaded rig, through HTTP and the socket,
    with where they went: the upload, the jobs' wait for a worker (created → started) and
    their run in it (started → completed, fetching inputs and storing results included)."""
    # The client's own set-up (httpx builds an SSL context) is not the platform's time.
    async with httpx.AsyncClient(base_url=f"{url}/rigging/api", timeout=300) as http:
        start = time.perf_counter()
        token = (await http.get("/csrf-token")).json()["csrf_token"]
        headers = {"X-CSRF-Token": token}
        r = await http.post("/upload", files={"file": ("model.obj", data)}, headers=headers)
        r.raise_for_status()
        uploaded = time.perf_counter() - start
        sid = r.json()["session_id"]
        ws_url = url.replace("http://", "ws://") + f"/rigging/ws?session={sid}"
        async with websockets.connect(ws_url) as ws:

            async def job(kind: str, body: dict[str, Any]) -> str:
                r = await http.post(f"/jobs/{kind}", json=body, headers=headers)
                r.raise_for_status()
                job_id = r.json()["job_id"]
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 300))
                    if frame.get("job_id") != job_id:
                        continue
                    if frame["type"] == "job_completed":
                        return str(frame["output_file"])
                    if frame["type"] in ("job_failed", "job_cancelled"):
                        raise RuntimeError(f"{kind}: {frame}")

            skeleton = await job("skeleton", {"input_file": r.json()["path"]})
            skin = await job("skinning", {"input_file": skeleton})
            final = await job(
                "merge",
                {"skeleton_file": skeleton, "skinning_file": skin, "output_format": "glb"},
            )
        r = await http.get(f"{url}/rigging{final}")
        r.raise_for_status()
        total = time.perf_counter() - start
        queued = ran = 0.0
        for listed in (await http.get("/jobs")).json()["jobs"]:
            j = (await http.get(f"/jobs/{listed['job_id']}")).json()
            created, started, done = (
                datetime.fromisoformat(j[k]) for k in ("created_at", "started_at", "completed_at")
            )
            queued += (started - created).total_seconds()
            ran += (done - started).total_seconds()
    return {"total": total, "upload": uploaded, "queued": queued, "ran": ran}


def run(runs: int) -> None:
    models = {"character_4k": character(2), "character_47k": character(8)}
    with stack() as sy_stack:
        port = free_port()
        sy_stack.fleet.api(port, 1)
        sy_stack.fleet.spawn("worker", "worker", "--pool", "rigging", "--concurrency", "1")
        time.sleep(3)
        url = f"http://127.0.0.1:{port}"
        rows = []
        for name, model in models.items():
            data = obj_bytes(model.mesh)
            engine_alone(data, Path(tempfile.mkdtemp(dir=sy_stack.tmp)))  # warm-up
            asyncio.run(service(url, data))
            # Interleaved, so both sides see the same background load.
            engine, http = [], []
            for _ in range(runs):
                engine.append(engine_alone(data, Path(tempfile.mkdtemp(dir=sy_stack.tmp))))
                http.append(asyncio.run(service(url, data)))
            rows.append((name, len(model.mesh.faces), engine, http))
    print(f"machine: {machine()}")
    print(
        f"{'model':<16} {'faces':>7} {'engine s':>9} {'service s':>10} {'added s':>8} "
        f"{'upload s':>9} {'queued s':>9} {'in worker s':>12}"
    )
    for name, faces, engine, http in rows:
        e = statistics.median(engine)
        h = {k: statistics.median(r[k] for r in http) for k in http[0]}
        print(
            f"{name:<16} {faces:>7} {e:>9.2f} {h['total']:>10.2f} {h['total'] - e:>8.2f} "
            f"{h['upload']:>9.2f} {h['queued']:>9.2f} {h['ran']:>12.2f}"
        )
    print(f"(medians of {runs} runs; queued and in worker: the three jobs together)")
