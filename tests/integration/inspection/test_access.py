"""Who may call: open networks without a token, elsewhere a user with the inspection role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.settings import Settings
from tests.conftest import create_user, drop_prefix, make_settings, truncate_all
from tests.integration.inspection.conftest import ENV
from tests.integration.inspection.helper import ids


@pytest.fixture
async def settings(
    database_url: str, server_urls: dict[str, str], tmp_path: Path
) -> AsyncIterator[Settings]:
    """Loopback is not an open network here: every caller needs a token."""
    await truncate_all(database_url)
    env = {**ENV, "SWITCHYARD_INSPECTION_OPEN_NETWORKS": "10.99.0.0/16"}
    s = make_settings(database_url, server_urls["redis"], tmp_path, **env)
    yield s
    await drop_prefix(s)


async def token(
    settings: Settings, platform: httpx.AsyncClient, name: str, roles: list[str]
) -> dict[str, str]:
    await create_user(settings, name, "correct-horse", roles)
    r = await platform.post("/auth/login", json={"username": name, "password": "correct-horse"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_outside_the_open_networks_a_token_with_the_role_is_needed(
    settings: Settings, http: httpx.AsyncClient, platform: httpx.AsyncClient
) -> None:
    r = await http.get("/state", params=ids())
    assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"
    assert r.headers["www-authenticate"] == "Bearer"

    plain = await token(settings, platform, "plain", ["user"])
    r = await http.get("/state", params=ids(), headers=plain)
    assert r.status_code == 403 and "inspection" in r.json()["error"]

    for name, roles in (("inspector", ["inspection"]), ("boss", ["admin"])):
        r = await http.get(
            "/state", params=ids(), headers=await token(settings, platform, name, roles)
        )
        assert r.status_code == 200, r.text

    r = await http.get("/state", params=ids(), headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401


async def test_health_answers_anyone(http: httpx.AsyncClient) -> None:
    r = await http.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


async def test_the_jobs_of_a_token_holder_are_theirs(
    settings: Settings, http: httpx.AsyncClient, platform: httpx.AsyncClient
) -> None:
    h = await token(settings, platform, "inspector", ["inspection"])
    r = await http.post("/calibrate_ng", json=ids(ok_scores=[1.0, 2.0]), headers=h)
    assert r.status_code == 200, r.text
    r = await http.post("/infer_dataset", json=ids(), headers={**h, "Prefer": "respond-async"})
    # No memory yet: refused before any job is made.
    assert r.status_code == 400
    jobs: Any = (await platform.get("/jobs", headers=h)).json()
    assert jobs["items"] == []
