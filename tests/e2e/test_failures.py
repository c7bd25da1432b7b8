"""Failures of real processes and servers: a worker killed mid-job, Redis down at submit."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import asyncpg
import pytest

from infra.db.engine import async_url
from infra.embedded import EmbeddedRedis
from tests.e2e.conftest import settings_env
from tests.integration.platform.helper import submit, wait_status

pytestmark = pytest.mark.timeout(300)


async def _worker_of(database_url: str, job_id: str) -> str | None:
    conn = await asyncpg.connect(
        async_url(database_url).replace("postgresql+asyncpg", "postgresql")
    )
    try:
        return await conn.fetchval("SELECT worker_id FROM jobs WHERE id = $1", uuid.UUID(job_id))
    finally:
        await conn.close()


async def _wait_worker_registered(redis_url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        for _ in range(1200):
            if [k async for k in client.scan_iter(match=f"{prefix}:worker:*")]:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("worker did not register")
    finally:
        await client.aclose()


async def test_job_of_a_killed_worker_completes_on_another(
    settings, procs, user_headers, client
) -> None:
    url = await procs.api()
    headers = await user_headers(url)
    a = procs.worker(name="worker-a")
    b = procs.worker(name="worker-b")
    client.base_url = url
    job = await submit(client, headers, payload={"seconds": 3, "steps": 30})
    running = await wait_status(client, headers, job["id"], "running")
    assert running["attempts"] == 1
    owner = await _worker_of(settings.db.url, job["id"])
    victim = a if f"-{a.pid}-" in owner else b
    survivor = b if victim is a else a
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(5)
    done = await wait_status(client, headers, job["id"], "completed", "failed", timeout=60)
    assert done["status"] == "completed", done
    assert done["attempts"] == 2
    assert f"-{survivor.pid}-" in await _worker_of(settings.db.url, job["id"])


async def test_job_submitted_while_redis_is_down_runs_when_it_is_back(
    settings, procs, user_headers, client, tmp_path: Path
) -> None:
    # A Redis of this test's own: stopping the machine's shared one would break other tests.
    redis = EmbeddedRedis(tmp_path / "own-redis")
    redis_url = redis.start(persist=False)
    env = {**settings_env(settings), "REDIS_URL": redis_url}
    try:
        url = await procs.api(env=env)
        headers = await user_headers(url)
        procs.worker(env=env)
        client.base_url = url
        await _wait_worker_registered(redis_url, settings.redis.prefix)
        redis.stop()
        job = await submit(client, headers, "platform.noop")
        assert job["status"] == "pending"
        await asyncio.sleep(1.0)
        assert (await client.get(f"/jobs/{job['id']}", headers=headers)).json()[
            "status"
        ] == "pending"
        ready = await client.get("/ready")
        assert ready.status_code == 503 and ready.json()["redis"].startswith("error")
        redis.start(persist=False)  # same port, empty: the stream and its group are gone too
        try:
            done = await wait_status(client, headers, job["id"], "completed", timeout=60)
        except AssertionError:
            print(procs.log("worker")[-5000:])
            raise
        assert done["attempts"] == 1
        assert "relay: published 1 outbox command" in procs.log("worker")
    finally:
        procs.stop_all()
        redis.stop()


async def test_worker_refuses_to_start_without_its_extra(settings, procs, tmp_path: Path) -> None:
    # Hide torch from the worker's import path: the gpu pool must name the extra to install.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "torch.py").write_text("raise ImportError('hidden for this test')\n")
    (shim / "sitecustomize.py").write_text(
        "import importlib.util, sys\n"
        "_orig = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda n, *a: None if n == 'torch' else _orig(n, *a)\n"
    )
    env = {**settings_env(settings), "PYTHONPATH": str(shim)}
    proc = procs.worker(pool="gpu", env=env, name="gpu")
    assert proc.wait(60) == 3
    out = procs.log("gpu")
    assert "needs the 'gpu' extra" in out and "pip install 'switchyard[gpu]'" in out
    assert "torch" in out


async def test_pools_command_prints_the_table(settings, procs) -> None:
    import subprocess
    import sys

    procs.worker(pool="media", concurrency=3, name="media")
    await asyncio.sleep(0)
    from tests.conftest import ROOT

    for _ in range(200):
        out = subprocess.run(
            [sys.executable, "-m", "infra", "pools"],
            cwd=ROOT,
            env=settings_env(settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()}
        if rows.get("media", [None, "0"])[1] == "1":
            break
        await asyncio.sleep(0.2)
    assert rows["POOL"][:4] == ["POOL", "WORKERS", "CONCURRENCY", "QUEUE"]
    assert set(rows) == {"POOL", "gpu", "rigging", "media", "indexing"}
    assert rows["media"][1:3] == ["1", "3"]
    assert rows["gpu"][1] == "0"
