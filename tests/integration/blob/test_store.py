"""One suite, both backends: what callers of the blob store rely on."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from infra.blob import BlobNotFound, BlobTooLarge, InvalidKey, InvalidRange
from infra.blob.store import StoreBase
from tests.integration.blob.conftest import PART


async def _stream(data: bytes, piece: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


async def test_put_then_read_back_with_metadata(store: StoreBase) -> None:
    data = os.urandom(300_000)
    meta = await store.put("runs/1/frame.bin", data)
    assert meta.key == "runs/1/frame.bin" and meta.size == len(data)
    assert meta.etag == hashlib.md5(data).hexdigest()
    assert meta.content_type == "application/octet-stream"
    assert abs(meta.modified - datetime.now(UTC)) < timedelta(minutes=1)
    assert await store.read("runs/1/frame.bin") == data
    again = await store.head("runs/1/frame.bin")
    assert again.etag == meta.etag and again.content_type == meta.content_type
    assert abs(again.modified - meta.modified) <= timedelta(seconds=1)


async def test_streamed_upload_and_streamed_download(store: StoreBase) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    seen: list[float] = []
    meta = await store.put(
        "big.bin", _stream(data), size_hint=len(data), progress=lambda p, _m: seen.append(p)
    )
    assert meta.size == len(data)
    assert seen[-1] == 100.0 and seen == sorted(seen)
    async with await store.get("big.bin") as reader:
        assert reader.meta.size == len(data) and reader.length == len(data)
        chunks = [c async for c in reader]
    assert b"".join(chunks) == data


async def test_content_type_is_given_or_sniffed(store: StoreBase) -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(100)
    assert (await store.put("upload", png)).content_type == "image/png"
    assert (await store.put("notes.json", b'{"a": 1}')).content_type == "application/json"
    given = await store.put("x.dat", b"\x00\x01", content_type="application/x-rerun")
    assert given.content_type == "application/x-rerun"
    assert (await store.head("upload")).content_type == "image/png"


async def test_range_reads(store: StoreBase) -> None:
    data = bytes(range(256)) * 40
    await store.put("r.bin", data)
    assert await store.read("r.bin", offset=10, length=5) == data[10:15]
    assert await store.read("r.bin", offset=10_000) == data[10_000:]
    assert await store.read("r.bin", offset=10_230, length=500) == data[10_230:]  # clipped
    async with await store.get("r.bin", offset=100, length=50) as reader:
        assert (reader.start, reader.length, reader.meta.size) == (100, 50, len(data))
        assert b"".join([c async for c in reader]) == data[100:150]
    with pytest.raises(InvalidRange) as info:
        await store.read("r.bin", offset=len(data))
    assert info.value.size == len(data)


async def test_an_empty_object(store: StoreBase) -> None:
    meta = await store.put("empty", b"")
    assert meta.size == 0 and meta.etag == hashlib.md5(b"").hexdigest()
    assert await store.read("empty") == b""


async def test_missing_keys(store: StoreBase) -> None:
    with pytest.raises(BlobNotFound):
        await store.head("nope")
    with pytest.raises(BlobNotFound):
        await store.read("nope/deeper")
    assert not await store.exists("nope")
    assert await store.delete("nope") is False


async def test_an_over_limit_upload_leaves_no_object(store: StoreBase) -> None:
    with pytest.raises(BlobTooLarge):
        await store.put("too/big.bin", b"x" * 1001, max_bytes=1000)
    # Streamed past the S3 multipart threshold: the parts already sent are aborted too.
    with pytest.raises(BlobTooLarge):
        await store.put("too/big.bin", _stream(os.urandom(3 * PART)), max_bytes=2 * PART + 1)
    assert not await store.exists("too/big.bin")
    assert (await store.list("too/")).items == []


async def test_a_failed_upload_keeps_the_previous_version(store: StoreBase) -> None:
    await store.put("model.pt", b"version one")

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(PART + 1)
        yield os.urandom(PART + 1)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put("model.pt", broken())
    with pytest.raises(BlobTooLarge):
        await store.put("model.pt", b"y" * 50, max_bytes=10)
    assert await store.read("model.pt") == b"version one"


async def test_a_large_upload_goes_in_parts_and_reads_back_whole(store: StoreBase) -> None:
    data = os.urandom(2 * PART + 12345)
    meta = await store.put("artifact.bin", _stream(data, 1024 * 1024))
    assert meta.size == len(data)
    if store.backend == "s3":
        assert meta.etag.endswith("-3")  # three parts: 5 MiB, 5 MiB, the rest
    assert (
        hashlib.sha256(await store.read("artifact.bin")).digest() == hashlib.sha256(data).digest()
    )
    tail = await store.read("artifact.bin", offset=PART - 10, length=20)
    assert tail == data[PART - 10 : PART + 10]  # a range across a part boundary


async def test_pagination_past_a_thousand_keys(store: StoreBase) -> None:
    keys = [f"many/{i:05d}" for i in range(1010)]
    gate = asyncio.Semaphore(4)

    async def put(key: str) -> None:
        async with gate:
            await store.put(key, key.encode())

    await asyncio.gather(*(put(k) for k in keys), store.put("other/x", b"x"))
    first = await store.list("many/")
    assert len(first.items) == 1000 and first.next_token is not None
    second = await store.list("many/", token=first.next_token)
    assert len(second.items) == 10 and second.next_token is None
    assert [e.key for e in first.items + second.items] == keys
    assert [e.key async for e in store.iter("many/")] == keys
    small = await store.list("many/", limit=7)
    assert [e.key for e in small.items] == keys[:7]
    assert (await store.list("many/", limit=7, token=small.next_token)).items[0].key == keys[7]
    assert (
        first.items[3].size == 10 and first.items[3].etag == hashlib.md5(b"many/00003").hexdigest()
    )


async def test_listing_order_is_byte_order_of_the_keys(store: StoreBase) -> None:
    # '-' (0x2d) sorts before '/' (0x2f): a directory walk must not list "a/b" before "a-b".
    keys = ["a/b", "a-b", "a0", "ab/c", "B", "é"]
    for k in keys:
        await store.put(f"o/{k}", b".")
    listed = [e.key for e in (await store.list("o/")).items]
    expected = sorted((f"o/{k}" for k in keys), key=lambda k: k.encode())
    if store.backend == "local":
        assert listed == expected
    else:
        # SeaweedFS lists in directory-walk order ("a/b" before "a-b"), unlike AWS S3;
        # what callers may rely on is that every key comes exactly once.
        assert sorted(listed, key=lambda k: k.encode()) == expected
    assert [e.key for e in (await store.list("o/a/")).items] == ["o/a/b"]
    assert {e.key for e in (await store.list("o/a")).items} == {"o/a-b", "o/a/b", "o/a0", "o/ab/c"}


async def test_delete_and_delete_by_prefix(store: StoreBase) -> None:
    for k in ["runs/1/a", "runs/1/b", "runs/10/c", "runs/2/d", "keep"]:
        await store.put(k, b"x")
    assert await store.delete("runs/1/a") is True
    assert not await store.exists("runs/1/a")
    assert await store.delete_prefix("runs/1") == 2  # runs/1/b and runs/10/c
    assert [e.key async for e in store.iter()] == ["keep", "runs/2/d"]


async def test_copy_and_move_keep_bytes_and_type(store: StoreBase) -> None:
    await store.put("src.json", b'{"k": 1}')
    await store.put("dst.json", b"old")
    copied = await store.copy("src.json", "dst.json")
    assert copied.content_type == "application/json" and copied.size == 8
    assert await store.read("dst.json") == b'{"k": 1}'
    assert await store.read("src.json") == b'{"k": 1}'
    moved = await store.move("src.json", "archive/2024/src.json")
    assert moved.content_type == "application/json"
    assert not await store.exists("src.json")
    assert await store.read("archive/2024/src.json") == b'{"k": 1}'
    with pytest.raises(BlobNotFound):
        await store.move("src.json", "again.json")


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "a\\b", "a\x00b", "a//b"])
async def test_traversal_keys_are_refused_everywhere(store: StoreBase, key: str) -> None:
    await store.put("safe", b"s")
    calls = [
        store.put(key, b"x"),
        store.read(key),
        store.head(key),
        store.delete(key),
        store.copy("safe", key),
        store.copy(key, "safe2"),
        store.move("safe", key),
        store.download_url(key),
        store.upload_url(key),
    ]
    for call in calls:
        with pytest.raises(InvalidKey):
            await call
    with pytest.raises(InvalidKey):
        await store.list(key + "/")
    assert [e.key async for e in store.iter()] == ["safe"]
