"""A CSRF token expires: after its lifetime it is refused and a fresh one works."""

from __future__ import annotations

import asyncio

import pytest

from infra.settings import Settings
from tests.conftest import LiveApi
from tests.integration.rigging.conftest import Browser, with_rigging
from tests.integration.rigging.test_access import error_of


@pytest.fixture
def rigging_settings(settings: Settings) -> Settings:
    return with_rigging(settings, csrf_ttl_s=1)


async def test_an_expired_token_is_refused(api_only: LiveApi, small_obj: bytes) -> None:
    async with Browser(api_only) as tab:
        await asyncio.sleep(2.1)
        r = await tab.upload("a.obj", small_obj)
        assert error_of(r) == (403, "CSRF_TOKEN_INVALID")
        assert "expired" in r.json()["detail"]
        tab.token = (await tab.http.get("/csrf-token")).json()["csrf_token"]
        assert (await tab.upload("a.obj", small_obj)).status_code == 200
