"""A browser GUI served from another origin, when the operator lists it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from infra.settings import Settings
from tests.conftest import LiveApi, drop_prefix, make_settings, truncate_all
from tests.integration.inspection.conftest import ENV

GUI = "http://gui.example:5173"


@pytest.fixture
async def settings(
    database_url: str, server_urls: dict[str, str], tmp_path: Path
) -> AsyncIterator[Settings]:
    await truncate_all(database_url)
    env = {**ENV, "SWITCHYARD_INSPECTION_CORS_ORIGINS": GUI}
    s = make_settings(database_url, server_urls["redis"], tmp_path, **env)
    yield s
    await drop_prefix(s)


async def test_a_listed_origin_may_call_with_the_contract_headers(settings: Settings) -> None:
    async with LiveApi(settings) as api, httpx.AsyncClient(base_url=api.url) as http:
        r = await http.options(
            "/inspection/infer",
            headers={
                "Origin": GUI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-recipe-id, x-request-id",
            },
        )
        assert r.status_code in (200, 204), r.text
        assert r.headers["access-control-allow-origin"] == GUI
        r = await http.options(
            "/inspection/infer",
            headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"},
        )
        assert r.headers.get("access-control-allow-origin") != "http://elsewhere.example"
