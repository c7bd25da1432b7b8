"""The warm gpu worker: a memory bank is loaded once and reused until a refit replaces it,
and /infer requests that arrive together share one pass through the backbone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.settings import Settings
from tests.conftest import drop_prefix, make_settings, truncate_all
from tests.integration.inspection.conftest import ENV
from tests.integration.inspection.helper import files, ids, infer, ng_crop, ok_crop, seed_model


@pytest.fixture
async def settings(
    database_url: str, server_urls: dict[str, str], tmp_path: Path
) -> AsyncIterator[Settings]:
    """Batching on (on the CPU too) with a long wait, so requests sent together surely meet."""
    await truncate_all(database_url)
    env = {**ENV, "SWITCHYARD_INSPECTION_BATCH": "on", "SWITCHYARD_INSPECTION_BATCH_WAIT_MS": "300"}
    s = make_settings(database_url, server_urls["redis"], tmp_path, **env)
    yield s
    await drop_prefix(s)


async def infer_jobs(platform: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await platform.get(
        "/jobs", params={"kind": "inspection.infer", "limit": 100}, headers=headers
    )
    assert r.status_code == 200, r.text
    return sorted(r.json()["items"], key=lambda j: j["created_at"])


async def test_a_second_infer_loads_nothing_and_a_refit_is_loaded_once(
    http: httpx.AsyncClient, platform: httpx.AsyncClient, inspector: dict[str, Any]
) -> None:
    # Calibrating from the dataset already loaded the bank into the worker: no infer loads it.
    await seed_model(http)
    for seed in (1, 2):
        r = await infer(http, ok_crop(seed), headers=inspector["headers"])
        assert r.status_code == 200, r.text
    jobs = await infer_jobs(platform, inspector["headers"])
    assert [j["result"]["memory_loaded"] for j in jobs] == [False, False]

    # A refit writes a new memory bank: the next request loads it, the one after does not.
    r = await http.post(
        "/fit_ok", data=ids(mm_per_px="0.1"), files=files("images", [ok_crop(i) for i in range(5)])
    )
    assert r.status_code == 200, r.text
    for seed in (3, 4):
        r = await infer(http, ng_crop(seed), headers=inspector["headers"])
        assert r.status_code == 200, r.text
    jobs = await infer_jobs(platform, inspector["headers"])
    assert [j["result"]["memory_loaded"] for j in jobs] == [False, False, True, False]


async def test_requests_that_arrive_together_share_a_batch(
    http: httpx.AsyncClient, platform: httpx.AsyncClient, inspector: dict[str, Any]
) -> None:
    await seed_model(http)
    answers = await asyncio.gather(
        *(infer(http, ok_crop(seed), headers=inspector["headers"]) for seed in range(4))
    )
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    # Each still gets its own answer.
    assert len({r.json()["score"] for r in answers}) == 4
    jobs = await infer_jobs(platform, inspector["headers"])
    assert max(j["result"]["batch"] for j in jobs) > 1
