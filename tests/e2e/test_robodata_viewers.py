"""Rerun viewers with two media worker processes: a request that lands on the worker not
running the viewer reuses it, and a stop made there stops it where it runs."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx

from infra.embedded import free_port
from infra.settings import Settings
from tests.e2e.conftest import Processes
from tests.robodata_factory import FRONT, DatasetSpec, write_dataset


async def _serving(url: str) -> bool:
    async with httpx.AsyncClient(timeout=2) as client:
        try:
            await client.get(url)
        except httpx.ConnectError:
            return False
    return True


async def test_a_viewer_is_reused_and_stopped_from_another_media_worker(
    settings: Settings, procs: Processes, user_headers: Any
) -> None:
    write_dataset(
        Path(settings.robodata.roots[0]) / "koch_stack_2026-01-01",
        DatasetSpec(version="v2.1", robot_type="koch", lengths=(6,), cameras={FRONT: "libx264"}),
    )
    procs.worker("indexing", name="indexing")
    first = procs.worker("media", name="media-a")
    url = await procs.api()
    headers = await user_headers(url)
    async with httpx.AsyncClient(base_url=f"{url}/robodata", headers=headers, timeout=60) as http:
        r = await http.post("/index/scan", json={"path": settings.robodata.roots[0]})
        for _ in range(600):
            status = await http.get("/index/status", params={"task_id": r.json()["taskId"]})
            if status.json()["status"] == "completed":
                break
            await asyncio.sleep(0.1)
        (item,) = (await http.get("/items")).json()["items"]
        ports = {"ws_port": free_port(), "web_port": free_port()}
        viewer = f"/items/{item['id']}/visualize/server"
        r = await http.post(viewer, json=ports)
        assert r.status_code == 200, r.text
        started = r.json()
        assert started["reused"] is False and await _serving(started["webUrl"])
        # The worker running the viewer takes no more jobs: the second one answers.
        procs.worker("media", name="media-b")
        first.send_signal(signal.SIGSTOP)
        try:
            again = await http.post(viewer, json=ports)
            assert again.status_code == 200, again.text
            assert (again.json()["viewerId"], again.json()["reused"]) == (
                started["viewerId"],
                True,
            )
            stopped = await http.delete(viewer)
            assert stopped.json()["status"] == "stopped", stopped.text
        finally:
            first.send_signal(signal.SIGCONT)
        # The first worker stops its viewer once it sees the record gone.
        for _ in range(100):
            if not await _serving(started["webUrl"]):
                break
            await asyncio.sleep(0.1)
        assert not await _serving(started["webUrl"])
        # And a new request starts a new viewer.
        fresh = (await http.post(viewer, json=ports)).json()
        assert fresh["reused"] is False and fresh["viewerId"] != started["viewerId"]
