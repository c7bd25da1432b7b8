"""What only the local backend has to get right: the filesystem under its root."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from infra.blob import BlobNotFound, BlobTooLarge, InvalidKey, KeyConflict, LocalBlobStore


@pytest.fixture
async def store(tmp_path: Path) -> LocalBlobStore:
    s = LocalBlobStore(tmp_path / "blobs", signing_secret="s", base_url="http://api")
    await s.open()
    return s


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_a_symlinked_directory_inside_the_root_is_never_followed(
    store: LocalBlobStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("keep out")
    os.symlink(outside, store.root / "objects" / "escape")
    with pytest.raises(InvalidKey, match="symbolic link"):
        await store.read("escape/secret.txt")
    with pytest.raises(InvalidKey, match="symbolic link"):
        await store.put("escape/planted.txt", b"x")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert [e.key async for e in store.iter()] == []  # listings skip links too


async def test_a_symlinked_file_inside_the_root_is_not_served(
    store: LocalBlobStore, tmp_path: Path
) -> None:
    (tmp_path / "passwd").write_text("root:x:0:0")
    os.symlink(tmp_path / "passwd", store.root / "objects" / "passwd")
    with pytest.raises(InvalidKey):
        await store.head("passwd")
    # Overwriting replaces the link itself, never the file it points to.
    await store.put("passwd", b"new")
    assert (tmp_path / "passwd").read_text() == "root:x:0:0"
    assert await store.read("passwd") == b"new"


async def test_a_key_cannot_be_both_an_object_and_a_prefix(store: LocalBlobStore) -> None:
    await store.put("a", b"1")
    with pytest.raises(KeyConflict):
        await store.put("a/b", b"2")
    await store.put("c/d", b"3")
    with pytest.raises(KeyConflict):
        await store.put("c", b"4")
    assert await store.read("a") == b"1" and await store.read("c/d") == b"3"
    with pytest.raises(BlobNotFound):
        await store.head("c")  # a prefix is not an object


async def test_failed_uploads_leave_no_temp_files_and_keep_the_old_object(
    store: LocalBlobStore,
) -> None:
    await store.put("k", b"original")

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial" * 1000
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put("k", broken())
    with pytest.raises(BlobTooLarge):
        await store.put("k", b"x" * 101, max_bytes=100)
    assert await store.read("k") == b"original"
    assert _files(store.root / "tmp") == []


async def test_an_upload_is_invisible_until_it_is_complete(store: LocalBlobStore) -> None:
    release = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"first half "
        await release.wait()
        yield b"second half"

    task = asyncio.create_task(store.put("slow.txt", slow()))
    await asyncio.sleep(0.05)
    assert not await store.exists("slow.txt")
    release.set()
    meta = await task
    assert meta.size == 22 and await store.read("slow.txt") == b"first half second half"


async def test_concurrent_writers_leave_one_whole_version(store: LocalBlobStore) -> None:
    versions = [bytes([i]) * 300_000 for i in range(8)]
    await asyncio.gather(*(store.put("shared.bin", v) for v in versions))
    data = await store.read("shared.bin")
    assert data in versions
    meta = await store.head("shared.bin")
    assert meta.size == len(data)
    assert _files(store.root / "tmp") == []


async def test_a_file_replaced_by_hand_is_described_from_its_bytes(store: LocalBlobStore) -> None:
    first = await store.put("img", b"plain text")
    assert first.content_type == "text/plain; charset=utf-8"
    path = store.root / "objects" / "img"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # stale sidecar now
    again = await store.head("img")
    assert again.content_type == "image/png"
    assert again.size == 72 and again.etag != first.etag


async def test_deleting_the_last_key_of_a_prefix_removes_its_directories(
    store: LocalBlobStore,
) -> None:
    await store.put("deep/er/still/x.bin", b"x")
    await store.put("deep/y.bin", b"y")
    assert await store.delete("deep/er/still/x.bin")
    assert not (store.root / "objects" / "deep" / "er").exists()
    assert (store.root / "objects" / "deep" / "y.bin").exists()
    assert await store.delete_prefix("deep/") == 1
    assert list((store.root / "objects").iterdir()) == []
    # and a new object under the pruned path still lands where it should
    await store.put("deep/er/z.bin", b"z")
    assert await store.read("deep/er/z.bin") == b"z"


async def test_the_root_may_itself_be_a_link(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    store = LocalBlobStore(tmp_path / "link", signing_secret="s", base_url="http://api")
    await store.put("k", b"v")
    assert (tmp_path / "real" / "objects" / "k").read_bytes() == b"v"
