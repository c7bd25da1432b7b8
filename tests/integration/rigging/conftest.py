"""The rigging service on the real stack: the API on uvicorn, a `rigging` pool worker, Postgres,
Redis and the local blob store. Models come from the engine's generators and the Khronos
fixtures (CC-BY), written as the files a browser would upload."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from domain.rigging.export import glb_bytes
from domain.rigging.loader import load_model
from domain.rigging.model import Limits, Model
from domain.rigging.synthetic import character, obj_bytes, tree
from infra.settings import Settings
from tests.conftest import SHARED, LiveApi

FIXTURES = SHARED / "fixtures" / "rigging"
API = "/rigging/api"


def bare_glb(model: Model) -> bytes:
    """The model's mesh alone as GLB: what an unrigged upload looks like."""
    return glb_bytes(Model(mesh=model.mesh))


@pytest.fixture(scope="session")
def small_obj() -> bytes:
    return obj_bytes(character(2).mesh)


@pytest.fixture(scope="session")
def figure_glb() -> bytes:
    """Khronos' RiggedFigure (CC-BY 4.0, Cesium), its mesh as a GLB upload."""
    return bare_glb(load_model(FIXTURES / "RiggedFigure.gltf", Limits()))


@pytest.fixture(scope="session")
def other_obj() -> bytes:
    return obj_bytes(tree(2).mesh)


@pytest.fixture(scope="session")
def large_obj() -> bytes:
    """About 73k faces: long enough to be caught running."""
    return obj_bytes(character(10).mesh)


def with_rigging(settings: Settings, **changes: Any) -> Settings:
    return msgspec.structs.replace(
        settings, rigging=msgspec.structs.replace(settings.rigging, **changes)
    )


@pytest.fixture
def rigging_settings(settings: Settings) -> Settings:
    """The test's settings; a test may override the rigging group through this fixture."""
    return settings


@pytest.fixture
async def stack(rigging_settings: Settings, worker: Any) -> AsyncIterator[LiveApi]:
    """The API with a rigging worker (one job at a time: two shared cores)."""
    await worker("rigging", concurrency=1, s=rigging_settings)
    live = LiveApi(rigging_settings)
    await live.start()
    yield live
    await live.stop()


@pytest.fixture
async def api_only(rigging_settings: Settings) -> AsyncIterator[LiveApi]:
    """The API with no worker: jobs stay pending."""
    live = LiveApi(rigging_settings)
    await live.start()
    yield live
    await live.stop()


class Browser:
    """A browser tab of the contract's UI: one cookie jar, one CSRF token."""

    def __init__(self, live: LiveApi) -> None:
        self.live = live
        self.http = httpx.AsyncClient(base_url=live.url + API, timeout=60)
        self.token = ""

    async def __aenter__(self) -> Browser:
        r = await self.http.get("/csrf-token")
        assert r.status_code == 200, r.text
        self.token = r.json()["csrf_token"]
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

    @property
    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.token}

    @property
    def session_id(self) -> str:
        return str(self.http.cookies.get("session_id", path="/rigging"))

    async def upload(self, name: str, data: bytes, **fields: str) -> httpx.Response:
        return await self.http.post(
            "/upload", files={"file": (name, data)}, data=fields, headers=self.headers
        )

    async def uploaded(self, name: str, data: bytes) -> str:
        r = await self.upload(name, data)
        assert r.status_code == 200, r.text
        return str(r.json()["path"])

    async def job(self, kind: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(f"/jobs/{kind}", json=body, headers=self.headers)

    async def started(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.job(kind, body)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def until(
        self, job_id: str, done: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        """Poll the job until `done` (default: a terminal status)."""
        done = done or (lambda j: j["status"] in ("completed", "failed", "cancelled"))
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            r = await self.http.get(f"/jobs/{job_id}")
            assert r.status_code == 200, r.text
            job = dict(r.json())
            if done(job):
                return job
            assert asyncio.get_running_loop().time() < deadline, job
            await asyncio.sleep(0.05)

    async def finished(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        job = await self.started(kind, body)
        return await self.until(job["job_id"])


@pytest.fixture
def browser(stack: LiveApi) -> Callable[[], Browser]:
    return lambda: Browser(stack)


def blob_files(settings: Settings) -> list[Path]:
    """Every object the local blob store holds."""
    root = Path(settings.blob.root) / "objects"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
