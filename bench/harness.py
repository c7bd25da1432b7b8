"""What the benchmarks share: a scratch database, servers, and Switchyard processes."""

from __future__ import annotations

import contextlib
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from infra.db.migrate import scratch_database
from infra.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]
__all__ = [
    "Fleet",
    "Stack",
    "create_user",
    "free_port",
    "machine",
    "percentile",
    "process_tree",
    "scratch_database",
    "servers",
    "stack",
]


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


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (Linux /proc; just the process elsewhere): the API's
    uvicorn parent and the server processes it started."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(stat.parent.name))
    tree, todo = [pid], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        tree += kids
        todo += kids
    return tree


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

    def api(self, port: int, workers: int | None = None) -> subprocess.Popen[bytes]:
        """`switchyard api` on the port: its default process count unless `workers` is given."""
        import urllib.request

        count = ["--workers", str(workers)] if workers else []
        proc = self.spawn("api", "api", "--host", "127.0.0.1", "--port", str(port), *count)
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


@dataclass(frozen=True)
class Stack:
    """A benchmark's own Switchyard deployment: nothing runs in `fleet` until the bench spawns
    it, so users and seed rows can go into the database first."""

    fleet: Fleet
    database_url: str
    redis_url: str
    tmp: Path  # the processes' logs; SWITCHYARD_DATA_DIR is tmp / "data"

    @property
    def env(self) -> dict[str, str]:
        """The processes' environment, for benches that start one outside `fleet` or load
        Settings the way the processes do."""
        return self.fleet.env


@contextlib.contextmanager
def stack(**env: str) -> Iterator[Stack]:
    """Servers, a fresh migrated database and a Fleet configured for them, all gone on exit.

    The Redis prefix is new per stack so that neither a concurrent run nor a previous one's
    leftover queues reach this one's workers; the API logs warnings only, so its access log does
    not weigh on the figures. `env` adds bench-specific settings and overrides these."""
    with tempfile.TemporaryDirectory(prefix="sybench-") as tmp_s:
        tmp = Path(tmp_s)
        with servers(tmp) as (pg_admin, redis_url):
            with scratch_database(pg_admin, prefix="sy_bench") as database_url:
                fleet = Fleet(
                    {
                        **os.environ,
                        "DATABASE_URL": database_url,
                        "REDIS_URL": redis_url,
                        "SWITCHYARD_DATA_DIR": str(tmp / "data"),
                        "SWITCHYARD_REDIS_PREFIX": f"sybench{secrets.token_hex(4)}",
                        "SWITCHYARD_API_LOG_LEVEL": "warning",
                        **env,
                    },
                    tmp,
                )
                try:
                    yield Stack(fleet, database_url, redis_url, tmp)
                finally:
                    fleet.stop()


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
