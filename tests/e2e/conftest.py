"""Real processes: the API and pool workers started as `python -m infra ...`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.settings import Settings
from tests.conftest import ROOT, create_user, free_port


def settings_env(s: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": s.db.url,
        "REDIS_URL": s.redis.url,
        "SWITCHYARD_DATA_DIR": s.data_dir,
        "SWITCHYARD_REDIS_PREFIX": s.redis.prefix,
        "SWITCHYARD_JOBS_HEARTBEAT_S": str(s.jobs.heartbeat_s),
        "SWITCHYARD_JOBS_REAP_AFTER_S": str(s.jobs.reap_after_s),
        "SWITCHYARD_JOBS_RELAY_AFTER_S": str(s.jobs.relay_after_s),
        "SWITCHYARD_JOBS_MAINTENANCE_EVERY_S": str(s.jobs.maintenance_every_s),
        "SWITCHYARD_JOBS_PROGRESS_MIN_INTERVAL_S": str(s.jobs.progress_min_interval_s),
        "SWITCHYARD_DB_POOL_SIZE": "5",
    }


class Processes:
    """Starts and always stops the processes of one test."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra", *args],
            cwd=ROOT,
            env=env or settings_env(self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    async def api(self, env: dict[str, str] | None = None) -> str:
        port = free_port()
        proc = self.spawn("api", "api", "--host", "127.0.0.1", "--port", str(port), env=env)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as client:
            for _ in range(1200):  # generous: a loaded CI machine imports slowly
                assert proc.poll() is None, (self.log_dir / "api.log").read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url + "/health")).status_code == 200:
                        return url
                await asyncio.sleep(0.1)
        raise AssertionError("API process did not start")

    def worker(
        self,
        pool: str = "indexing",
        concurrency: int = 1,
        name: str = "worker",
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        return self.spawn(
            name, "worker", "--pool", pool, "--concurrency", str(concurrency), env=env
        )

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def procs(settings: Settings, tmp_path: Path) -> Iterator[Processes]:
    p = Processes(settings, tmp_path)
    yield p
    p.stop_all()


@pytest.fixture
async def user_headers(settings: Settings) -> Any:
    async def _login(url: str, username: str = "alice") -> dict[str, Any]:
        await create_user(settings, username, "correct-horse")
        async with httpx.AsyncClient(base_url=url) as client:
            r = await client.post(
                "/auth/login", json={"username": username, "password": "correct-horse"}
            )
            assert r.status_code == 200, r.text
            body = r.json()
        return {"Authorization": f"Bearer {body['access_token']}"}

    return _login


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as c:
        yield c


def bare_env() -> dict[str, str]:
    """The environment of an operator's shell: no server URLs, no Switchyard settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("SWITCHYARD_")
    }
    env["PYTHONPATH"] = str(ROOT)
    return env


def start_up(base: Path, env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    """`python -m infra up` on `base/data` (embedded servers), its output in `base/up.log`."""
    log = base / "up.log"
    command = [sys.executable, "-m", "infra", "up", "--data-dir", str(base / "data"), *args]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=base, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 600) -> None:
    """Until `up`'s API answers /ready; on two busy cores its start takes a minute or more."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)


def stop_up(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
