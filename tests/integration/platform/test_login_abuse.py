"""Logins under abuse: parallel guesses stop at the address limit, a stranger cannot lock the
owner out, hashing leaves the server responsive, and a Redis outage does not break logging in."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest

from api import limit
from api.auth import ADDRESS_ATTEMPTS
from infra.embedded import free_port
from infra.security import HASH_IN_FLIGHT
from infra.settings import Settings
from tests.conftest import LiveApi, create_user

STRANGER = "203.0.113.7"


async def log_in(
    http: httpx.AsyncClient, username: str, password: str, address: str | None = None
) -> httpx.Response:
    """One login, from `address` as the trusted local proxy reports it (else 127.0.0.1)."""
    headers = {"X-Forwarded-For": address} if address else {}
    return await http.post(
        "/auth/login", json={"username": username, "password": password}, headers=headers
    )


@pytest.fixture
async def proxied(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an API that takes X-Forwarded-For from 127.0.0.1, as behind a local proxy."""
    async with (
        LiveApi(settings, forwarded_allow_ips="127.0.0.1") as live,
        httpx.AsyncClient(base_url=live.url, timeout=30) as http,
    ):
        yield http


async def test_parallel_guesses_from_one_address_stop_at_the_limit(
    settings: Settings, proxied: httpx.AsyncClient
) -> None:
    await create_user(settings, "admin", "correct-horse", ["admin"])
    burst = await asyncio.gather(
        *(log_in(proxied, "admin", f"guess-{i}", STRANGER) for i in range(40))
    )
    counts = Counter(r.status_code for r in burst)
    # At most the limit reach the password check (401); the rest are refused before it: 429
    # over the limit, or 503 for a few when more hashes are in flight than the process allows
    # (those give their slot back, so a later request may take it).
    assert set(counts) <= {401, 429, 503}
    assert counts[401] <= ADDRESS_ATTEMPTS
    assert counts[429] >= 40 - ADDRESS_ATTEMPTS - counts[503]
    refused = [r for r in burst if r.status_code == 429]
    assert all(r.json()["code"] == "RATE_LIMITED" for r in refused)
    assert all(1 <= int(r.headers["retry-after"]) <= 300 for r in refused)
    # The address stays refused, even with the right password.
    right = await log_in(proxied, "admin", "correct-horse", STRANGER)
    assert right.status_code == 429


async def test_a_stranger_hammering_an_account_cannot_keep_its_owner_out(
    settings: Settings, proxied: httpx.AsyncClient
) -> None:
    await create_user(settings, "admin", "correct-horse", ["admin"])
    stranger: list[int] = []
    owner_in = asyncio.Event()

    async def hammer() -> None:
        while not owner_in.is_set():
            r = await log_in(proxied, "admin", "letmein", STRANGER)
            stranger.append(r.status_code)

    hammering = [asyncio.create_task(hammer()) for _ in range(4)]
    try:
        # Once the stranger has spent its address's attempts it has also pushed the account
        # past its free ones, so the owner logs in to an account under attack.
        while 429 not in stranger:
            await asyncio.sleep(0.05)
        owner = await log_in(proxied, "admin", "correct-horse")
    finally:
        owner_in.set()
        await asyncio.gather(*hammering)
    assert owner.status_code == 200, owner.text
    assert owner.json()["user"]["username"] == "admin"
    assert stranger.count(401) == ADDRESS_ATTEMPTS
    assert set(stranger) == {401, 429}


async def test_the_server_answers_while_a_burst_of_logins_hashes(
    settings: Settings, proxied: httpx.AsyncClient
) -> None:
    health: list[int] = []

    async def burst() -> list[httpx.Response]:
        # Each from its own address for its own account: no limit stops them before the hash.
        return await asyncio.gather(
            *(log_in(proxied, f"user{i}", "nope-nope", f"198.51.100.{i}") for i in range(40))
        )

    async def ping_until(done: asyncio.Task[list[httpx.Response]]) -> None:
        while not done.done():
            health.append((await proxied.get("/health")).status_code)

    logins = asyncio.create_task(burst())
    await ping_until(logins)
    statuses = [r.status_code for r in logins.result()]
    assert health and set(health) == {200}
    # Beyond the hashes the process allows in flight, logins are refused for a second, not
    # queued without end; every refusal came while that many were hashing.
    assert set(statuses) <= {401, 503}
    assert statuses.count(401) >= HASH_IN_FLIGHT
    busy = [r for r in logins.result() if r.status_code == 503]
    assert all(r.headers["retry-after"] == "1" for r in busy)


async def test_logging_in_works_with_redis_down(
    settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The warning is logged once per interval per process; an earlier test may have used it.
    monkeypatch.setattr(limit, "_last_warning", float("-inf"))
    await create_user(settings, "admin", "correct-horse", ["admin"])
    gone = msgspec.structs.replace(
        settings,
        redis=msgspec.structs.replace(settings.redis, url=f"redis://127.0.0.1:{free_port()}/0"),
    )
    async with LiveApi(gone) as live, httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        wrong = await log_in(http, "admin", "nope-nope")
        right = await log_in(http, "admin", "correct-horse")
    assert wrong.status_code == 401 and wrong.json()["code"] == "INVALID_CREDENTIALS"
    assert right.status_code == 200, right.text
    assert right.json()["user"]["username"] == "admin"
    assert "rate limits not enforced: Redis unavailable" in caplog.text
