"""Media on the media pool, cached in the blob store: a cached request runs no job, and
concurrent first requests share one; closed media takes a token or a signed link."""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit

import httpx

from infra.blob import make_blob_store
from tests.conftest import LiveApi
from tests.integration.robodata.conftest import V21_NAME, Stack, lab


async def media_jobs(stack: Stack) -> int:
    r = await stack.http.get(
        "/jobs", params={"kind": "robodata.media", "limit": 500}, headers=stack.headers
    )
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


async def test_a_second_request_is_served_from_the_cache_without_a_job(stack: Stack) -> None:
    await stack.index(lab(stack.settings) / V21_NAME)
    item = (await stack.items())[0]["id"]
    for what in ("thumbnail", "stream", "timeseries"):
        first = await stack.http.get(f"/robodata/items/{item}/{what}")
        assert first.status_code == 200, first.text
    assert await media_jobs(stack) == 3
    for what in ("thumbnail", "stream", "timeseries"):
        again = await stack.http.get(f"/robodata/items/{item}/{what}")
        assert again.status_code == 200
    assert await media_jobs(stack) == 3
    # Other parameters are other media.
    r = await stack.http.get(f"/robodata/items/{item}/timeseries", params={"max_points": 3})
    assert r.status_code == 200 and len(r.json()["timestamps"]) <= 3
    assert await media_jobs(stack) == 4


async def cached(stack: Stack, item: int) -> list[str]:
    store = make_blob_store(stack.settings.blob, stack.settings.api)
    await store.open()
    try:
        return [e.key async for e in store.iter(f"robodata/media/{item}/")]
    finally:
        await store.close()


async def until_swept(stack: Stack, item: int) -> list[str]:
    """The item's cached media once the sweep that follows a write has run (or 10 s on)."""
    for _ in range(100):
        left = await cached(stack, item)
        if not left:
            break
        await asyncio.sleep(0.1)
    return left


async def test_media_of_deleted_or_changed_episodes_leaves_the_cache(stack: Stack) -> None:
    v21 = lab(stack.settings) / V21_NAME
    await stack.index(v21)
    first, second = [i["id"] for i in sorted(await stack.items(), key=lambda i: i["episodeId"])]
    for item in (first, second):
        assert (await stack.http.get(f"/robodata/items/{item}/thumbnail")).status_code == 200
        assert len(await cached(stack, item)) == 1
    # A records-only delete: the API leaves the files to a sweep job.
    r = await stack.http.delete(
        f"/robodata/items/{second}", params={"delete_local": "false"}, headers=stack.headers
    )
    assert r.status_code == 200, r.text
    assert await until_swept(stack, second) == []
    # An episode whose files changed gets a new fingerprint on the next scan: the old media
    # goes, the new is made on request.
    (stale,) = await cached(stack, first)
    parquet = v21 / "data/chunk-000/episode_000000.parquet"
    parquet.write_bytes(parquet.read_bytes())
    os.utime(parquet, ns=(1, 1))
    await stack.index(v21)
    assert (await stack.http.get(f"/robodata/items/{first}/thumbnail")).status_code == 200
    (fresh,) = await cached(stack, first)
    assert fresh != stale


async def test_concurrent_first_requests_run_one_job(stack: Stack) -> None:
    await stack.index(lab(stack.settings) / V21_NAME)
    item = (await stack.items())[0]["id"]
    answers = await asyncio.gather(
        *(stack.http.get(f"/robodata/items/{item}/stream") for _ in range(6))
    )
    assert {r.status_code for r in answers} == {200}
    assert len({r.content for r in answers}) == 1
    assert await media_jobs(stack) == 1


async def test_closed_media_needs_a_token_or_the_payloads_signed_link(closed_stack: Stack) -> None:
    stack = closed_stack
    await stack.index(lab(stack.settings) / V21_NAME)
    listed = (await stack.items())[0]
    bare = f"/robodata/items/{listed['id']}/thumbnail"
    r = await stack.http.get(bare)
    assert (r.status_code, r.json()) == (401, {"detail": "Unauthorized"})
    assert (await stack.http.get(bare, headers=stack.headers)).status_code == 200
    # The link in the list is signed: an <img src> opens it without a header.
    assert "sig=" in listed["thumbnailUrl"]
    assert (await stack.http.get(listed["thumbnailUrl"])).status_code == 200
    detail = (await stack.get(f"/items/{listed['id']}")).json()
    stream = detail["cameras"][0]["streamUrl"]
    r = await stack.http.get(stream, headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and len(r.content) == 10
    # An altered link is refused.
    parts = urlsplit(stream)
    forged = f"{parts.path}?{parts.query.replace('camera=', 'camera=x')}"
    assert (await stack.http.get(forged)).status_code == 403


def strip(item: dict[str, str], base: str) -> dict[str, str]:
    return {**item, "thumbnailUrl": item["thumbnailUrl"].removeprefix(base)}


async def test_two_api_processes_answer_the_same_and_share_one_job(stack: Stack) -> None:
    await stack.index(lab(stack.settings) / V21_NAME)
    item = (await stack.items())[0]["id"]
    other = LiveApi(stack.settings)
    await other.start()
    try:
        async with httpx.AsyncClient(base_url=other.url, timeout=60) as second:
            path = f"/robodata/items/{item}/thumbnail"
            one, two = await asyncio.gather(stack.http.get(path), second.get(path))
            assert (one.status_code, two.status_code) == (200, 200)
            assert one.content == two.content and one.headers["etag"] == two.headers["etag"]
            listed = await second.get("/robodata/items", headers=stack.headers)
            # The same records; links name the API that was asked.
            assert [strip(i, other.url) for i in listed.json()["items"]] == [
                strip(i, stack.api.url) for i in await stack.items()
            ]
    finally:
        await other.stop()
    assert await media_jobs(stack) == 1
