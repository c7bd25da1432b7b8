"""The blob-store interface every backend implements, and the Structs it returns."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import quote

import msgspec

from infra.blob.error import BlobNotFound, InvalidRange

Progress = Callable[[float, str], None]
Data = bytes | bytearray | memoryview | AsyncIterable[bytes]


class BlobMeta(msgspec.Struct, frozen=True):
    """One stored object: what `put`, `head` and `copy` answer."""

    key: str
    size: int
    etag: str  # quoted-free hex; multipart S3 uploads end in "-<parts>"
    content_type: str
    modified: datetime  # timezone-aware UTC


class BlobEntry(msgspec.Struct, frozen=True):
    """One object in a listing (listings do not carry the content type)."""

    key: str
    size: int
    etag: str
    modified: datetime


class BlobPage(msgspec.Struct, frozen=True):
    """One page of a listing; pass `next_token` back to get the following page."""

    items: list[BlobEntry]
    next_token: str | None


class BlobReader(Protocol):
    """An open object: its metadata, the byte window being read, and the bytes themselves."""

    meta: BlobMeta
    start: int
    length: int

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> BlobReader: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class BlobStore(Protocol):
    """Files by key, on a local directory or S3; every method validates its keys."""

    backend: str
    max_upload_bytes: int

    async def open(self) -> None:
        """Prepare the backend (directories, client, bucket); idempotent."""

    async def close(self) -> None:
        """Release connections; the store may be opened again."""

    async def put(
        self,
        key: str,
        data: Data,
        *,
        content_type: str | None = None,
        max_bytes: int | None = None,
        size_hint: int | None = None,
        progress: Progress | None = None,
    ) -> BlobMeta:
        """Store `data` under `key` whole or not at all; over `max_bytes` raises BlobTooLarge."""
        ...

    async def get(self, key: str, *, offset: int = 0, length: int | None = None) -> BlobReader:
        """Open `key` for streaming from `offset` for `length` bytes (to the end when None)."""
        ...

    async def read(self, key: str, *, offset: int = 0, length: int | None = None) -> bytes:
        """The bytes of `key` (or of a range of it) in memory."""
        ...

    async def head(self, key: str) -> BlobMeta:
        """Metadata of `key`; BlobNotFound when absent."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        ...

    async def list(
        self, prefix: str = "", *, limit: int = 1000, token: str | None = None
    ) -> BlobPage:
        """One page of the keys starting with `prefix`, in byte order of their UTF-8."""
        ...

    def iter(self, prefix: str = "") -> AsyncIterator[BlobEntry]:
        """Every object under `prefix`, following pages."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove `key`; False when there was nothing to remove."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with `prefix`; the number removed."""
        ...

    async def copy(self, src: str, dst: str) -> BlobMeta:
        """Copy `src` to `dst` (replacing it), keeping the content type."""
        ...

    async def move(self, src: str, dst: str) -> BlobMeta:
        """Rename `src` to `dst` (replacing it)."""
        ...

    async def download_url(
        self, key: str, *, ttl_s: int | None = None, filename: str | None = None
    ) -> str:
        """A signed URL that reads `key` (with Range support) until it expires.

        With `filename`, browsers save the download under that name.
        """
        ...

    async def upload_url(
        self, key: str, *, ttl_s: int | None = None, content_type: str | None = None
    ) -> str:
        """A signed URL that accepts one PUT of the object's bytes until it expires."""
        ...


CHUNK = 1024 * 1024


async def chunks_of(data: Data, chunk: int = CHUNK) -> AsyncIterator[bytes]:
    """`data` as an async stream of byte chunks, whichever form it came in."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        for i in range(0, len(view), chunk):
            yield bytes(view[i : i + chunk])
        return
    if not hasattr(data, "__aiter__"):
        raise TypeError(
            f"put() takes bytes or an async iterable of bytes, not {type(data).__name__}"
        )
    async for piece in data:
        if piece:
            yield bytes(piece) if not isinstance(piece, bytes) else piece


def content_disposition(filename: str) -> str:
    """An `attachment` Content-Disposition for `filename` (RFC 6266, with a UTF-8 form)."""
    if not filename or len(filename.encode()) > 255:
        raise ValueError("filename must be 1 to 255 bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in filename):
        raise ValueError("filename contains a control character")
    name = filename.replace("/", "_").replace("\\", "_")
    fallback = "".join(c if c.isascii() and c not in '"%' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def check_range(size: int, offset: int, length: int | None) -> int:
    """The number of bytes a read of (`offset`, `length`) returns; InvalidRange if none can."""
    if offset < 0 or (length is not None and length < 0):
        raise ValueError("offset and length must not be negative")
    if offset > 0 and offset >= size:
        raise InvalidRange(size)
    end = size if length is None else min(size, offset + length)
    return max(0, end - offset)


class ProgressMeter:
    """Reports upload progress every 5 percent of `size_hint` (every 8 MiB when unsized)."""

    def __init__(self, progress: Progress | None, size_hint: int | None) -> None:
        self.progress = progress
        self.size_hint = size_hint if size_hint and size_hint > 0 else None
        self._last = -1.0

    def update(self, done: int) -> None:
        if self.progress is None:
            return
        if self.size_hint:
            pct = min(99.0, 100.0 * done / self.size_hint)
            if pct - self._last >= 5.0:
                self._last = pct
                self.progress(pct, f"uploaded {done} of {self.size_hint} bytes")
        elif done // (8 * CHUNK) > self._last:
            self._last = done // (8 * CHUNK)
            self.progress(0.0, f"uploaded {done} bytes")

    def done(self, size: int) -> None:
        if self.progress is not None:
            self.progress(100.0, f"stored {size} bytes")


class ReaderBase:
    """`async with reader:` closes it; backends implement `aclose`."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class StoreBase:
    """What every backend derives from its primitives."""

    backend: str = ""
    max_upload_bytes: int = 0

    async def open(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def get(self, key: str, *, offset: int = 0, length: int | None = None) -> BlobReader:
        raise NotImplementedError  # pragma: no cover - overridden

    async def list(
        self, prefix: str = "", *, limit: int = 1000, token: str | None = None
    ) -> BlobPage:
        raise NotImplementedError  # pragma: no cover - overridden

    async def head(self, key: str) -> BlobMeta:
        raise NotImplementedError  # pragma: no cover - overridden

    async def __aenter__(self) -> StoreBase:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def read(self, key: str, *, offset: int = 0, length: int | None = None) -> bytes:
        """The bytes of `key` (or of a range of it) in memory."""
        async with await self.get(key, offset=offset, length=length) as reader:
            return b"".join([chunk async for chunk in reader])

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        try:
            await self.head(key)
        except BlobNotFound:
            return False
        return True

    async def iter(self, prefix: str = "") -> AsyncIterator[BlobEntry]:
        """Every object under `prefix`, following pages."""
        token: str | None = None
        while True:
            page = await self.list(prefix, token=token)
            for item in page.items:
                yield item
            if page.next_token is None:
                return
            token = page.next_token
