"""Blob store throughput: streamed put and get, in MB/s, for 1 MB and 100 MB objects on the
local backend (a temp directory, fsync on) and the S3 backend (a SeaweedFS server started
here on loopback, SigV4, multipart above 16 MiB as configured by default).

    python -m bench.blob [--repeat-small 20] [--repeat-large 3] [--dir /path/on/the/disk]

Figures are medians over the repeats; 1 MB = 10^6 bytes. Both the store and the S3 server
share this machine's cores, so the S3 figures include the server's own work.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from infra.blob import LocalBlobStore, S3BlobStore
from infra.blob.seaweed import SeaweedS3
from infra.blob.store import StoreBase

MB = 1_000_000
CHUNK = 1024 * 1024


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for i in range(0, len(view), CHUNK):
        yield bytes(view[i : i + CHUNK])


async def _measure(store: StoreBase, size: int, repeat: int) -> tuple[float, float]:
    data = os.urandom(size)
    puts, gets = [], []
    for i in range(repeat):
        key = f"bench/{size}/{i}"
        t = time.perf_counter()
        meta = await store.put(key, _chunks(data), size_hint=size)
        puts.append(time.perf_counter() - t)
        assert meta.size == size
        t = time.perf_counter()
        n = 0
        async with await store.get(key) as reader:
            async for chunk in reader:
                n += len(chunk)
        gets.append(time.perf_counter() - t)
        assert n == size
        await store.delete(key)
    return size / MB / statistics.median(puts), size / MB / statistics.median(gets)


async def _run(store: StoreBase, label: str, repeats: dict[int, int]) -> None:
    await store.open()
    try:
        for size, repeat in repeats.items():
            put, get = await _measure(store, size, repeat)
            line = f"{label:<6} {size // MB:>4} MB x{repeat:<3}"
            print(f"{line} put {put:8.1f} MB/s   get {get:8.1f} MB/s", flush=True)
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat-small", type=int, default=20)
    parser.add_argument("--repeat-large", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the local store and S3 data go")
    args = parser.parse_args()
    repeats = {1 * MB: args.repeat_small, 100 * MB: args.repeat_large}
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"data dir: {tmp}")
        local = LocalBlobStore(Path(tmp) / "local", signing_secret="bench", base_url="http://x")
        await _run(local, "local", repeats)
        with SeaweedS3(Path(tmp) / "seaweed") as server:
            s3 = S3BlobStore(
                bucket="bench",
                endpoint=server.endpoint,
                access_key=server.access_key,
                secret_key=server.secret_key,
            )
            await _run(s3, "s3", repeats)


if __name__ == "__main__":
    asyncio.run(main())
