"""`/studio/ws/{session_id}`: each step's progress in the contract's frames, replay after a
reconnect, and only for the session's owner (token in the query or the first message, or
the signed link the session endpoints return)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from tests.integration.studio.conftest import Studio, login


async def recv(conn: Any, timeout: float = 20) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(conn.recv(), timeout))
        if message.get("type") != "ping":
            return message  # type: ignore[no-any-return]


async def close_code(conn: Any, send: Any = None) -> int | None:
    """The code the server closes with, after sending `send` (if any)."""
    if send is not None:
        await conn.send(json.dumps(send))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await recv(conn)
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


async def _session(studio: Studio, h: dict[str, str]) -> tuple[str, str]:
    r = await studio.http.post(
        "/studio/api/generate-images", json={"prompt": "a hat", "num_images": 1}, headers=h
    )
    return r.json()["session_id"], r.json()["images"][0]["url"]


async def test_progress_frames_and_replay_after_reconnect(studio: Studio) -> None:
    h = await login(studio)
    token = h["Authorization"].split()[1]
    sid, image = await _session(studio, h)
    url = f"{studio.ws_url}/studio/ws/{sid}"
    async with websockets.connect(f"{url}?token={token}") as conn:
        hello = await recv(conn)
        assert hello["type"] == "connection" and hello["session_id"] == sid
        await studio.http.post(
            "/studio/api/save-approved-images",
            json={"session_id": sid, "approved_image_urls": [image]},
            headers=h,
        )
        clips = asyncio.create_task(
            studio.http.post(
                "/studio/api/generate-clips",
                json={"session_id": sid, "video_prompt": "pan", "num_clips": 2},
                headers=h,
            )
        )
        frames = []
        while not frames or frames[-1]["event"] != "clip_generation_completed":
            frames.append(await recv(conn))
        assert (await clips).status_code == 200
    events = [f["event"] for f in frames]
    assert events[0] == "approval_started" and "approval_completed" in events
    assert "clip_generation_started" in events and "clip_generation_progress" in events
    assert all(f["session_id"] == sid and 0 <= f["progress"] <= 1 for f in frames)
    progress = [f["progress"] for f in frames if f["event"] == "clip_generation_progress"]
    assert progress == sorted(progress) and frames[-1]["progress"] == 1.0
    assert any(f["message"].startswith("Generating clip") for f in frames)

    # A client that saw up to the middle frame gets exactly the rest, in order.
    middle = len(frames) // 2
    async with websockets.connect(
        f"{url}?token={token}&since={frames[middle]['event_id']}"
    ) as conn:
        assert (await recv(conn))["type"] == "connection"
        replayed = [await recv(conn) for _ in frames[middle + 1 :]]
    assert replayed == frames[middle + 1 :]


async def test_only_the_owner_reads_a_session(studio: Studio) -> None:
    alice = await login(studio, "alice")
    bob = await login(studio, "bob")
    sid, _ = await _session(studio, alice)
    url = f"{studio.ws_url}/studio/ws/{sid}"

    bobs = bob["Authorization"].split()[1]
    async with websockets.connect(f"{url}?token={bobs}") as conn:
        assert (await recv(conn))["code"] == "FORBIDDEN"
        assert await close_code(conn) == 4403

    # No token at all: the first message must carry one.
    async with websockets.connect(url) as conn:
        assert await close_code(conn, {"type": "hello"}) == 4401

    alices = alice["Authorization"].split()[1]
    async with websockets.connect(url) as conn:
        await conn.send(json.dumps({"type": "auth", "token": alices}))
        assert (await recv(conn))["type"] == "connection"


async def test_the_signed_socket_link_opens_its_session_only(studio: Studio) -> None:
    h = await login(studio)
    sid, _ = await _session(studio, h)
    other, _ = await _session(studio, h)
    link = (await studio.http.get(f"/studio/api/sessions/{sid}", headers=h)).json()["ws_url"]
    assert link.startswith(f"{studio.ws_url}/studio/ws/{sid}?")
    async with websockets.connect(link) as conn:
        assert (await recv(conn))["session_id"] == sid
    # The same signature on another session's path opens nothing without a token.
    forged = link.replace(sid, other)
    async with websockets.connect(forged) as conn:
        assert await close_code(conn, {"type": "hello"}) == 4401
