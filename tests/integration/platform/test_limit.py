"""Rate limits in Redis: exact under parallel load, headed responses, windows that reset, one
count shared by separate API processes, and fail-open when Redis is gone."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from infra.embedded import free_port
from infra.settings import Settings
from tests.conftest import ROOT
from tests.integration.platform.limit_app import live_app

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with live_app(settings) as live, httpx.AsyncClient(base_url=live.url, timeout=30) as c:
        yield c


def session() -> str:
    return uuid.uuid4().hex[:12]


async def test_parallel_requests_let_exactly_the_limit_through(app: httpx.AsyncClient) -> None:
    sid = session()
    responses = await asyncio.gather(*(app.get(f"/limited/{sid}") for _ in range(40)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 10 + [429] * 30
    for r in responses:
        assert r.headers["x-ratelimit-limit"] == "10"
        assert 0 < int(r.headers["x-ratelimit-reset"]) <= 3600
    remaining = sorted(int(r.headers["x-ratelimit-remaining"]) for r in responses if r.is_success)
    assert remaining == list(range(10))
    for r in responses:
        if r.status_code == 429:
            assert r.headers["x-ratelimit-remaining"] == "0"
            assert 0 < int(r.headers["retry-after"]) <= 3600
            assert r.json()["code"] == "RATE_LIMITED"


async def test_sessions_are_counted_apart(app: httpx.AsyncClient) -> None:
    a, b = session(), session()
    for _ in range(10):
        assert (await app.get(f"/limited/{a}")).status_code == 200
    assert (await app.get(f"/limited/{a}")).status_code == 429
    r = await app.get(f"/limited/{b}")
    assert r.status_code == 200
    assert r.headers["x-ratelimit-remaining"] == "9"


async def test_error_responses_of_a_limited_route_carry_the_headers(
    app: httpx.AsyncClient,
) -> None:
    r = await app.get(f"/limited/{session()}", params={"fail": "true"})
    assert r.status_code == 404
    assert r.json()["code"] == "NOT_FOUND"
    assert r.headers["x-ratelimit-remaining"] == "9"
    assert all(h in r.headers for h in RATE_HEADERS)


async def test_the_window_resets(app: httpx.AsyncClient) -> None:
    sid = session()
    assert (await app.get("/brief", params={"session": sid})).status_code == 200
    assert (await app.get("/brief", params={"session": sid})).status_code == 200
    refused = await app.get("/brief", params={"session": sid})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    await asyncio.sleep(float(refused.headers["retry-after"]) + 0.1)
    again = await app.get("/brief", params={"session": sid})
    assert again.status_code == 200
    assert again.headers["x-ratelimit-remaining"] == "1"


async def test_redis_down_fails_open(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    gone = msgspec.structs.replace(
        settings,
        redis=msgspec.structs.replace(settings.redis, url=f"redis://127.0.0.1:{free_port()}/0"),
    )
    async with live_app(gone) as live, httpx.AsyncClient(base_url=live.url) as c:
        responses = [await c.get(f"/limited/{session()}") for _ in range(12)]
    assert [r.status_code for r in responses] == [200] * 12
    assert not any(h in r.headers for r in responses for h in RATE_HEADERS)
    assert "rate limits not enforced: Redis unavailable" in caplog.text


def _env(s: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": s.db.url,
        "REDIS_URL": s.redis.url,
        "SWITCHYARD_DATA_DIR": s.data_dir,
        "SWITCHYARD_REDIS_PREFIX": s.redis.prefix,
    }


@pytest.fixture
def servers(
    settings: Settings, tmp_path: Path
) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    """Two API processes serving the test app, sharing one Redis prefix."""
    started: list[tuple[str, subprocess.Popen[bytes]]] = []
    for i in range(2):
        port = free_port()
        log = open(tmp_path / f"app{i}.log", "wb")
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "--factory",
                "tests.integration.platform.limit_app:create_app",
                "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
            ],
            cwd=ROOT,
            env=_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.append((f"http://127.0.0.1:{port}", proc))
    yield started
    for _, proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for _, proc in started:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _until_up(client: httpx.AsyncClient, url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):  # a loaded machine imports slowly
        assert proc.poll() is None, "test app process exited"
        with contextlib.suppress(httpx.HTTPError):
            await client.get(f"{url}/open")
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"test app at {url} did not start")


@pytest.mark.slow
async def test_the_limit_holds_across_two_processes(
    servers: list[tuple[str, subprocess.Popen[bytes]]],
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for url, proc in servers:
            await _until_up(client, url, proc)
        (one, _), (two, _) = servers
        sid = session()
        alternate = [await client.get(f"{(one, two)[i % 2]}/limited/{sid}") for i in range(16)]
        assert [r.status_code for r in alternate] == [200] * 10 + [429] * 6
        # Both processes answered some of the passes: the count is shared, not per process.
        assert {str(r.url).split("/limited")[0] for r in alternate[:10]} == {one, two}

        sid = session()
        parallel = await asyncio.gather(
            *(client.get(f"{(one, two)[i % 2]}/limited/{sid}") for i in range(40))
        )
        assert sorted(r.status_code for r in parallel) == [200] * 10 + [429] * 30
