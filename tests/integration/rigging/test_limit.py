"""The contract's per-session rate limits, counted in Redis: uploads and API requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from infra.settings import Settings
from tests.conftest import LiveApi
from tests.integration.rigging.conftest import Browser, blob_files, with_rigging
from tests.integration.rigging.test_access import error_of


@pytest.fixture
def rigging_settings(settings: Settings) -> Settings:
    return with_rigging(settings, uploads_per_hour=3)


async def test_uploads_past_the_hourly_limit_are_refused(
    browser: Callable[[], Browser], small_obj: bytes, rigging_settings: Settings
) -> None:
    async with browser() as tab, browser() as other:
        for i in range(3):
            r = await tab.upload(f"m{i}.obj", small_obj)
            assert r.status_code == 200, r.text
            assert r.headers["X-RateLimit-Limit"] == "3"
            assert r.headers["X-RateLimit-Remaining"] == str(2 - i)
            reset = int(r.headers["X-RateLimit-Reset"])
            assert time.time() < reset <= time.time() + 3601  # a Unix time, as the contract's
        stored = len(blob_files(rigging_settings))
        r = await tab.upload("m3.obj", small_obj)
        assert error_of(r) == (429, "RATE_LIMIT_EXCEEDED")
        body = r.json()
        assert body["detail"] == "Rate limit exceeded. Maximum 3 uploads per hour."
        assert 0 < body["retry_after"] <= 3600
        assert r.headers["Retry-After"] == str(body["retry_after"])
        assert r.headers["X-RateLimit-Remaining"] == "0"
        assert len(blob_files(rigging_settings)) == stored
        # The limit is the session's: another session still uploads.
        assert (await other.upload("o.obj", small_obj)).status_code == 200


async def test_requests_past_a_thousand_an_hour_are_refused(
    browser: Callable[[], Browser], stack: LiveApi, small_obj: bytes
) -> None:
    async with browser() as tab, browser() as other:
        await tab.uploaded("a.obj", small_obj)  # counts too
        first = await tab.http.get("/jobs")
        assert first.headers["X-RateLimit-Limit"] == "1000"
        left = int(first.headers["X-RateLimit-Remaining"])
        replies: list[httpx.Response] = []
        while len(replies) < left + 100 and all(r.status_code == 200 for r in replies):
            replies += await asyncio.gather(*(tab.http.get("/health") for _ in range(25)))
        served = [r for r in replies if r.status_code == 200]
        refused = [r for r in replies if r.status_code != 200]
        assert refused, "no request past the limit was refused"
        # A request whose count Redis did not answer within the limiter's timeout (a loaded
        # machine) is served without the headers, by the fail-open rule, and may or may not
        # have been counted: the limit is kept when exactly `left` counted requests were
        # served, give or take those.
        uncounted = sum("X-RateLimit-Remaining" not in r.headers for r in served)
        assert left <= len(served) <= left + uncounted
        r = refused[0]
        assert error_of(r) == (429, "RATE_LIMIT_EXCEEDED")
        body = r.json()
        assert body["detail"].startswith("Rate limit exceeded. Try again in ")
        assert body["detail"].endswith(" minutes.")
        assert 0 < body["retry_after"] <= 3600
        assert (await other.http.get("/health")).status_code == 200
