"""Multipart uploads streamed into the blob store: size-limited, typed by content, safely named.

A route declares its `UploadPolicy` once, with `upload_route` (which also lifts the app's small
request-body cap for that route), and calls `receive_uploads(request, store)`. The request
body is never buffered: `request.stream()` feeds defnull's push parser (`multipart`), and each
file part flows into `BlobStore.put` as it arrives. Every upload of a request is stored whole
or, if anything in the request fails, not at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mimetypes
import re
import unicodedata
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Any

import msgspec
from litestar import Request, post
from litestar.exceptions import HTTPException
from multipart import MultipartError, PushMultipartParser, parse_options_header

from api.error import BadRequest, TooLarge, UnsupportedMediaType
from infra.blob.error import BlobError, BlobTooLarge
from infra.blob.key import validate_key
from infra.blob.mediatype import FBX, base_type, sniff_content_type
from infra.blob.store import BlobStore

log = logging.getLogger("switchyard.api.upload")

MiB = 1024 * 1024
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/bmp", "image/tiff"})
MODEL_TYPES = frozenset({"model/obj", FBX, "model/gltf-binary", "model/gltf+json"})

# Enough of a file to recognise every format we sniff; OBJ files may open with long comments.
SNIFF_WINDOW = 8 * 1024
# Room for one part's boundary and headers; a client that needs more gets the body cap's 413.
PART_OVERHEAD = 4 * 1024
MAX_NAME_BYTES = 120  # a stored name segment: well inside the keys' 255-byte segment rule
# Extensions a stored name may keep for a type; the first is used when the client's is not one.
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/webp": (".webp",),
    "image/bmp": (".bmp",),
    "image/tiff": (".tif", ".tiff"),
    "model/obj": (".obj",),
    FBX: (".fbx",),
    "model/gltf-binary": (".glb", ".vrm"),
    "model/gltf+json": (".gltf",),
    "application/octet-stream": (".bin",),
    "text/plain": (".txt",),
}
_UNSAFE_CHARS = re.compile(r"[^\w.\-+()@,=~ ]")
_RESERVED_STEMS = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{p}{n}" for p in ("com", "lpt") for n in range(1, 10)]
)
_POLICY_OPT = "upload_policy"


class UploadPolicy(msgspec.Struct, frozen=True):
    """What one upload route accepts: where files go, how large, which sniffed types, how many."""

    prefix: str  # keys are `<prefix>/<uuid>/<name>`
    max_bytes: int  # per file
    accept: frozenset[str] | None = None  # base content types sniffed from the bytes; None: any
    file_fields: frozenset[str] | None = None  # form names that may carry files; None: any
    min_files: int = 1
    max_files: int = 1
    max_fields: int = 16  # plain (non-file) form fields
    # Plain fields a client may send several times (a `string[]` form field), in `lists`.
    list_fields: frozenset[str] = frozenset()
    max_fields_bytes: int = 64 * 1024  # all plain fields together

    def __post_init__(self) -> None:
        validate_key(self.prefix)
        if self.max_bytes < 0 or self.max_files < max(1, self.min_files) or self.min_files < 0:
            raise ValueError(
                "an upload policy needs max_bytes >= 0 and 0 <= min_files <= max_files"
            )

    @property
    def body_limit(self) -> int:
        """The largest request body this policy can accept (files, fields and multipart framing)."""
        parts = self.max_files + self.max_fields + 1  # + 1: the closing boundary
        return self.max_files * self.max_bytes + self.max_fields_bytes + parts * PART_OVERHEAD


class StoredUpload(msgspec.Struct, frozen=True):
    """One file of the request, now in the blob store."""

    field: str  # the form field it came in
    key: str  # the server-made blob key
    filename: str  # the client's name, sanitised, for display only
    content_type: str  # sniffed from the bytes
    size: int
    sha256: str


class UploadForm(msgspec.Struct, frozen=True):
    """A whole multipart request: its stored files in order and its plain form fields."""

    files: list[StoredUpload]
    fields: dict[str, str]
    # The values of the policy's `list_fields`, in the order they came.
    lists: dict[str, list[str]] = msgspec.field(default_factory=dict)


def upload_route(path: str | list[str], policy: UploadPolicy, **kwargs: Any) -> post:
    """A `@post` route that takes uploads under `policy`, with its body cap raised to match."""
    opt = {**dict(kwargs.pop("opt", None) or {}), _POLICY_OPT: policy}
    return post(path, request_max_body_size=policy.body_limit, opt=opt, **kwargs)


async def receive_uploads(
    request: Request[Any, Any, Any],
    store: BlobStore,
    policy: UploadPolicy | None = None,
    *,
    prefix: str | None = None,
) -> UploadForm:
    """Stream the request's multipart body into `store`: every file stored, or none.

    `policy` defaults to the one the route declared with `upload_route`; `prefix` overrides
    the policy's (for a per-user or per-session folder).
    """
    policy = policy or _route_policy(request)
    if prefix is not None:
        validate_key(prefix)
    boundary = _boundary(request.headers.get("content-type"))
    files: list[StoredUpload] = []
    fields: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    try:
        events = _events(PushMultipartParser(boundary), request.stream())
        async for segment in events:
            if segment is None or isinstance(segment, bytes):
                # Unreachable while each part's body is read to its end before the next one.
                raise RuntimeError("multipart events out of order")
            name = str(segment.name or "")
            if segment.filename is None:
                count = len(fields) + sum(len(v) for v in lists.values())
                if count >= policy.max_fields:
                    raise BadRequest(f"more than {policy.max_fields} form fields")
                used = sum(len(v.encode()) for v in fields.values()) + sum(
                    len(v.encode()) for values in lists.values() for v in values
                )
                if name in policy.list_fields:
                    value = await _read_field(name, _part(events), policy, used)
                    lists.setdefault(name, []).append(value)
                    continue
                if name in fields:
                    raise BadRequest(f"form field {name!r} given more than once")
                fields[name] = await _read_field(name, _part(events), policy, used)
                continue
            if policy.file_fields is not None and name not in policy.file_fields:
                raise BadRequest(
                    f"unexpected file field {name!r}; files go in {_names(policy.file_fields)}"
                )
            if len(files) >= policy.max_files:
                raise BadRequest(f"at most {policy.max_files} file(s) per request")
            stored = await _store_file(
                store, policy, prefix or policy.prefix, name, str(segment.filename), _part(events)
            )
            if stored is not None:
                files.append(stored)
        if len(files) < policy.min_files:
            wanted = _names(policy.file_fields) if policy.file_fields else "a file field"
            raise BadRequest(f"expected at least {policy.min_files} file(s) in {wanted}")
    except MultipartError as exc:
        await discard_uploads(store, files)
        raise BadRequest(f"malformed multipart body: {exc}") from exc
    except HTTPException as exc:
        # request.stream() enforces the route's body cap (set by upload_route) as a 413.
        await discard_uploads(store, files)
        if exc.status_code == 413:
            limit = request.route_handler.resolve_request_max_body_size()
            raise TooLarge(f"request body exceeds the limit of {limit} bytes") from exc
        raise
    except BaseException:
        await discard_uploads(store, files)
        raise
    return UploadForm(files=files, fields=fields, lists=lists)


async def discard_uploads(store: BlobStore, uploads: Iterable[StoredUpload]) -> None:
    """Delete stored uploads (a request that failed after storing some, or a caller's rollback)."""
    for upload in uploads:
        try:
            await store.delete(upload.key)
        except BlobError:
            # The caller's own error is the one to report; an orphan is only logged.
            log.exception("could not delete upload %s after a failed request", upload.key)


def safe_filename(name: str | None, default: str = "upload") -> str:
    """The client's file name as a plain display name: no directories, controls or odd bytes."""
    text = unicodedata.normalize("NFC", name or "")
    # Drop controls, NULs and format characters (bidi overrides spoof extensions on screen).
    text = "".join(c for c in text if c.isprintable())
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE_CHARS.sub("_", text)
    text = " ".join(text.split()).strip(". ")
    stem, dot, ext = text.rpartition(".")
    if not dot:
        stem, ext = text, ""
    if stem.lower() in _RESERVED_STEMS:
        stem = f"_{stem}"
    if not stem:
        return default
    ext = f".{ext}" if dot and ext else ""
    if len(ext.encode()) > 16:
        stem, ext = stem + ext, ""
    return _truncate(stem, MAX_NAME_BYTES - len(ext.encode())) + ext


def stored_name(filename: str, content_type: str) -> str:
    """The name a file is stored under: its safe stem, with an extension true to its bytes."""
    safe = safe_filename(filename)
    stem, dot, ext = safe.rpartition(".")
    if not dot:
        stem, ext = safe, ""
    media = base_type(content_type)
    allowed = _EXTENSIONS.get(media) or tuple(mimetypes.guess_all_extensions(media, strict=False))
    suffix = f".{ext.lower()}" if ext else ""
    if suffix not in allowed:
        suffix = allowed[0] if allowed else ""
    return _truncate(stem, MAX_NAME_BYTES - len(suffix.encode())) + suffix


# -- streaming ---------------------------------------------------------------------------------


async def _events(parser: Any, stream: AsyncGenerator[bytes, None]) -> AsyncIterator[Any]:
    """The parser's events (segment, bytes…, None per part) as the body arrives."""
    async with contextlib.aclosing(stream):
        async for chunk in stream:
            # An empty chunk is the end of the body: the parser raises if a part is cut short.
            for event in parser.parse(chunk):
                yield event
            if parser.closed:
                return
    parser.close()


async def _part(events: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """The current part's body, up to the parser's end-of-part event."""
    async for event in events:
        if event is None:
            return
        yield event


async def _read_field(
    name: str, body: AsyncIterator[bytes], policy: UploadPolicy, used: int
) -> str:
    data = bytearray()
    async for chunk in body:
        data += chunk
        if used + len(data) > policy.max_fields_bytes:
            raise TooLarge(f"form fields exceed {policy.max_fields_bytes} bytes (at {name!r})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"form field {name!r} is not UTF-8 text") from exc


async def _store_file(
    store: BlobStore,
    policy: UploadPolicy,
    prefix: str,
    field: str,
    filename: str,
    body: AsyncIterator[bytes],
) -> StoredUpload | None:
    head = b""
    async for chunk in body:
        head += chunk
        if len(head) >= SNIFF_WINDOW:
            break
    if not head and not filename:
        return None  # a browser's "no file chosen": an empty part with an empty name
    display = safe_filename(filename)
    content_type = base_type(sniff_content_type(head[:SNIFF_WINDOW]))
    if policy.accept is not None and content_type not in policy.accept:
        found = "an empty file" if not head else content_type
        raise UnsupportedMediaType(f"{display!r} is {found}; accepted: {_names(policy.accept)}")
    digest = hashlib.sha256()

    async def chunks() -> AsyncIterator[bytes]:
        digest.update(head)
        yield head
        async for chunk in body:
            digest.update(chunk)
            yield chunk

    key = f"{prefix}/{uuid.uuid4().hex}/{stored_name(filename, content_type)}"
    try:
        meta = await store.put(key, chunks(), content_type=content_type, max_bytes=policy.max_bytes)
    except BlobTooLarge as exc:
        raise TooLarge(f"{display!r} exceeds the limit of {policy.max_bytes} bytes") from exc
    return StoredUpload(
        field=field,
        key=meta.key,
        filename=display,
        content_type=content_type,
        size=meta.size,
        sha256=digest.hexdigest(),
    )


# -- helpers -----------------------------------------------------------------------------------


def _route_policy(request: Request[Any, Any, Any]) -> UploadPolicy:
    policy = request.route_handler.opt.get(_POLICY_OPT)
    if not isinstance(policy, UploadPolicy):
        raise TypeError("receive_uploads() needs a policy, or a route made with upload_route()")
    return policy


def _boundary(content_type: str | None) -> str:
    media, options = parse_options_header(content_type or "")
    if media != "multipart/form-data":
        raise UnsupportedMediaType(
            f"expected a multipart/form-data body, got {media or 'no Content-Type'}"
        )
    boundary = options.get("boundary")
    if not boundary:
        raise BadRequest("multipart/form-data body without a boundary")
    return str(boundary)


def _names(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def _truncate(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` of UTF-8 without splitting a character."""
    return text.encode()[: max(0, max_bytes)].decode("utf-8", "ignore")
