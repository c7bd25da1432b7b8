"""The local-directory backend: atomic writes, keys confined to the root, HMAC-signed URLs.

Layout under the root: `objects/<key>` holds the bytes, `meta/<key>` a small JSON sidecar
(content type, md5 etag) and `tmp/` the uploads in flight (same filesystem, so a rename
publishes them atomically). Every path is reached by walking directory descriptors with
O_NOFOLLOW from the tree's root, so neither a crafted key nor a symlink planted inside the
root can make the store read or write outside it.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import stat
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.blob import signature
from infra.blob.error import BlobError, BlobNotFound, BlobTooLarge, InvalidKey, KeyConflict
from infra.blob.key import validate_key, validate_prefix
from infra.blob.mediatype import SNIFF_BYTES, sniff_content_type
from infra.blob.store import (
    CHUNK,
    BlobEntry,
    BlobMeta,
    BlobPage,
    Data,
    Progress,
    ProgressMeter,
    ReaderBase,
    StoreBase,
    check_range,
    chunks_of,
    content_disposition,
)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_PAGE = 1000
Parts = list[str]  # a key split on '/'; aliased because the store has a `list` method


class LocalReader(ReaderBase):
    """A byte window of one open file, read in chunks off the event loop."""

    def __init__(self, fd: int, meta: BlobMeta, start: int, length: int) -> None:
        self._fd: int | None = fd
        self.meta = meta
        self.start = start
        self.length = length

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pos, end = self.start, self.start + self.length
        try:
            while pos < end and self._fd is not None:
                data = await asyncio.to_thread(os.pread, self._fd, min(CHUNK, end - pos), pos)
                if not data:  # truncated underneath us: stop rather than spin
                    return
                pos += len(data)
                yield data
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class LocalBlobStore(StoreBase):
    """Blobs as files under one directory; downloads through signed `/blobs` URLs."""

    backend = "local"

    def __init__(
        self,
        root: str | Path,
        *,
        signing_secret: str,
        base_url: str,
        url_ttl_s: int = 3600,
        max_upload_bytes: int = 2 * 1024**3,
        fsync: bool = True,
    ) -> None:
        self.root = Path(root)
        self.signing_secret = signing_secret
        self.base_url = base_url
        self.url_ttl_s = url_ttl_s
        self.max_upload_bytes = max_upload_bytes
        # fsync before publishing: a crash right after put() must not leave an empty file
        # where the caller was told an object is.
        self.fsync = fsync
        self._opened = False

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Create the root and its three trees (refusing symlinked trees)."""
        if self._opened:
            return
        await asyncio.to_thread(self._open_sync)
        self._opened = True

    def _open_sync(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root = self.root.resolve()
        for name in ("objects", "meta", "tmp"):
            path = self.root / name
            path.mkdir(exist_ok=True)
            if path.is_symlink() or not path.is_dir():
                raise BlobError(f"{path} must be a real directory, not a link")

    async def close(self) -> None:
        """Nothing to release: every descriptor is closed by the call that opened it."""
        self._opened = False

    async def _ready(self) -> None:
        if not self._opened:
            await self.open()

    # -- put ---------------------------------------------------------------------------

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
        """Stream `data` to a temp file, then publish it by rename; over the limit: nothing."""
        parts = validate_key(key).split("/")
        await self._ready()
        limit = self.max_upload_bytes if max_bytes is None else max_bytes
        meter = ProgressMeter(progress, size_hint)
        tmp_name = f"{uuid.uuid4().hex}.part"
        tmp_dir = os.open(self.root / "tmp", _DIR_FLAGS)
        fd = os.open(
            tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=tmp_dir
        )
        published = False
        try:
            md5 = hashlib.md5(usedforsecurity=False)
            head = b""
            size = 0
            pending = bytearray()
            async for chunk in chunks_of(data):
                size += len(chunk)
                if size > limit:
                    raise BlobTooLarge(limit)
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                pending += chunk
                # Batch small chunks so each thread hop hashes and writes a useful amount
                # (hashlib releases the GIL, so the event loop keeps running meanwhile).
                if len(pending) >= CHUNK:
                    await asyncio.to_thread(_hash_and_write, md5, fd, bytes(pending))
                    pending.clear()
                    meter.update(size)
            if pending:
                await asyncio.to_thread(_hash_and_write, md5, fd, bytes(pending))
            if self.fsync:
                await asyncio.to_thread(os.fsync, fd)
            st = os.fstat(fd)
            sidecar = {
                "v": 1,
                "content_type": content_type or sniff_content_type(head, key),
                "etag": md5.hexdigest(),
                "size": size,
                "ino": st.st_ino,
                "mtime_ns": st.st_mtime_ns,
            }
            await asyncio.to_thread(self._publish, tmp_dir, tmp_name, parts, sidecar)
            published = True
        finally:
            os.close(fd)
            if not published:
                _unlink_quietly(tmp_name, tmp_dir)
            os.close(tmp_dir)
        meter.done(size)
        return BlobMeta(
            key,
            size,
            str(sidecar["etag"]),
            str(sidecar["content_type"]),
            datetime.fromtimestamp(st.st_mtime, UTC),
        )

    def _publish(
        self, tmp_dir: int, tmp_name: str, parts: Parts, sidecar: dict[str, object]
    ) -> None:
        meta_tmp = tmp_name + ".meta"
        mfd = os.open(
            meta_tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=tmp_dir
        )
        try:
            _write_all(mfd, json.dumps(sidecar).encode())
        finally:
            os.close(mfd)
        try:
            self._rename_in("objects", tmp_dir, tmp_name, parts)
        except BaseException:
            _unlink_quietly(meta_tmp, tmp_dir)
            raise
        # The sidecar names the data file's inode, so a reader that sees new data with an old
        # sidecar (or the reverse, under concurrent puts) notices and falls back safely.
        self._rename_in("meta", tmp_dir, meta_tmp, parts)

    def _rename_in(self, tree: str, src_dir: int, src_name: str, parts: Parts) -> None:
        for _ in range(5):
            dfd = self._walk(tree, parts[:-1], create=True)
            try:
                try:
                    os.rename(src_name, parts[-1], src_dir_fd=src_dir, dst_dir_fd=dfd)
                except IsADirectoryError as exc:
                    raise KeyConflict(f"{'/'.join(parts)!r} is a prefix of other keys") from exc
                except OSError as exc:
                    if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                        raise KeyConflict(f"{'/'.join(parts)!r} is a prefix of other keys") from exc
                    raise
                # A concurrent delete may have pruned this (then empty) directory between our
                # walk and the rename; a file renamed into an unlinked directory is lost, so
                # take it back and walk again. Once our file is in, rmdir can no longer win.
                if os.fstat(dfd).st_nlink > 0:
                    return
                os.rename(parts[-1], src_name, src_dir_fd=dfd, dst_dir_fd=src_dir)
            finally:
                os.close(dfd)
        raise OSError(errno.EAGAIN, "directory kept disappearing while publishing")

    # -- read --------------------------------------------------------------------------

    async def head(self, key: str) -> BlobMeta:
        """Metadata of `key`; BlobNotFound when absent."""
        parts = validate_key(key).split("/")
        await self._ready()
        fd, meta = await asyncio.to_thread(self._open_object, key, parts)
        os.close(fd)
        return meta

    async def get(self, key: str, *, offset: int = 0, length: int | None = None) -> LocalReader:
        """Open `key` for streaming from `offset` for `length` bytes (to the end when None)."""
        parts = validate_key(key).split("/")
        await self._ready()
        fd, meta = await asyncio.to_thread(self._open_object, key, parts)
        try:
            n = check_range(meta.size, offset, length)
        except BaseException:
            os.close(fd)
            raise
        return LocalReader(fd, meta, offset, n)

    def _open_object(self, key: str, parts: Parts) -> tuple[int, BlobMeta]:
        try:
            dfd = self._walk("objects", parts[:-1], create=False)
        except (FileNotFoundError, KeyConflict) as exc:
            raise BlobNotFound(key) from exc
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dfd)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InvalidKey(f"{key!r} is a symbolic link inside the store") from exc
            raise
        finally:
            os.close(dfd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise BlobNotFound(key)  # a directory is a prefix, not an object
            return fd, self._meta(key, parts, fd, st)
        except BaseException:
            os.close(fd)
            raise

    def _meta(self, key: str, parts: Parts, fd: int, st: os.stat_result) -> BlobMeta:
        modified = datetime.fromtimestamp(st.st_mtime, UTC)
        sidecar = self._read_sidecar(parts)
        if sidecar is not None and _describes(sidecar, st):
            return BlobMeta(
                key, st.st_size, str(sidecar["etag"]), str(sidecar["content_type"]), modified
            )
        # No trustworthy sidecar (a put racing us, or a file dropped in by hand): describe the
        # bytes themselves, with an etag that still changes whenever the file does.
        head = os.pread(fd, SNIFF_BYTES, 0)
        etag = f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"
        return BlobMeta(key, st.st_size, etag, sniff_content_type(head, key), modified)

    def _read_sidecar(self, parts: Parts) -> dict[str, object] | None:
        try:
            dfd = self._walk("meta", parts[:-1], create=False)
        except (OSError, KeyConflict, InvalidKey):
            return None
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dfd)
        except OSError:
            return None
        finally:
            os.close(dfd)
        try:
            raw = os.read(fd, 64 * 1024)
        finally:
            os.close(fd)
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    # -- list --------------------------------------------------------------------------

    async def list(
        self, prefix: str = "", *, limit: int = 1000, token: str | None = None
    ) -> BlobPage:
        """One page of the keys starting with `prefix`, in byte order of their UTF-8."""
        validate_prefix(prefix)
        if limit < 1:
            raise ValueError("limit must be at least 1")
        await self._ready()
        return await asyncio.to_thread(self._list_sync, prefix, min(limit, _MAX_PAGE), token)

    def _list_sync(self, prefix: str, limit: int, token: str | None) -> BlobPage:
        after = token.encode() if token else None
        items: list[BlobEntry] = []
        root = os.open(self.root / "objects", _DIR_FLAGS)
        try:
            for key, st in _walk_sorted(root, "", prefix.encode(), after):
                if len(items) == limit:
                    return BlobPage(items, items[-1].key)
                parts = key.split("/")
                sidecar = self._read_sidecar(parts)
                if sidecar is not None and _describes(sidecar, st):
                    etag = str(sidecar["etag"])
                else:
                    etag = f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"
                modified = datetime.fromtimestamp(st.st_mtime, UTC)
                items.append(BlobEntry(key, st.st_size, etag, modified))
        finally:
            os.close(root)
        return BlobPage(items, None)

    # -- delete, copy, move ------------------------------------------------------------

    async def delete(self, key: str) -> bool:
        """Remove `key`; False when there was nothing to remove."""
        parts = validate_key(key).split("/")
        await self._ready()
        return await asyncio.to_thread(self._delete_sync, parts)

    def _delete_sync(self, parts: Parts) -> bool:
        removed = False
        for tree in ("objects", "meta"):
            try:
                dfd = self._walk(tree, parts[:-1], create=False)
            except (FileNotFoundError, KeyConflict):
                continue
            try:
                os.unlink(parts[-1], dir_fd=dfd)
                removed = removed or tree == "objects"
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                pass
            finally:
                os.close(dfd)
            self._prune(tree, parts[:-1])
        return removed

    def _prune(self, tree: str, dirs: Parts) -> None:
        """Remove the now-empty directories a deleted key leaves behind (best effort)."""
        for depth in range(len(dirs), 0, -1):
            try:
                pfd = self._walk(tree, dirs[: depth - 1], create=False)
            except (OSError, KeyConflict, InvalidKey):
                return
            try:
                os.rmdir(dirs[depth - 1], dir_fd=pfd)
            except OSError:
                return  # not empty (or gone): the levels above are not empty either
            finally:
                os.close(pfd)

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with `prefix`; the number removed."""
        validate_prefix(prefix)
        count = 0
        while True:
            # Always re-list from the start: what we just deleted is gone from the listing.
            page = await self.list(prefix)
            for item in page.items:
                count += await self.delete(item.key)
            if page.next_token is None:
                return count

    async def copy(self, src: str, dst: str) -> BlobMeta:
        """Copy `src` to `dst` (replacing it), keeping the content type."""
        validate_key(dst)
        async with await self.get(src) as reader:
            return await self.put(
                dst, reader, content_type=reader.meta.content_type, max_bytes=reader.meta.size
            )

    async def move(self, src: str, dst: str) -> BlobMeta:
        """Rename `src` to `dst` (replacing it) in one atomic step per tree."""
        sparts = validate_key(src).split("/")
        dparts = validate_key(dst).split("/")
        await self._ready()
        if src != dst:
            await asyncio.to_thread(self._move_sync, src, sparts, dparts)
        return await self.head(dst)

    def _move_sync(self, src: str, sparts: Parts, dparts: Parts) -> None:
        fd, _ = self._open_object(src, sparts)  # the same checks as a read of `src`
        os.close(fd)
        for tree in ("objects", "meta"):
            try:
                sfd = self._walk(tree, sparts[:-1], create=False)
            except (FileNotFoundError, KeyConflict):
                continue
            try:
                self._rename_in(tree, sfd, sparts[-1], dparts)
            except FileNotFoundError:
                if tree == "objects":
                    raise BlobNotFound(src) from None
                # A missing sidecar must not leave the old one describing the new bytes.
                _unlink_in(self, "meta", dparts)
            finally:
                os.close(sfd)
        self._prune("objects", sparts[:-1])
        self._prune("meta", sparts[:-1])

    # -- signed URLs -------------------------------------------------------------------

    async def download_url(
        self, key: str, *, ttl_s: int | None = None, filename: str | None = None
    ) -> str:
        """An HMAC-signed `/blobs/{key}` URL that serves reads until it expires."""
        validate_key(key)
        if filename:
            content_disposition(filename)  # refuse a name the route could not send
        return signature.signed_url(
            self.base_url,
            self.signing_secret,
            "GET",
            key,
            ttl_s or self.url_ttl_s,
            filename=filename or "",
        )

    async def upload_url(
        self, key: str, *, ttl_s: int | None = None, content_type: str | None = None
    ) -> str:
        """An HMAC-signed `/blobs/{key}` URL that accepts one PUT until it expires.

        With `content_type`, the upload must declare that type, as with S3.
        """
        validate_key(key)
        return signature.signed_url(
            self.base_url,
            self.signing_secret,
            "PUT",
            key,
            ttl_s or self.url_ttl_s,
            content_type or "",
        )

    def verify(
        self,
        method: str,
        key: str,
        exp: str | None,
        sig: str | None,
        content_type: str = "",
        filename: str = "",
    ) -> None:
        """Raise InvalidSignature / SignatureExpired unless the URL was signed by this store."""
        validate_key(key)
        signature.verify(
            self.signing_secret,
            method,
            key,
            exp,
            sig,
            content_type=content_type,
            filename=filename,
        )

    # -- directory walking -------------------------------------------------------------

    def _walk(self, tree: str, dirs: Parts, *, create: bool) -> int:
        """A descriptor of `tree/<dirs...>`, never following a link; the caller closes it."""
        fd = os.open(self.root / tree, _DIR_FLAGS)
        try:
            for name in dirs:
                if create:
                    try:
                        os.mkdir(name, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass
                try:
                    nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    if stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                        raise InvalidKey(f"{name!r} is a symbolic link inside the store") from exc
                    raise KeyConflict(f"{name!r} is an object, not a prefix") from exc
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise


def _walk_sorted(
    dir_fd: int, rel: str, prefix: bytes, after: bytes | None
) -> Iterator[tuple[str, os.stat_result]]:
    """Files below `dir_fd` in UTF-8 byte order of their keys, lazily, links skipped."""
    with os.scandir(dir_fd) as it:
        entries = [(e, e.is_dir(follow_symlinks=False)) for e in it]
    # A directory sorts as "name/" so "a-b" (0x2d) comes before everything under "a/" (0x2f).
    entries.sort(key=lambda item: (item[0].name + ("/" if item[1] else "")).encode())
    for entry, is_dir in entries:
        path = (rel + entry.name + ("/" if is_dir else "")).encode()
        if is_dir:
            if not (path.startswith(prefix) or prefix.startswith(path)):
                continue
            # Everything under `path` sorts at or before `after`: skip the whole subtree.
            if after is not None and after > path and not after.startswith(path):
                continue
            try:
                sub = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue  # removed or replaced while listing
            try:
                yield from _walk_sorted(sub, path.decode(), prefix, after)
            finally:
                os.close(sub)
        elif entry.is_file(follow_symlinks=False) and path.startswith(prefix):
            if after is not None and path <= after:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield path.decode(), st


def _describes(sidecar: dict[str, object] | None, st: os.stat_result) -> bool:
    """Whether the sidecar was written for exactly this file (inode numbers get reused)."""
    return (
        sidecar is not None
        and sidecar.get("ino") == st.st_ino
        and sidecar.get("size") == st.st_size
        and sidecar.get("mtime_ns") == st.st_mtime_ns
    )


def _hash_and_write(md5: Any, fd: int, data: bytes) -> None:
    md5.update(data)
    _write_all(fd, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _unlink_quietly(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def _unlink_in(store: LocalBlobStore, tree: str, parts: Parts) -> None:
    try:
        dfd = store._walk(tree, parts[:-1], create=False)
    except (OSError, KeyConflict):
        return
    try:
        _unlink_quietly(parts[-1], dfd)
    finally:
        os.close(dfd)
