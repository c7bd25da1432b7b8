"""`/blobs/{key}?exp=&sig=`: the local blob store's signed, expiring download and upload URLs.

The signature is the authorisation (no bearer token): links are handed to browsers, players
and other services. With the S3 backend, signed URLs point at S3 itself and this route
answers 404.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from email.utils import format_datetime
from typing import Any

from litestar import Request, Response, Router, get, head, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from api.error import PLATFORM_ERRORS, ApiError, BadRequest, Conflict, Forbidden, NotFound
from api.state import resources
from infra.blob import (
    BlobMeta,
    BlobNotFound,
    BlobTooLarge,
    InvalidKey,
    InvalidRange,
    InvalidSignature,
    KeyConflict,
    LocalBlobStore,
    SignatureExpired,
)
from infra.blob.store import BlobStore, content_disposition

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
# OpenAPI's "no authentication" is one empty requirement; the signature is the credential.
_NO_AUTH: list[dict[str, list[str]]] = [{}]
# The object as stored, of whatever type it was stored with.
_CONTENT = ResponseSpec(bytes, description="The blob", media_type="*/*", generate_examples=False)
_NOT_MODIFIED = ResponseSpec(
    None, description="If-None-Match matched: the client's copy is current"
)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (offset, length) one `Range` header asks for; None to send the whole object.

    Multi-range and malformed headers are ignored (RFC 9110 lets a server do so); a
    well-formed range that selects nothing raises InvalidRange, which becomes a 416.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise InvalidRange(size)
        n = min(n, size)
        return size - n, n
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None  # syntactically invalid: ignore it
    if start >= size:
        raise InvalidRange(size)
    return start, end - start + 1


async def blob_store(request: Request[Any, Any, Any]) -> LocalBlobStore | None:
    """The local store this route serves, or None under S3."""
    res = resources(request.app.state)
    if res.settings.blob.backend != "local":
        return None
    store = await res.blobs()
    return store if isinstance(store, LocalBlobStore) else None


async def _checked(
    request: Request[Any, Any, Any],
    method: str,
    key: str,
    exp: str | None,
    sig: str | None,
    content_type: str = "",
    filename: str = "",
) -> tuple[LocalBlobStore, str]:
    store = await blob_store(request)
    key = key.removeprefix("/")
    if store is None:
        raise NotFound("blob URLs are served by the S3 store, not this API")
    try:
        store.verify(method, key, exp, sig, content_type, filename)
    except InvalidKey as exc:
        raise BadRequest(str(exc), code="INVALID_KEY") from exc
    except SignatureExpired as exc:
        raise Forbidden(str(exc), code="URL_EXPIRED") from exc
    except InvalidSignature as exc:
        raise Forbidden(str(exc), code="BAD_SIGNATURE") from exc
    return store, key


def _headers(meta: BlobMeta, filename: str | None = None) -> dict[str, str]:
    headers = {
        "etag": f'"{meta.etag}"',
        "last-modified": format_datetime(meta.modified, usegmt=True),
        "accept-ranges": "bytes",
        "content-type": meta.content_type,
        # Signed links are capabilities: keep them out of shared caches.
        "cache-control": "private, max-age=0, must-revalidate",
    }
    if filename:
        headers["content-disposition"] = content_disposition(filename)
    return headers


def _not_modified(request: Request[Any, Any, Any], meta: BlobMeta) -> bool:
    tags = request.headers.get("if-none-match")
    if not tags:
        return False
    wanted = {t.strip().removeprefix("W/") for t in tags.split(",")}
    return "*" in wanted or f'"{meta.etag}"' in wanted


def _range_applies(request: Request[Any, Any, Any], headers: dict[str, str]) -> bool:
    condition = request.headers.get("if-range")
    # If-Range: send the range only if the client's copy is still the current one.
    return condition is None or condition.strip() in (headers["etag"], headers["last-modified"])


async def _head(store: BlobStore, key: str) -> BlobMeta:
    try:
        return await store.head(key)
    except BlobNotFound as exc:
        raise NotFound(f"no blob {key!r}") from exc
    except InvalidKey as exc:  # a link planted in the store is not served
        raise NotFound(f"no blob {key!r}") from exc


def _unsatisfiable(size: int, headers: dict[str, str]) -> Response[Any]:
    return Response(
        {"detail": "range not satisfiable", "code": "RANGE_NOT_SATISFIABLE"},
        status_code=416,
        headers={
            "content-range": f"bytes */{size}",
            "accept-ranges": "bytes",
            "etag": headers["etag"],
        },
    )


async def serve_blob(
    request: Request[Any, Any, Any], store: BlobStore, key: str, dl: str | None = None
) -> Response[Any]:
    """Send a stored object as HTTP does files: ETag, 304, one Range (206, 416), a download
    name with `dl`. Any route that serves blobs it has authorised the caller for uses it."""
    meta = await _head(store, key)
    headers = _headers(meta, dl)
    if _not_modified(request, meta):
        return Response(None, status_code=304, headers=headers)
    try:
        window = parse_range(request.headers.get("range"), meta.size)
    except InvalidRange:
        if _range_applies(request, headers):
            return _unsatisfiable(meta.size, headers)
        window = None
    if window is not None and not _range_applies(request, headers):
        window = None
    # Without a range, read the whole of whatever is stored when the file is opened.
    offset, length = window if window is not None else (0, None)
    try:
        reader = await store.get(key, offset=offset, length=length)
    except BlobNotFound as exc:  # deleted between head and open
        raise NotFound(f"no blob {key!r}") from exc
    except InvalidRange:
        return _unsatisfiable(meta.size, headers)
    # Describe what is actually open: the object may have been replaced since head().
    headers = _headers(reader.meta, dl)
    headers["content-length"] = str(reader.length)
    status = 200
    if window is not None:
        status = 206
        end = reader.start + reader.length - 1
        headers["content-range"] = f"bytes {reader.start}-{end}/{reader.meta.size}"

    async def body() -> AsyncIterator[bytes]:
        async with reader:
            async for chunk in reader:
                yield chunk

    return Stream(body(), status_code=status, headers=headers)


@get(
    "/blobs/{key:path}",
    summary="Download a blob through a signed URL",
    security=_NO_AUTH,
    responses={
        200: _CONTENT,
        206: ResponseSpec(
            bytes, description="The range asked for", media_type="*/*", generate_examples=False
        ),
        304: _NOT_MODIFIED,
        **PLATFORM_ERRORS.responses(400, 403, 404, 416, 503),
    },
)
async def download_blob(
    request: Request[Any, Any, Any],
    key: FromPath[str],
    exp: FromQuery[str | None] = None,
    sig: FromQuery[str | None] = None,
    dl: FromQuery[str | None] = None,
) -> Response[Any]:
    store, key = await _checked(request, "GET", key, exp, sig, filename=dl or "")
    return await serve_blob(request, store, key, dl)


@head(
    "/blobs/{key:path}",
    summary="Blob metadata through a signed URL",
    security=_NO_AUTH,
    responses={304: _NOT_MODIFIED, **PLATFORM_ERRORS.responses(400, 403, 404, 503)},
)
async def head_blob(
    request: Request[Any, Any, Any],
    key: FromPath[str],
    exp: FromQuery[str | None] = None,
    sig: FromQuery[str | None] = None,
    dl: FromQuery[str | None] = None,
) -> Response[None]:
    store, key = await _checked(request, "HEAD", key, exp, sig, filename=dl or "")
    meta = await _head(store, key)
    headers = _headers(meta, dl)
    headers["content-length"] = str(meta.size)
    return Response(None, status_code=304 if _not_modified(request, meta) else 200, headers=headers)


@put(
    "/blobs/{key:path}",
    summary="Upload a blob through a signed URL",
    security=_NO_AUTH,
    status_code=201,
    responses=PLATFORM_ERRORS.responses(400, 403, 409, 413, 503),
    # The store enforces its own limit while streaming; the API's small body cap is for JSON.
    request_max_body_size=None,
)
async def upload_blob(
    request: Request[Any, Any, Any],
    key: FromPath[str],
    exp: FromQuery[str | None] = None,
    sig: FromQuery[str | None] = None,
    ct: FromQuery[str | None] = None,
) -> BlobMeta:
    store, key = await _checked(request, "PUT", key, exp, sig, ct or "")
    declared = request.headers.get("content-type")
    if ct and declared != ct:
        raise Forbidden(f"this upload URL requires Content-Type {ct!r}", code="BAD_SIGNATURE")
    # Most clients send octet-stream when they know nothing better; sniff those.
    content_type = None if declared in (None, "", "application/octet-stream") else declared
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > store.max_upload_bytes:
        raise ApiError(
            f"upload exceeds the limit of {store.max_upload_bytes} bytes",
            code="TOO_LARGE",
            status_code=413,
        )
    try:
        return await store.put(key, request.stream(), content_type=content_type)
    except BlobTooLarge as exc:
        raise ApiError(str(exc), code="TOO_LARGE", status_code=413) from exc
    except KeyConflict as exc:
        raise Conflict(str(exc), code="KEY_CONFLICT") from exc
    except InvalidKey as exc:
        raise BadRequest(str(exc), code="INVALID_KEY") from exc


blob_router = Router(
    path="/", route_handlers=[download_blob, head_blob, upload_blob], tags=["blobs"]
)
