"""A WebSocket's events do not outlive its token: it closes with 4401 when the token expires,
unless the client renewed it with a newer token of the same user."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from infra.settings import Settings
from tests.conftest import LiveApi, create_user, make_settings
from tests.wsclient import WsClient


@pytest.fixture
async def short_lived(
    database_url: str, server_urls: dict[str, str], settings: Settings, tmp_path: Path
) -> AsyncIterator[LiveApi]:
    """The API with access tokens that live 4 s (JWT times are whole seconds: 3-4 s)."""
    s = make_settings(
        database_url,
        server_urls["redis"],
        tmp_path,
        SWITCHYARD_AUTH_ACCESS_TTL_S="4",
        SWITCHYARD_REDIS_PREFIX=settings.redis.prefix,
    )
    live = LiveApi(s)
    await live.start()
    yield live
    await live.stop()


async def token(live: LiveApi, username: str) -> str:
    await create_user(live.settings, username, "correct-horse")
    async with httpx.AsyncClient(base_url=live.url) as http:
        r = await http.post("/auth/login", json={"username": username, "password": "correct-horse"})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def closed_code(client: WsClient, within: float) -> int | None:
    """Read until the server closes the socket; its close code."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(client.conn.recv(), within)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_a_socket_closes_with_4401_when_its_token_expires(short_lived: LiveApi) -> None:
    client = await WsClient.connect(short_lived.ws_url, await token(short_lived, "alice"))
    assert await closed_code(client, within=8) == 4401


async def test_a_newer_token_of_the_same_user_renews_the_socket(short_lived: LiveApi) -> None:
    first = await token(short_lived, "alice")
    client = await WsClient.connect(short_lived.ws_url, first)
    await asyncio.sleep(2.1)
    async with httpx.AsyncClient(base_url=short_lived.url) as http:
        r = await http.post("/auth/login", json={"username": "alice", "password": "correct-horse"})
    await client.send({"type": "auth", "token": r.json()["access_token"]})
    renewed: dict[str, Any] = await client.recv()
    assert renewed["type"] == "authenticated"
    # Past the first token's expiry (at most 4 s after it was issued) the socket still
    # answers (the second expires 5.1 s at the earliest); it closes after the second's.
    await asyncio.sleep(2.2)
    await client.send({"type": "ping"})
    assert (await client.recv())["type"] == "pong"
    assert await closed_code(client, within=8) == 4401


async def test_another_users_token_does_not_renew_a_socket(short_lived: LiveApi) -> None:
    client = await WsClient.connect(short_lived.ws_url, await token(short_lived, "alice"))
    await client.send({"type": "auth", "token": await token(short_lived, "mallory")})
    assert (await client.recv())["code"] == "UNAUTHORIZED"
    assert await closed_code(client, within=8) == 4401
