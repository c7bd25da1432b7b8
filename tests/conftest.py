"""Shared fixtures: the real Postgres and Redis (started here when none answer), a fresh
migrated database per test session, a clean schema and a unique Redis key prefix per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra.embedded import free_port
from infra.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def server_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Admin URLs of a Postgres and a Redis: the machine's, or embedded ones started here."""
    from infra.embedded import EmbeddedPostgres, EmbeddedRedis

    pg = os.environ.get(
        "SWITCHYARD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    rd = os.environ.get("SWITCHYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    started: list[Any] = []
    if not _answers(pg, 5432):
        server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
        pg = server.start()
        started.append(server)
    if not _answers(rd, 6379):
        server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
        rd = server.start(persist=False)
        started.append(server)
    yield {"postgres": pg, "redis": rd}
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def database_url(server_urls: dict[str, str]) -> Iterator[str]:
    """A database of our own for this test session, migrated to head by Alembic."""
    from infra.db.migrate import scratch_database

    with scratch_database(server_urls["postgres"], prefix="sy_test") as url:
        yield url


def make_settings(database_url: str, redis_url: str, data_dir: Path, **env: str) -> Settings:
    """Settings for a test: fast heartbeats and reaping so failure tests finish in seconds."""
    base = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SWITCHYARD_DATA_DIR": str(data_dir),
        "SWITCHYARD_REDIS_PREFIX": f"syt{uuid.uuid4().hex[:8]}",
        "SWITCHYARD_JOBS_HEARTBEAT_S": "0.5",
        "SWITCHYARD_JOBS_REAP_AFTER_S": "3",
        "SWITCHYARD_JOBS_RELAY_AFTER_S": "0.5",
        "SWITCHYARD_JOBS_MAINTENANCE_EVERY_S": "0.2",
        "SWITCHYARD_JOBS_PROGRESS_MIN_INTERVAL_S": "0.05",
        "SWITCHYARD_DB_POOL_SIZE": "5",
    }
    base.update(env)
    return load_settings(base)


async def truncate_all(database_url: str) -> None:
    """Empty every table (a clean schema for each test, without re-running migrations)."""
    import asyncpg

    from infra.db.engine import async_url

    conn = await asyncpg.connect(
        async_url(database_url).replace("postgresql+asyncpg", "postgresql")
    )
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        if tables:
            names = ", ".join(f'"{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def settings(
    database_url: str, server_urls: dict[str, str], tmp_path: Path
) -> AsyncIterator[Settings]:
    """Per-test settings on a clean database and a fresh Redis key prefix."""
    await truncate_all(database_url)
    s = make_settings(database_url, server_urls["redis"], tmp_path)
    yield s
    await drop_prefix(s)


async def drop_prefix(s: Settings) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(s.redis.url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{s.redis.prefix}:*", count=1000)]
        for i in range(0, len(keys), 500):
            await redis.delete(*keys[i : i + 500])
    finally:
        await redis.aclose()


class LiveServer:
    """An ASGI app on a real uvicorn server in this event loop (start/stop, or `async with`)."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.app = app
        # More uvicorn.Config options, e.g. which proxies' X-Forwarded-For to trust.
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self._server: Any = None
        self._task: asyncio.Task[Any] | None = None

    def build(self) -> Any:
        return self.app

    async def start(self) -> None:
        import uvicorn

        config = uvicorn.Config(
            self.build(),
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            **self.config,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(3000):
            if self._server.started:
                return
            if self._task.done():
                # uvicorn exits the process on a failed startup; a test must only fail.
                try:
                    self._task.result()
                except SystemExit as exc:
                    raise RuntimeError(f"server startup failed (exit {exc.code})") from None
                raise RuntimeError("server stopped during startup")
            await asyncio.sleep(0.01)
        raise RuntimeError("server did not start")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)

    async def __aenter__(self) -> LiveServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


class LiveApi(LiveServer):
    """The platform app (its declared services, or these instead) on a real uvicorn server."""

    def __init__(self, settings: Settings, services: Any = None, **config: Any) -> None:
        super().__init__(None, **config)
        self.settings = settings
        self.services = services

    def build(self) -> Any:
        from api.app import create_app
        from api.registry import SERVICES

        return create_app(self.settings, SERVICES if self.services is None else self.services)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[LiveApi]:
    live = LiveApi(settings)
    await live.start()
    yield live
    await live.stop()


@pytest.fixture
async def http(api: LiveApi) -> AsyncIterator[Any]:
    import httpx

    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        yield client


async def create_user(
    settings: Settings,
    username: str,
    password: str = "correct-horse",
    roles: list[str] | None = None,
) -> None:
    from infra.cli import ensure_user

    await ensure_user(settings, username, password, roles or ["user"])


@pytest.fixture
async def login(settings: Settings, http: Any) -> Any:
    """login(username, roles=...) → {"token", "headers", "user", ...} for a new user."""

    async def _login(username: str = "alice", roles: list[str] | None = None) -> dict[str, Any]:
        await create_user(settings, username, "correct-horse", roles)
        r = await http.post("/auth/login", json={"username": username, "password": "correct-horse"})
        assert r.status_code == 200, r.text
        body = r.json()
        body["headers"] = {"Authorization": f"Bearer {body['access_token']}"}
        return body

    return _login


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[Any]:
    """start(pool="indexing", concurrency=4) → a PoolWorker running in this event loop."""
    from workers.pool import PoolWorker

    started: list[tuple[Any, asyncio.Task[Any]]] = []

    async def _start(
        pool: str = "indexing", concurrency: int = 4, s: Settings | None = None
    ) -> Any:
        w = PoolWorker(s or settings, pool, concurrency)
        task = asyncio.create_task(w.run())
        for _ in range(500):
            if w.arq is not None and len(w._tasks) == 5:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        started.append((w, task))
        return w

    yield _start
    for w, task in started:
        w.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 20)
