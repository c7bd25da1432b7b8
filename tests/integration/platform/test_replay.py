"""A subscriber that reconnects with its last ids receives exactly what it missed, in order."""

from __future__ import annotations

from tests.integration.platform.helper import submit, wait_status
from tests.wsclient import WsClient


async def test_reconnect_with_since_replays_without_gap_or_duplicate(
    http, api, login, worker
) -> None:
    alice = await login("alice")
    topic = f"user:{alice['user']['id']}"
    await worker(concurrency=2)
    ws = await WsClient.connect(api.ws_url, alice["access_token"])
    await ws.subscribe([topic])
    first = await submit(http, alice["headers"], payload={"seconds": 0.3, "steps": 3})
    before = await ws.until("job.completed")
    last_seen = before[-1]["id"]
    await ws.close()
    # While disconnected: two more jobs run to completion.
    missed_jobs = [
        await submit(http, alice["headers"], payload={"seconds": 0.2, "steps": 4}) for _ in range(2)
    ]
    for j in missed_jobs:
        await wait_status(http, alice["headers"], j["id"], "completed")
    # Reconnect mid-stream: a third job is running while the replay happens.
    live = await submit(http, alice["headers"], payload={"seconds": 1.0, "steps": 10})
    await wait_status(http, alice["headers"], live["id"], "running")
    ws2 = await WsClient.connect(api.ws_url, alice["access_token"])
    got = await ws2.subscribe([topic], since={topic: last_seen})
    while not any(e["type"] == "job.completed" and e["data"]["job_id"] == live["id"] for e in got):
        got.append(await ws2.recv())
    ids = [e["id"] for e in got]
    assert len(ids) == len(set(ids)), "duplicate events after reconnect"
    key = [_key(i) for i in ids]
    assert key == sorted(key), "events out of order"
    # Nothing from before the reconnect point, and everything after it: compare with the
    # stream's own record of the topic.
    everything = await ws2_full_history(api, alice, topic)
    expected = [e["id"] for e in everything if _key(e["id"]) > _key(last_seen)]
    assert ids == expected[: len(ids)]
    seen_jobs = {e["data"]["job_id"] for e in got}
    assert {j["id"] for j in missed_jobs} | {live["id"]} <= seen_jobs
    assert all(k > _key(last_seen) for k in key), "replayed events from before `since`"
    assert first["id"] not in seen_jobs  # its events all came before the disconnect
    await ws2.close()


def _key(entry_id: str) -> tuple[int, ...]:
    return tuple(map(int, entry_id.split("-")))


async def ws2_full_history(api, alice, topic):
    ws = await WsClient.connect(api.ws_url, alice["access_token"])
    events = await ws.subscribe([topic], since={topic: "0"})
    try:
        while True:
            events.append(await ws.recv(timeout=0.5))
    except TimeoutError:
        pass
    await ws.close()
    return events
