"""A small Litestar app whose routes take uploads through `api.upload`, for tests and the bench.

In the test's event loop: `async with serve(store) as url`. As its own process (the memory
checks): `python -m uvicorn --factory tests.integration.platform.upload_app:app_from_env`
with `UPLOAD_APP_ROOT` naming the local blob store's directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psutil
from litestar import Litestar, Request

from api.error import PLATFORM_ERRORS
from api.upload import (
    IMAGE_TYPES,
    MODEL_TYPES,
    MiB,
    UploadForm,
    UploadPolicy,
    receive_uploads,
    upload_route,
)
from infra.blob.local import LocalBlobStore
from infra.blob.store import BlobStore
from infra.embedded import free_port
from tests.conftest import LiveServer

SMALL = UploadPolicy(
    prefix="small", max_bytes=64 * 1024, file_fields=frozenset({"file"}), max_files=2
)
IMAGES = UploadPolicy(
    prefix="images", max_bytes=4 * MiB, accept=IMAGE_TYPES, min_files=1, max_files=4
)
MODELS = UploadPolicy(
    prefix="models", max_bytes=256 * MiB, accept=MODEL_TYPES, file_fields=frozenset({"file"})
)
ROOT = Path(__file__).resolve().parents[3]
BOUNDARY = "sy-upload-boundary-7d1f"
# The platform's default cap, so the tests show upload_route lifting it per route.
APP_BODY_LIMIT = 1 * MiB


def create_app(store: BlobStore) -> Litestar:
    """Three upload routes over `store`, with the platform's error shape and body cap."""

    @upload_route("/small", SMALL, status_code=201)
    async def small(request: Request[Any, Any, Any]) -> UploadForm:
        return await receive_uploads(request, store)

    @upload_route("/images", IMAGES, status_code=201)
    async def images(request: Request[Any, Any, Any]) -> UploadForm:
        return await receive_uploads(request, store)

    @upload_route("/models", MODELS, status_code=201)
    async def models(request: Request[Any, Any, Any]) -> UploadForm:
        return await receive_uploads(request, store, prefix="models/session-1")

    return Litestar(
        route_handlers=[small, images, models],
        exception_handlers=PLATFORM_ERRORS.handlers(),
        request_max_body_size=APP_BODY_LIMIT,
        on_startup=[store.open],
        on_shutdown=[store.close],
        openapi_config=None,
    )


def local_store(root: str | Path) -> LocalBlobStore:
    """A local blob store under `root` (its signed URLs are not used here)."""
    return LocalBlobStore(root, signing_secret="upload-tests", base_url="http://127.0.0.1")


def app_from_env() -> Litestar:
    """The app over the local store in `$UPLOAD_APP_ROOT` (uvicorn's `--factory` entry)."""
    return create_app(local_store(os.environ["UPLOAD_APP_ROOT"]))


@contextlib.asynccontextmanager
async def serve(store: BlobStore) -> AsyncIterator[str]:
    """A real uvicorn server running the app in this event loop; yields its base URL."""
    async with LiveServer(create_app(store)) as live:
        yield live.url


def multipart_body(
    *parts: tuple[str, str | None, bytes], boundary: str = BOUNDARY, declared: str = ""
) -> bytes:
    """A multipart/form-data body of (field, filename or None for a text field, bytes) parts.

    Built by hand so a test controls every byte (hostile filenames, truncation); `declared`
    is the part Content-Type a client claims for files, which the server must ignore.
    """
    out = bytearray()
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            # Browsers' (WHATWG) escaping: only CR, LF and the quote are percent-encoded.
            quoted = filename.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")
            disposition += f'; filename="{quoted}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += f"Content-Type: {declared or 'application/octet-stream'}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def form_headers(boundary: str = BOUNDARY) -> dict[str, str]:
    """The request Content-Type for a body made by `multipart_body` or `streamed_file`."""
    return {"content-type": f"multipart/form-data; boundary={boundary}"}


async def streamed_file(
    field: str, filename: str, head: bytes, size: int, chunk: int = 256 * 1024
) -> AsyncIterator[bytes]:
    """A one-file multipart body of `size` bytes (starting with `head`), made as it is sent."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    filler = bytes(range(256)) * (chunk // 256)
    sent = 0
    while sent < size:
        piece = head if sent == 0 and head else filler[: min(chunk, size - sent)]
        sent += len(piece)
        yield piece
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


@contextlib.contextmanager
def server_process(root: Path) -> Iterator[tuple[str, psutil.Process]]:
    """The app in its own uvicorn process over a local store at `root`: (base URL, process)."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", f"{__name__}:app_from_env"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    env = {**os.environ, "UPLOAD_APP_ROOT": str(root), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"upload app exited with {proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("upload app did not start within 30 s")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RssPeak:
    """The highest resident set size of a process, sampled every few ms while it runs."""

    def __init__(self, process: psutil.Process, every_s: float = 0.005) -> None:
        self.process = process
        self.every_s = every_s
        self.peak = process.memory_info().rss
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.process.memory_info().rss)
            await asyncio.sleep(self.every_s)

    async def __aenter__(self) -> RssPeak:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.peak = max(self.peak, self.process.memory_info().rss)
