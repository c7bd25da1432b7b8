"""The inspection service on the real stack: Postgres, Redis, the local blob store, the API
on uvicorn and a real gpu worker running the offline backbone on the CPU."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.settings import Settings
from tests.conftest import LiveApi, create_user, drop_prefix, make_settings, truncate_all

# Small settings so a fit takes a second on two shared cores.
ENV = {
    "SWITCHYARD_INSPECTION_DEVICE": "cpu",
    "SWITCHYARD_INSPECTION_MIN_OK_SAMPLES": "3",
    "SWITCHYARD_INSPECTION_MAX_IMAGE_BYTES": "200000",
    "SWITCHYARD_INSPECTION_AREA_MM2_THR": "0",
}


@pytest.fixture
async def settings(
    database_url: str, server_urls: dict[str, str], tmp_path: Path
) -> AsyncIterator[Settings]:
    """The platform's per-test settings with the inspection knobs above."""
    await truncate_all(database_url)
    s = make_settings(database_url, server_urls["redis"], tmp_path, **ENV)
    yield s
    await drop_prefix(s)


@pytest.fixture
async def stack(settings: Settings, worker: Any) -> AsyncIterator[LiveApi]:
    await worker("gpu", concurrency=4)
    live = LiveApi(settings)
    await live.start()
    yield live
    await live.stop()


@pytest.fixture
async def http(stack: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the contract with its base URL changed to /inspection (no token: loopback)."""
    async with httpx.AsyncClient(base_url=f"{stack.url}/inspection", timeout=60) as client:
        yield client


@pytest.fixture
async def platform(stack: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
        yield client


@pytest.fixture
async def inspector(settings: Settings, platform: httpx.AsyncClient) -> dict[str, Any]:
    """A user with the inspection role, logged in: the login body plus its `headers`."""
    await create_user(settings, "inspector", "correct-horse", ["inspection"])
    r = await platform.post(
        "/auth/login", json={"username": "inspector", "password": "correct-horse"}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    body["headers"] = {"Authorization": f"Bearer {body['access_token']}"}
    return body
