"""A UI on another origin, when the operator names it: credentialed CORS under /rigging."""

from __future__ import annotations

import httpx
import pytest

from infra.settings import Settings
from tests.conftest import LiveApi
from tests.integration.rigging.conftest import with_rigging
from tests.integration.rigging.test_access import error_of

UI = "http://ui.example:5173"


@pytest.fixture
def rigging_settings(settings: Settings) -> Settings:
    return with_rigging(settings, cors_origins=(UI,))


async def test_a_named_origin_may_send_the_cookie_and_the_csrf_header(api_only: LiveApi) -> None:
    async with httpx.AsyncClient(base_url=api_only.url + "/rigging/api") as http:
        r = await http.options(
            "/jobs/skeleton",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-csrf-token",
            },
        )
        assert r.status_code == 204, r.text
        assert r.headers["access-control-allow-origin"] == UI
        assert r.headers["access-control-allow-credentials"] == "true"
        r = await http.get("/health", headers={"Origin": UI})
        assert r.headers["access-control-allow-origin"] == UI
        r = await http.options(
            "/jobs/skeleton",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert error_of(r)[0] == 400
