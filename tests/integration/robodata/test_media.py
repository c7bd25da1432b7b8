"""Media on the media pool, cached in the blob store: a cached request runs no job, and
concurrent first requests share one; closed media takes a token or a signed link."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx

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
