"""What the benchmarks share: a scratch database, servers, and Switchyard processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    """One line describing where the figures were taken."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024**2:.0f} GiB RAM"
    return f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str, port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or port), 1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def servers(tmp: Path) -> Iterator[tuple[str, str]]:
    """(postgres admin URL, redis URL): the configured/machine ones, else embedded."""
    from infra.embedded import EmbeddedPostgres, EmbeddedRedis

    pg = os.environ.get(
        "SWITCHYARD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    rd = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    try:
        if not _answers(pg, 5432):
            epg = EmbeddedPostgres(tmp)
            pg = epg.start()
            started.append(epg)
        if not _answers(rd, 6379):
            erd = EmbeddedRedis(tmp)
            rd = erd.start(persist=False)
            started.append(erd)
        yield pg, rd
    finally:
        for s in reversed(started):
            s.stop()


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new database migrated to head, dropped afterwards."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from infra.db.engine import async_url
    from infra.db.migrate import upgrade

    name = f"sy_bench_{uuid.uuid4().hex[:8]}"
    dsn = async_url(admin_url).replace("postgresql+asyncpg", "postgresql")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Fleet:
    """Switchyard processes started for a benchmark (always stopped at exit)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def api(self, port: int) -> subprocess.Popen[bytes]:
        import urllib.request

        proc = self.spawn("api", "api", "--host", "127.0.0.1", "--port", str(port))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError((self.log_dir / "api.log").read_text())
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                    if r.status == 200:
                        return proc
            time.sleep(0.1)
        raise RuntimeError("API did not become ready")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def create_user(database_url: str, username: str, password: str, roles: list[str]) -> None:
    from infra.cli import ensure_user
    from infra.settings import load_settings

    settings = load_settings({"DATABASE_URL": database_url, "SWITCHYARD_DATA_DIR": "/tmp/sy-bench"})
    await ensure_user(settings, username, password, roles)
