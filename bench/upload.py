"""Memory and speed of a streamed multipart upload: the API must not buffer the body.

    python -m bench.upload [--mb 100] [--repeat 3] [--dir /path/on/the/disk]

Starts the upload test app (`tests/integration/platform/upload_app.py`: `api.upload` over a
local blob store, fsync on) as its own uvicorn process, streams a glTF-binary upload of
`--mb` MB to it with httpx from a generator, and samples the server's RSS every 5 ms. Prints
the server's RSS before (after one warm-up upload) and at its peak, the rise, and MB/s from
the first byte sent to the 201. 1 MB = 10^6 bytes. Client and server share this machine's
cores.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness import machine
from tests.integration.platform.upload_app import (
    RssPeak,
    form_headers,
    server_process,
    streamed_file,
)

MB = 1_000_000
GLB_HEAD = b"glTF\x02\x00\x00\x00"


async def _upload(http: httpx.AsyncClient, size: int) -> None:
    r = await http.post(
        "/models",
        content=streamed_file("file", "bench.glb", GLB_HEAD, size),
        headers=form_headers(),
    )
    if r.status_code != 201 or r.json()["files"][0]["size"] != size:
        raise RuntimeError(f"upload failed: {r.status_code} {r.text[:200]}")


async def _run(root: Path, size: int, repeat: int) -> None:
    with server_process(root) as (url, process):
        async with httpx.AsyncClient(base_url=url, timeout=600) as http:
            await _upload(http, MB)
            baseline = process.memory_info().rss
            rates, peaks = [], []
            for _ in range(repeat):
                async with RssPeak(process) as rss:
                    t = time.perf_counter()
                    await _upload(http, size)
                    rates.append(size / MB / (time.perf_counter() - t))
                peaks.append(rss.peak)
    peak = max(peaks)
    print(f"machine: {machine()}")
    print(f"upload: {size / MB:.0f} MB x {repeat}, streamed multipart, local store (fsync)")
    print(f"server RSS baseline: {baseline / MB:.1f} MB")
    print(f"server RSS peak:     {peak / MB:.1f} MB")
    print(f"server RSS rise:     {(peak - baseline) / MB:.1f} MB (target: below 32 MB)")
    print(f"throughput: median {statistics.median(rates):.0f} MB/s (runs: ", end="")
    print(", ".join(f"{r:.0f}" for r in rates) + ")")


def main() -> None:
    """Parse the arguments and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mb", type=int, default=100, help="upload size in MB (10^6 bytes)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where the blob store lives")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-upload-") as tmp:
        asyncio.run(_run(Path(tmp) / "blobs", args.mb * MB, args.repeat))


if __name__ == "__main__":
    main()
