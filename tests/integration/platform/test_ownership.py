"""Every job has an owner: others cannot read, cancel, delete or subscribe to it."""

from __future__ import annotations

import pytest

from tests.integration.platform.helper import submit
from tests.wsclient import WsClient


async def test_other_users_jobs_are_invisible(http, login) -> None:
    alice, bob = await login("alice"), await login("bob")
    job = await submit(http, alice["headers"], "platform.noop")
    for method, path in (
        ("GET", f"/jobs/{job['id']}"),
        ("POST", f"/jobs/{job['id']}/cancel"),
        ("DELETE", f"/jobs/{job['id']}"),
    ):
        r = await http.request(method, path, headers=bob["headers"])
        assert r.status_code == 404, (method, path, r.text)
    assert (await http.get("/jobs", headers=bob["headers"])).json()["total"] == 0
    assert (await http.get(f"/jobs/{job['id']}", headers=alice["headers"])).status_code == 200


async def test_admin_sees_everyones_jobs(http, login) -> None:
    alice, admin = await login("alice"), await login("root", roles=["admin"])
    job = await submit(http, alice["headers"], "platform.noop")
    assert (await http.get(f"/jobs/{job['id']}", headers=admin["headers"])).status_code == 200
    assert (await http.get("/jobs", headers=admin["headers"])).json()["total"] == 1


@pytest.mark.parametrize("topic_of", ["job", "user"])
async def test_cannot_subscribe_to_another_users_topics(http, api, login, topic_of) -> None:
    alice, bob = await login("alice"), await login("bob")
    job = await submit(http, alice["headers"], "platform.noop")
    topic = f"job:{job['id']}" if topic_of == "job" else f"user:{alice['user']['id']}"
    ws = await WsClient.connect(api.ws_url, bob["access_token"])
    await ws.send({"type": "subscribe", "topics": [topic], "since": {topic: "0"}})
    msg = await ws.recv()
    assert msg["type"] == "error" and msg["code"] == "FORBIDDEN"
    # Nothing of alice's leaks afterwards either.
    await ws.send({"type": "ping"})
    assert (await ws.recv())["type"] == "pong"
    await ws.close()


async def test_ws_rejects_bad_tokens(api) -> None:
    import websockets

    for url in (f"{api.ws_url}/ws?token=nope", f"{api.ws_url}/ws"):
        conn = await websockets.connect(url)
        if url.endswith("/ws"):
            await conn.send('{"type": "subscribe", "topics": ["user:x"]}')
        first = await conn.recv()
        assert '"UNAUTHORIZED"' in first
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await conn.recv()
        assert closed.value.rcvd.code == 4401
