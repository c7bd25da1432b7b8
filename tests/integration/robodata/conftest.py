"""The robodata service on the real stack: an API on uvicorn, real indexing and media
workers, Postgres and Redis, over small synthetic v2.1 and v3.0 datasets in its root."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.settings import Settings
from tests.conftest import LiveApi, create_user, make_settings
from tests.robodata_factory import DatasetSpec, write_dataset

V3_NAME = "so101_follower_cleandesk_2026-01-01"
V21_NAME = "koch_stackcups_2026-01-02"


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Written once a session: a v3.0 dataset (4 episodes, H.264 + AV1 cameras, 3 episodes per
    file) and a v2.1 one (2 episodes, H.264 only)."""
    base = tmp_path_factory.mktemp("robodata-sources")
    v3 = write_dataset(base / V3_NAME, DatasetSpec(version="v3.0"))
    v21 = write_dataset(
        base / V21_NAME,
        DatasetSpec(
            version="v2.1",
            robot_type="koch",
            lengths=(8, 6),
            cameras={"observation.images.top": "libx264"},
        ),
    )
    return {"v3": v3, "v21": v21}


def lab(settings: Settings) -> Path:
    return Path(settings.robodata.roots[0]) / "lab"


@pytest.fixture
def datasets(settings: Settings, sources: dict[str, Path]) -> dict[str, Path]:
    """This test's copies of the datasets, under the configured root's `lab` folder."""
    copies = {}
    for name, source in sources.items():
        copies[name] = shutil.copytree(source, lab(settings) / source.name)
    return copies


class Stack:
    """The API under test and helpers that speak its contract."""

    def __init__(self, settings: Settings, api: LiveApi, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.api = api
        self.http = http
        self.headers: dict[str, str] = {}
        self.user: dict[str, Any] = {}

    async def login(self, username: str = "alice", roles: list[str] | None = None) -> None:
        await create_user(self.settings, username, "correct-horse", roles)
        r = await self.http.post(
            "/robodata/auth/login", json={"username": username, "password": "correct-horse"}
        )
        assert r.status_code == 200, r.text
        self.user = r.json()
        self.headers = {"Authorization": f"Bearer {self.user['access_token']}"}

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(f"/robodata{path}", headers=self.headers, **kw)

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.http.post(f"/robodata{path}", json=body, headers=self.headers)

    async def index(self, path: Path | str, timeout_s: float = 90) -> dict[str, Any]:
        """Scan a folder and poll its task, as the original page does, until it ends."""
        r = await self.post("/index/scan", {"path": str(path)})
        assert r.status_code == 200, r.text
        return await self.finish(r.json()["taskId"], timeout_s)

    async def finish(self, task_id: int, timeout_s: float = 90) -> dict[str, Any]:
        for _ in range(int(timeout_s * 10)):
            r = await self.get("/index/status", params={"task_id": task_id})
            assert r.status_code == 200, r.text
            if r.json()["status"] in ("completed", "failed"):
                return dict(r.json())
            await asyncio.sleep(0.1)
        raise AssertionError(f"index task {task_id} did not finish")

    async def items(self, **params: Any) -> list[dict[str, Any]]:
        r = await self.get("/items", params={"page_size": 200, **params})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])


async def start_stack(settings: Settings, worker: Any) -> AsyncIterator[Stack]:
    await worker("indexing", concurrency=2, s=settings)
    await worker("media", concurrency=2, s=settings)
    api = LiveApi(settings)
    await api.start()
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
        stack = Stack(settings, api, http)
        await stack.login()
        yield stack
    await api.stop()


@pytest.fixture
async def stack(settings: Settings, worker: Any, datasets: dict[str, Path]) -> AsyncIterator[Stack]:
    async for s in start_stack(settings, worker):
        yield s


async def stack_with(
    database_url: str,
    server_urls: dict[str, str],
    settings: Settings,
    worker: Any,
    tmp_path: Path,
    **env: str,
) -> AsyncIterator[Stack]:
    """The stack with settings of its own (`env` over the test's), on the test's Redis prefix."""
    changed = make_settings(
        database_url,
        server_urls["redis"],
        tmp_path,
        SWITCHYARD_REDIS_PREFIX=settings.redis.prefix,
        **env,
    )
    async for s in start_stack(changed, worker):
        yield s


@pytest.fixture
async def closed_stack(
    database_url: str,
    server_urls: dict[str, str],
    settings: Settings,
    worker: Any,
    tmp_path: Path,
    datasets: dict[str, Path],
) -> AsyncIterator[Stack]:
    """The same stack with media closed (`SWITCHYARD_ROBODATA_OPEN_MEDIA=false`)."""
    closed = {"SWITCHYARD_ROBODATA_OPEN_MEDIA": "false"}
    async for s in stack_with(database_url, server_urls, settings, worker, tmp_path, **closed):
        yield s
