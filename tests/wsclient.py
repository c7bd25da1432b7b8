"""A small WebSocket client for tests, on the `websockets` library."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets


class WsClient:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, ws_url: str, token: str | None, *, query: bool = True) -> WsClient:
        url = f"{ws_url}/ws" + (f"?token={token}" if query and token else "")
        conn = await websockets.connect(url, open_timeout=10)
        client = cls(conn)
        if token and not query:
            await client.send({"type": "auth", "token": token})
        return client

    async def send(self, message: dict[str, Any]) -> None:
        await self.conn.send(json.dumps(message))

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        while True:
            msg = json.loads(await asyncio.wait_for(self.conn.recv(), timeout))
            if msg.get("type") != "ping":
                return msg  # type: ignore[no-any-return]

    async def subscribe(
        self, topics: list[str], since: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Subscribe; returns events that arrived before the acknowledgement."""
        msg: dict[str, Any] = {"type": "subscribe", "topics": topics}
        if since:
            msg["since"] = since
        await self.send(msg)
        early = []
        while True:
            m = await self.recv()
            if m.get("type") == "subscribed":
                return early
            if m.get("type") == "error":
                raise AssertionError(f"subscribe refused: {m}")
            early.append(m)

    async def until(self, type_: str, timeout: float = 20) -> list[dict[str, Any]]:
        """Collect events until one of `type_` arrives (inclusive)."""
        out = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            m = await self.recv(max(0.01, deadline - loop.time()))
            out.append(m)
            if m.get("type") == type_:
                return out

    async def close(self) -> None:
        await self.conn.close()
