"""The S3 backend on aioboto3: path-style SigV4, multipart for large uploads, presigned URLs.

Presigned URLs are signed for `public_endpoint` when it is set: SigV4 signs the Host header,
so a URL signed for the internal name (`http://s3:8333`) would be refused when a client
reaches the same server under its public one.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from infra.blob.error import BackendUnavailable, BlobError, BlobNotFound, BlobTooLarge, InvalidRange
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

MIN_PART = 5 * 1024 * 1024  # S3's smallest part (all but the last)
MAX_PARTS = 10_000
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class S3Reader(ReaderBase):
    """A streaming GetObject body with the object's metadata."""

    def __init__(self, body: Any, meta: BlobMeta, start: int, length: int) -> None:
        self._body = body
        self.meta = meta
        self.start = start
        self.length = length

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if self._body is None:
                return
            while True:
                chunk = await self._body.read(CHUNK)
                if not chunk:
                    return
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            result = body.close()
            if inspect.isawaitable(result):
                await result


class S3BlobStore(StoreBase):
    """Blobs as objects in one bucket of an S3-compatible server."""

    backend = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        endpoint: str = "",
        public_endpoint: str = "",
        region: str = "us-east-1",
        access_key: str = "",
        secret_key: str = "",
        url_ttl_s: int = 3600,
        max_upload_bytes: int = 2 * 1024**3,
        multipart_threshold: int = 16 * 1024 * 1024,
        part_size: int = 16 * 1024 * 1024,
        part_concurrency: int = 4,
        create_bucket: bool = True,
    ) -> None:
        self.bucket = bucket
        self.endpoint = endpoint or None
        self.public_endpoint = public_endpoint or None
        self.region = region
        self.access_key = access_key or None
        self.secret_key = secret_key or None
        self.url_ttl_s = url_ttl_s
        self.max_upload_bytes = max_upload_bytes
        self.multipart_threshold = max(0, multipart_threshold)
        self.part_size = max(MIN_PART, part_size)
        self.part_concurrency = max(1, part_concurrency)
        self.create_bucket = create_bucket
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._signer: Any = None
        self._lock = asyncio.Lock()

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, and create the bucket when it does not exist yet (if allowed)."""
        async with self._lock:
            if self._client is not None:
                return
            import aioboto3
            from aiobotocore.config import AioConfig

            config = AioConfig(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                # S3-compatible servers differ on the newer default CRC trailers; checksums
                # only where the API requires them works everywhere.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=10,
                read_timeout=120,
            )
            session = aioboto3.Session()
            kwargs: dict[str, Any] = {
                "region_name": self.region,
                "aws_access_key_id": self.access_key,
                "aws_secret_access_key": self.secret_key,
                "config": config,
            }
            stack = contextlib.AsyncExitStack()
            try:
                client = await stack.enter_async_context(
                    session.client("s3", endpoint_url=self.endpoint, **kwargs)
                )
                signer = client
                if self.public_endpoint and self.public_endpoint != self.endpoint:
                    signer = await stack.enter_async_context(
                        session.client("s3", endpoint_url=self.public_endpoint, **kwargs)
                    )
                await self._ensure_bucket(client)
            except BaseException:
                await stack.aclose()
                raise
            self._stack, self._client, self._signer = stack, client, signer

    async def _ensure_bucket(self, client: Any) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            await client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _code(exc) not in _NOT_FOUND | {"NoSuchBucket"} or not self.create_bucket:
                raise BackendUnavailable(f"bucket {self.bucket!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise BackendUnavailable(f"S3 at {self.endpoint or 'AWS'}: {exc}") from exc
        args: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await client.create_bucket(**args)
        except ClientError as exc:
            # Another replica created it first.
            if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise BackendUnavailable(f"cannot create bucket {self.bucket!r}: {exc}") from exc

    async def close(self) -> None:
        """Close the HTTP connection pools; the store may be opened again."""
        stack, self._stack, self._client, self._signer = self._stack, None, None, None
        if stack is not None:
            await stack.aclose()

    async def _c(self) -> Any:
        if self._client is None:
            await self.open()
        return self._client

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
        """One PutObject for small data, a multipart upload past the threshold; all or nothing."""
        validate_key(key)
        client = await self._c()
        limit = self.max_upload_bytes if max_bytes is None else max_bytes
        meter = ProgressMeter(progress, size_hint)
        stream = aiter(chunks_of(data))
        buf = bytearray()
        size = 0

        async def pull() -> bool:
            nonlocal size
            chunk = await anext(stream, None)
            if chunk is None:
                return False
            size += len(chunk)
            if size > limit:
                raise BlobTooLarge(limit)
            buf.extend(chunk)
            return True

        with _mapped(key):
            more = True
            while more and len(buf) <= self.multipart_threshold:
                more = await pull()
            ctype = content_type or sniff_content_type(bytes(buf[:SNIFF_BYTES]), key)
            if not more:
                res = await client.put_object(
                    Bucket=self.bucket, Key=key, Body=bytes(buf), ContentType=ctype
                )
            else:
                res = await self._multipart(client, key, ctype, buf, pull, meter)
            meter.done(size)
        # Built from the response: a HEAD right after the PUT would cost another round trip.
        return BlobMeta(key, size, _etag(res["ETag"]), ctype, _response_date(res))

    async def _multipart(
        self, client: Any, key: str, ctype: str, buf: bytearray, pull: Any, meter: ProgressMeter
    ) -> dict[str, Any]:
        created = await client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=ctype
        )
        upload_id = created["UploadId"]
        parts: list[dict[str, Any]] = []
        # Parts go up a few at a time: against a remote S3 one part's round trip, not
        # bandwidth, is what limits a sequential upload. Memory: concurrency x part_size.
        inflight: list[tuple[int, int, asyncio.Task[Any]]] = []
        sent = 0

        async def finish_oldest() -> None:
            nonlocal sent
            number, length, task = inflight.pop(0)
            res = await task
            parts.append({"ETag": res["ETag"], "PartNumber": number})
            sent += length
            meter.update(sent)

        try:
            more, number = True, 0
            while more or buf:
                while more and len(buf) < self.part_size:
                    more = await pull()
                if not buf and number:
                    break
                body = bytes(buf[: self.part_size])
                del buf[: self.part_size]
                number += 1
                if number > MAX_PARTS:
                    raise BlobError(f"upload needs more than {MAX_PARTS} parts; raise part_size")
                task = asyncio.create_task(
                    client.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=body,
                    )
                )
                inflight.append((number, len(body), task))
                if len(inflight) >= self.part_concurrency:
                    await finish_oldest()
            while inflight:
                await finish_oldest()
            done: dict[str, Any] = await client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            return done
        except BaseException:
            for _, _, task in inflight:
                task.cancel()
            await asyncio.gather(*(t for _, _, t in inflight), return_exceptions=True)
            # Abort even when cancelled: otherwise the parts stay stored (and billed) forever.
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                )
            raise

    # -- read --------------------------------------------------------------------------

    async def head(self, key: str) -> BlobMeta:
        """Metadata of `key`; BlobNotFound when absent."""
        validate_key(key)
        client = await self._c()
        with _mapped(key):
            res = await client.head_object(Bucket=self.bucket, Key=key)
        return BlobMeta(
            key=key,
            size=int(res["ContentLength"]),
            etag=_etag(res["ETag"]),
            content_type=res.get("ContentType") or "application/octet-stream",
            modified=_utc(res["LastModified"]),
        )

    async def get(self, key: str, *, offset: int = 0, length: int | None = None) -> S3Reader:
        """Open `key` for streaming from `offset` for `length` bytes (to the end when None)."""
        validate_key(key)
        client = await self._c()
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        if length == 0:
            meta = await self.head(key)
            check_range(meta.size, offset, 0)
            return S3Reader(None, meta, offset, 0)
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            args["Range"] = f"bytes={offset}-{end}"
        try:
            with _mapped(key):
                res = await client.get_object(**args)
        except InvalidRange:
            # S3 refuses any range on an empty object, even one asking for its nothing.
            meta = await self.head(key)
            if offset == 0 and meta.size == 0:
                return S3Reader(None, meta, 0, 0)
            raise InvalidRange(meta.size) from None
        size = int(res["ContentLength"])
        total = size
        match = _CONTENT_RANGE.fullmatch(res.get("ContentRange") or "")
        if match:
            total = int(match.group(3))
        meta = BlobMeta(
            key=key,
            size=total,
            etag=_etag(res["ETag"]),
            content_type=res.get("ContentType") or "application/octet-stream",
            modified=_utc(res["LastModified"]),
        )
        return S3Reader(res["Body"], meta, offset, size)

    # -- list --------------------------------------------------------------------------

    async def list(
        self, prefix: str = "", *, limit: int = 1000, token: str | None = None
    ) -> BlobPage:
        """One page of the keys starting with `prefix`, in byte order of their UTF-8."""
        validate_prefix(prefix)
        if limit < 1:
            raise ValueError("limit must be at least 1")
        client = await self._c()
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": prefix,
            "MaxKeys": min(limit, 1000),
        }
        if token:
            args["ContinuationToken"] = token
        with _mapped(prefix):
            res = await client.list_objects_v2(**args)
        items = [
            BlobEntry(
                key=o["Key"],
                size=int(o["Size"]),
                etag=_etag(o["ETag"]),
                modified=_utc(o["LastModified"]),
            )
            for o in res.get("Contents", [])
        ]
        next_token = res.get("NextContinuationToken") if res.get("IsTruncated") else None
        return BlobPage(items, next_token)

    # -- delete, copy, move ------------------------------------------------------------

    async def delete(self, key: str) -> bool:
        """Remove `key`; False when there was nothing to remove."""
        validate_key(key)
        client = await self._c()
        # DeleteObject succeeds for missing keys; ask first so callers learn the difference.
        if not await self.exists(key):
            return False
        with _mapped(key):
            await client.delete_object(Bucket=self.bucket, Key=key)
        return True

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with `prefix`; the number removed."""
        validate_prefix(prefix)
        client = await self._c()
        count = 0
        while True:
            page = await self.list(prefix)
            if not page.items:
                return count
            with _mapped(prefix):
                res = await client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": i.key} for i in page.items], "Quiet": True},
                )
            errors = res.get("Errors") or []
            if errors:
                raise BackendUnavailable(f"could not delete {len(errors)} objects: {errors[0]}")
            count += len(page.items)

    async def copy(self, src: str, dst: str) -> BlobMeta:
        """Server-side copy of `src` to `dst` (replacing it), keeping the content type."""
        validate_key(src)
        validate_key(dst)
        client = await self._c()
        with _mapped(src):
            await client.copy_object(
                Bucket=self.bucket, Key=dst, CopySource={"Bucket": self.bucket, "Key": src}
            )
        return await self.head(dst)

    async def move(self, src: str, dst: str) -> BlobMeta:
        """Copy then delete: S3 has no rename, so a crash in between leaves both, never none."""
        if src == dst:
            return await self.head(validate_key(src))
        meta = await self.copy(src, dst)
        await self.delete(src)
        return meta

    # -- signed URLs -------------------------------------------------------------------

    async def download_url(
        self, key: str, *, ttl_s: int | None = None, filename: str | None = None
    ) -> str:
        """A presigned GetObject URL (for the public endpoint) valid for `ttl_s` seconds."""
        validate_key(key)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        await self._c()
        url: str = await self._signer.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=ttl_s or self.url_ttl_s
        )
        return url

    async def upload_url(
        self, key: str, *, ttl_s: int | None = None, content_type: str | None = None
    ) -> str:
        """A presigned PutObject URL; with a content type, the upload must send that type."""
        validate_key(key)
        await self._c()
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if content_type:
            params["ContentType"] = content_type
        url: str = await self._signer.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=ttl_s or self.url_ttl_s
        )
        return url


@contextlib.contextmanager
def _mapped(key: str) -> Any:
    """Turn botocore's errors into ours."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = _code(exc)
        if code in _NOT_FOUND:
            raise BlobNotFound(key) from exc
        if code == "InvalidRange":
            raise InvalidRange(-1) from exc
        raise BackendUnavailable(f"S3 {code}: {exc}") from exc
    except BotoCoreError as exc:
        raise BackendUnavailable(f"S3 unreachable: {exc}") from exc


def _code(exc: Any) -> str:
    return str(
        exc.response.get("Error", {}).get("Code")
        or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    )


def _etag(value: str) -> str:
    return value.strip('"')


def _response_date(res: dict[str, Any]) -> datetime:
    """The server's clock when it stored the object (S3 keeps whole seconds, as we do here)."""
    header = res.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if header:
        with contextlib.suppress(TypeError, ValueError):
            return _utc(parsedate_to_datetime(header))
    return datetime.now(UTC).replace(microsecond=0)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
