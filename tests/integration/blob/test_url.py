"""Signed URLs on both backends, checked by whoever serves them: the API's /blobs route for
the local store, the SeaweedFS server itself for S3."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import msgspec
import pytest

from infra.blob import BlobStore, make_blob_store
from infra.blob.seaweed import SeaweedS3
from infra.blob.store import StoreBase
from infra.settings import Settings
from tests.conftest import LiveApi
from tests.integration.blob.conftest import s3_store


@pytest.fixture
async def local_served(api: LiveApi) -> AsyncIterator[BlobStore]:
    """The API's own local store (same root, same secret), linking to where the API listens."""
    settings: Settings = api.settings
    s = make_blob_store(settings.blob, msgspec.structs.replace(settings.api, public_url=api.url))
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def s3_served(seaweed: SeaweedS3) -> AsyncIterator[StoreBase]:
    s = s3_store(seaweed)
    await s.open()
    yield s
    await s.close()


@pytest.fixture(params=["local", "s3"])
def served(request: pytest.FixtureRequest) -> StoreBase:
    """A store whose signed URLs a real server answers."""
    # Sync on purpose: the session fixtures behind `api` must not start inside the loop.
    store: StoreBase = request.getfixturevalue(f"{request.param}_served")
    return store


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in changes.items():
        real = next(k for k in query if k.lower() == name.lower())
        query[real] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def _flip(sig: str) -> str:
    """The signature with its first character changed (always to a different one)."""
    return ("1" if sig[0] != "1" else "2") + sig[1:]


async def test_a_download_url_serves_the_object_and_its_ranges(served: StoreBase) -> None:
    data = bytes(range(256)) * 8
    await served.put("videos/ep 1.bin", data)
    url = await served.download_url("videos/ep 1.bin", ttl_s=60)
    async with httpx.AsyncClient() as client:
        whole = await client.get(url)
        assert whole.status_code == 200 and whole.content == data
        part = await client.get(url, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == data[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
        if served.backend == "local":  # SigV4 signs the method: an S3 GET link is GET only
            head = await client.head(url)
            assert head.status_code == 200 and int(head.headers["content-length"]) == len(data)


async def test_altered_download_urls_are_refused(served: StoreBase) -> None:
    await served.put("a.bin", b"secret a")
    await served.put("b.bin", b"secret b")
    url = await served.download_url("a.bin", ttl_s=60)
    sig_name = "sig" if served.backend == "local" else "X-Amz-Signature"
    sig = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    signature = next(v for k, v in sig.items() if k.lower() == sig_name.lower())
    altered = [
        _with_query(url, **{sig_name: _flip(signature)}),
        url.replace("a.bin", "b.bin"),  # the same signature on another key
    ]
    async with httpx.AsyncClient() as client:
        for bad in altered:
            r = await client.get(bad)
            assert r.status_code == 403, bad
            assert b"secret" not in r.content


async def test_an_expired_download_url_is_refused(served: StoreBase) -> None:
    await served.put("soon.bin", b"short-lived")
    # Expiry has whole-second resolution on both backends: 3 s leaves a loaded machine
    # at least 2 s for the first request.
    url = await served.download_url("soon.bin", ttl_s=3)
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 200
        await asyncio.sleep(4.2)
        late = await client.get(url)
    assert late.status_code == 403 and b"short-lived" not in late.content


async def test_an_upload_url_accepts_one_put(served: StoreBase) -> None:
    url = await served.upload_url("incoming/clip.mp4", ttl_s=60)
    body = b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 5000
    async with httpx.AsyncClient() as client:
        r = await client.put(url, content=body)
        assert r.status_code in (200, 201), r.text
        # An upload link does not read, and a download link does not write.
        assert (await client.get(url)).status_code == 403
        down = await served.download_url("incoming/clip.mp4", ttl_s=60)
        assert (await client.put(down, content=b"overwrite")).status_code == 403
    assert await served.read("incoming/clip.mp4") == body


async def test_an_upload_url_bound_to_a_content_type(served: StoreBase) -> None:
    url = await served.upload_url("in.png", ttl_s=60, content_type="image/png")
    async with httpx.AsyncClient() as client:
        wrong = await client.put(url, content=b"<html>", headers={"Content-Type": "text/html"})
        assert wrong.status_code == 403
        right = await client.put(url, content=b"\x89PNG", headers={"Content-Type": "image/png"})
        assert right.status_code in (200, 201), right.text
    assert (await served.head("in.png")).content_type == "image/png"
    assert await served.read("in.png") == b"\x89PNG"


async def test_a_download_url_can_name_the_saved_file(served: StoreBase) -> None:
    await served.put("results/7f3a/final.mp4", b"\x00\x00\x00\x18ftypmp42")
    url = await served.download_url("results/7f3a/final.mp4", filename="Plage à Nice.mp4")
    async with httpx.AsyncClient() as client:
        r = await client.get(url)
        assert r.status_code == 200 and r.content.startswith(b"\x00\x00\x00\x18ftyp")
        disposition = r.headers["content-disposition"]
        assert disposition.startswith("attachment;")
        assert "filename*=UTF-8''Plage%20%C3%A0%20Nice.mp4" in disposition
        # The name is part of what was signed.
        renamed = url.replace("Nice.mp4", "Evil.exe").replace("Nice%2Emp4", "Evil%2Eexe")
        assert renamed != url and (await client.get(renamed)).status_code == 403
