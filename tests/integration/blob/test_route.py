"""The API's /blobs route for the local store: HTTP caching and range semantics, uploads,
and what it refuses."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import msgspec
import pytest

from infra.blob import LocalBlobStore, make_blob_store
from infra.blob.signature import sign
from infra.settings import Settings
from tests.conftest import LiveApi

LIMIT = 64 * 1024


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[tuple[LiveApi, LocalBlobStore]]:
    """The API with a small upload limit, and a handle on the same local store."""
    settings = msgspec.structs.replace(
        settings, blob=msgspec.structs.replace(settings.blob, max_upload_bytes=LIMIT)
    )
    api = LiveApi(settings)
    await api.start()
    store = make_blob_store(
        settings.blob, msgspec.structs.replace(settings.api, public_url=api.url)
    )
    assert isinstance(store, LocalBlobStore)
    await store.open()
    try:
        yield api, store
    finally:
        await api.stop()


async def _get(url: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url, **kwargs)


async def test_headers_for_caching_and_ranges(live: tuple[LiveApi, LocalBlobStore]) -> None:
    _, store = live
    meta = await store.put("img/cat.png", b"\x89PNG\r\n\x1a\n" + bytes(1000))
    r = await _get(await store.download_url("img/cat.png"))
    assert r.status_code == 200 and len(r.content) == 1008
    assert r.headers["content-type"] == "image/png"
    assert r.headers["etag"] == f'"{meta.etag}"'
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-length"] == "1008"
    assert parsedate_to_datetime(r.headers["last-modified"]) == meta.modified.replace(microsecond=0)


async def test_range_forms_and_unsatisfiable_ranges(live: tuple[LiveApi, LocalBlobStore]) -> None:
    _, store = live
    data = bytes(range(256)) * 4
    await store.put("r.bin", data)
    url = await store.download_url("r.bin")
    suffix = await _get(url, headers={"Range": "bytes=-24"})
    assert suffix.status_code == 206 and suffix.content == data[-24:]
    assert suffix.headers["content-range"] == "bytes 1000-1023/1024"
    assert suffix.headers["content-length"] == "24"
    open_end = await _get(url, headers={"Range": "bytes=1020-"})
    assert open_end.status_code == 206 and open_end.content == data[1020:]
    beyond = await _get(url, headers={"Range": "bytes=1024-2000"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == "bytes */1024"
    multi = await _get(url, headers={"Range": "bytes=0-1,5-6"})
    assert multi.status_code == 200 and multi.content == data  # allowed: sent whole


async def test_conditional_requests(live: tuple[LiveApi, LocalBlobStore]) -> None:
    _, store = live
    await store.put("doc.txt", b"version one")
    url = await store.download_url("doc.txt")
    first = await _get(url)
    etag = first.headers["etag"]
    assert (await _get(url, headers={"If-None-Match": etag})).status_code == 304
    await store.put("doc.txt", b"version two!")
    changed = await _get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.content == b"version two!"
    # If-Range with a stale validator: the client's partial copy is useless, send it whole.
    stale = await _get(url, headers={"Range": "bytes=0-3", "If-Range": etag})
    assert stale.status_code == 200 and stale.content == b"version two!"
    fresh = await _get(url, headers={"Range": "bytes=0-3", "If-Range": changed.headers["etag"]})
    assert fresh.status_code == 206 and fresh.content == b"vers"


async def test_head_reports_without_a_body(live: tuple[LiveApi, LocalBlobStore]) -> None:
    _, store = live
    await store.put("h.json", b'{"x": 1}')
    async with httpx.AsyncClient() as client:
        r = await client.head(await store.download_url("h.json"))
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == "8" and r.headers["content-type"] == "application/json"


async def test_refusals(live: tuple[LiveApi, LocalBlobStore]) -> None:
    api, store = live
    await store.put("k", b"data")
    url = await store.download_url("k")
    unsigned = await _get(f"{api.url}/blobs/k")
    assert unsigned.status_code == 403 and unsigned.json()["code"] == "BAD_SIGNATURE"
    assert (await _get(url.replace("exp=", "exp=1"))).json()["code"] == "BAD_SIGNATURE"
    exp = int(time.time()) - 5
    expired = await _get(
        f"{api.url}/blobs/k?exp={exp}&sig={sign(store.signing_secret, 'GET', 'k', exp)}"
    )
    assert expired.status_code == 403 and expired.json()["code"] == "URL_EXPIRED"
    missing = await store.download_url("not/there")
    assert (await _get(missing)).status_code == 404


async def test_a_correctly_signed_traversal_key_is_still_refused(
    live: tuple[LiveApi, LocalBlobStore],
) -> None:
    api, store = live
    # The blob signing secret lives in <data dir>/secrets/blob, beside the blob root.
    target = "../secrets/blob"
    exp = int(time.time()) + 60
    sig = sign(store.signing_secret, "GET", target, exp)
    for path in ("%2E%2E/secrets/blob", "..%2Fsecrets%2Fblob", "%2E%2E%5Csecrets"):
        r = await _get(f"{api.url}/blobs/{path}?exp={exp}&sig={sig}")
        assert r.status_code == 400 and r.json()["code"] == "INVALID_KEY", path
        assert store.signing_secret.encode() not in r.content


async def test_signed_upload_and_its_limit(live: tuple[LiveApi, LocalBlobStore]) -> None:
    _, store = live
    url = await store.upload_url("up/scan.png")
    png = b"\x89PNG\r\n\x1a\n" + bytes(5000)
    async with httpx.AsyncClient() as client:
        r = await client.put(url, content=png, headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        assert r.json()["size"] == len(png) and r.json()["content_type"] == "image/png"
        too_big = await client.put(url, content=bytes(LIMIT + 1))
        assert too_big.status_code == 413 and too_big.json()["code"] == "TOO_LARGE"

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: caught while streaming
            for _ in range(LIMIT // 1024 + 2):
                yield bytes(1024)

        streamed = await client.put(url, content=chunked())
        assert streamed.status_code == 413
    assert await store.read("up/scan.png") == png  # the stored object survived both
    assert list((store.root / "tmp").iterdir()) == []


async def test_an_s3_deployment_does_not_serve_blobs_here(settings: Settings, seaweed: Any) -> None:
    s3 = msgspec.structs.replace(
        settings,
        blob=msgspec.structs.replace(settings.blob, backend="s3", s3_endpoint=seaweed.endpoint),
    )
    api = LiveApi(s3)
    await api.start()
    try:
        exp = int(time.time()) + 60
        r = await _get(
            f"{api.url}/blobs/k?exp={exp}&sig={sign(s3.blob.signing_secret, 'GET', 'k', exp)}"
        )
    finally:
        await api.stop()
    assert r.status_code == 404
