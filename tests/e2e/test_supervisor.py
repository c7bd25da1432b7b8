"""`switchyard up` as a supervisor: children and embedded servers that die come back."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import websockets

from tests.conftest import free_port
from tests.e2e.conftest import bare_env, start_up, stop_up, wait_ready
from tests.integration.platform.helper import submit, wait_status

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ADMIN_PASSWORD = "admin-password-supervisor"
# Short windows so a job of a killed worker is taken over in seconds, not the default 20 s.
FAST_JOBS = {"SWITCHYARD_JOBS_HEARTBEAT_S": "1", "SWITCHYARD_JOBS_REAP_AFTER_S": "6"}


@dataclass
class Up:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def child(self, *words: str) -> psutil.Process:
        """The one live descendant whose command line holds every word."""
        found = [
            p
            for p in psutil.Process(self.proc.pid).children(recursive=True)
            if p.status() != psutil.STATUS_ZOMBIE and all(w in " ".join(p.cmdline()) for w in words)
        ]
        assert len(found) == 1, [p.cmdline() for p in found]
        return found[0]

    def wait_new_child(self, old: int, *words: str, timeout: float = 120) -> psutil.Process:
        deadline = time.monotonic() + timeout
        while True:
            try:
                child = self.child(*words)
                if child.pid != old:
                    return child
            except (AssertionError, psutil.Error):
                pass
            assert time.monotonic() < deadline, self.log.read_text()[-5000:]
            time.sleep(0.2)


@pytest.fixture(scope="module")
def up() -> Iterator[Up]:
    # Outside pytest's base temp dir: see the `up` fixture of test_cli.
    base = Path(tempfile.mkdtemp(prefix="switchyard-sup-"))
    port = free_port()
    env = {**bare_env(), **FAST_JOBS, "SWITCHYARD_ADMIN_PASSWORD": ADMIN_PASSWORD}
    proc, log = start_up(base, env, "--port", str(port), "--api-workers", "1")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log)
        yield Up(url, base / "data", proc, log)
    finally:
        stop_up(proc)
        shutil.rmtree(base, ignore_errors=True)


async def login(http: httpx.AsyncClient) -> httpx.Response:
    return await http.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})


async def admin(http: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, Any]]:
    r = await login(http)
    assert r.status_code == 200, r.text
    body = r.json()
    return {"Authorization": f"Bearer {body['access_token']}"}, body


async def test_a_killed_worker_is_replaced_and_its_job_completes(up: Up) -> None:
    async with httpx.AsyncClient(base_url=up.url, timeout=30) as http:
        headers, _ = await admin(http)
        job = await submit(http, headers, payload={"seconds": 4, "steps": 40})
        await wait_status(http, headers, job["id"], "running", timeout=120)
        victim = up.child("worker", "--pool indexing")
        victim.kill()
        replacement = up.wait_new_child(victim.pid, "worker", "--pool indexing")
        done = await wait_status(http, headers, job["id"], "completed", "failed", timeout=180)
    assert done["status"] == "completed", done
    assert done["attempts"] == 2
    assert replacement.is_running() and up.proc.poll() is None
    log = up.log.read_text()
    assert "the indexing worker was killed by SIGKILL; restarting it in 0.5 s" in log
    assert "restarted the indexing worker (restart 1)" in log


def test_metrics_count_the_restart(up: Up) -> None:
    # Runs after the kill above (tests run in file order).
    text = httpx.get(up.url + "/metrics", timeout=30).text
    assert "# TYPE switchyard_restarts_total counter" in text
    assert 'switchyard_restarts_total{process="worker-indexing"} 1.0' in text
    assert 'process="api"' not in text  # only what was restarted


async def test_a_killed_redis_is_restarted_and_no_job_is_lost(up: Up) -> None:
    async with httpx.AsyncClient(base_url=up.url, timeout=30) as http:
        headers, _ = await admin(http)
        before = [await submit(http, headers, payload={"seconds": 2}) for _ in range(3)]
        redis = up.child("redis-server")
        redis.kill()
        redis.wait(10)
        during = [await submit(http, headers, "platform.noop") for _ in range(3)]
        # Login needs no Redis to answer cleanly (at worst 503 while it is away).
        assert (await login(http)).status_code in (200, 503)
        up.wait_new_child(redis.pid, "redis-server")
        for job in [*before, *during]:
            done = await wait_status(http, headers, job["id"], "completed", "failed", timeout=180)
            assert done["status"] == "completed", done
        assert (await http.get("/ready")).status_code == 200
        assert (await login(http)).status_code == 200
        metrics = (await http.get("/metrics")).text
    assert "the embedded Redis was killed by SIGKILL" in up.log.read_text()
    assert 'switchyard_restarts_total{process="redis"} 1.0' in metrics


async def test_long_lived_connections_recover_after_the_redis_restart(up: Up) -> None:
    """The API's hub, the workers' intake, cancel listener and heartbeats, with no restart."""
    async with httpx.AsyncClient(base_url=up.url, timeout=30) as http:
        headers, body = await admin(http)
        token, user_id = body["access_token"], body["user"]["id"]
        ws_url = up.url.replace("http", "ws", 1) + f"/ws?token={token}"
        async with websockets.connect(ws_url) as ws:
            await ws.send(json.dumps({"type": "subscribe", "topics": [f"user:{user_id}"]}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
            job = await submit(http, headers, "platform.noop")
            while True:  # the hub relays this API's events again
                event = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if event.get("type") == "job.completed" and event["data"]["job_id"] == job["id"]:
                    break
        long = await submit(http, headers, payload={"seconds": 600, "steps": 600})
        await wait_status(http, headers, long["id"], "running", timeout=60)
        r = await http.post(f"/jobs/{long['id']}/cancel", headers=headers)
        assert r.status_code in (200, 202), r.text
        await wait_status(http, headers, long["id"], "cancelled", timeout=60)
        # Through the cancel channel (pub/sub), not only the heartbeat's look at Postgres.
        assert f"job {long['id']}: cancel requested" in up.log.read_text()
        # Every worker's heartbeat registers it again.
        await asyncio.sleep(3)
        pools = (await http.get("/admin/pools", headers=headers)).json()
    assert {p["pool"]: len(p["workers"]) for p in pools["pools"]} == {
        "gpu": 1,
        "rigging": 1,
        "media": 1,
        "indexing": 1,
    }


async def test_a_killed_postgres_is_restarted_and_jobs_run_again(up: Up) -> None:
    postmaster = int((up.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while "restarted the embedded Postgres" not in up.log.read_text():
        assert time.monotonic() < deadline, up.log.read_text()[-5000:]
        await asyncio.sleep(0.2)
    async with httpx.AsyncClient(base_url=up.url, timeout=30) as http:
        # The API's and the workers' pools drop the dead connections by themselves.
        r = await login(http)
        assert r.status_code == 200, up.log.read_text()[-8000:]
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        job = await submit(http, headers, "platform.noop")
        done = await wait_status(http, headers, job["id"], "completed", "failed", timeout=120)
        assert done["status"] == "completed", done
        assert (await http.get("/ready")).status_code == 200
    assert up.proc.poll() is None


def test_a_worker_that_cannot_start_stops_up_naming_it() -> None:
    base = Path(tempfile.mkdtemp(prefix="switchyard-sup-"))
    # For the rigging worker only: a setting it cannot read, so it exits at every start.
    env = {**bare_env(), "SWITCHYARD_UP_RIGGING_JOBS_HEARTBEAT_S": "not-a-number"}
    proc, log = start_up(base, env, "--port", str(free_port()), "--api-workers", "1")
    try:
        code = proc.wait(600)
        out = log.read_text()
        assert code == 1, out
        last = out.strip().splitlines()[-1]
        assert re.fullmatch(
            r"switchyard up: the rigging worker (crashed 5 times in 60 s"
            r"|exited 5 times in a row, each within 30 s of starting); stopping",
            last,
        ), out
        assert out.count("the rigging worker exited with 1; restarting it in") == 4
        assert "the gpu worker" not in out and "the API " not in out
        assert not (base / "data" / "instance.json").exists()
    finally:
        stop_up(proc)
        shutil.rmtree(base, ignore_errors=True)
