"""Reading the inspection contract's forms: uploads streamed into the blob store (or, for
/infer, one crop in memory), URL-encoded forms without files, and the original's field rules
(booleans as true/false/1/0/yes/no/on/off, numbers, shape JSON)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.datastructures import UploadFile

from api.error import BadRequest, TooLarge, UnsupportedMediaType
from api.state import from_request
from api.upload import IMAGE_TYPES, SNIFF_WINDOW, UploadForm, UploadPolicy, receive_uploads
from domain.inspection.error import InvalidShapeError
from domain.inspection.recipe import upload_prefix
from domain.inspection.shape import Shape, parse_shape
from infra.blob.mediatype import base_type, sniff_content_type
from workers.catalog.inspection import INVALID_SHAPE

# The most any one image may be; `SWITCHYARD_INSPECTION_MAX_IMAGE_BYTES` sets the limit below.
HARD_MAX_IMAGE_BYTES = 256 * 1024 * 1024
HARD_MAX_IMAGES = 10_000
TRUE_ = frozenset({"true", "1", "yes", "on"})
FALSE_ = frozenset({"false", "0", "no", "off"})

FIT_UPLOADS = UploadPolicy(
    prefix=upload_prefix(),
    max_bytes=HARD_MAX_IMAGE_BYTES,
    accept=IMAGE_TYPES,
    file_fields=frozenset({"images"}),
    min_files=0,
    max_files=HARD_MAX_IMAGES,
)
DATASET_UPLOADS = msgspec.structs.replace(
    FIT_UPLOADS,
    min_files=1,
    list_fields=frozenset({"metas"}),
    max_fields=HARD_MAX_IMAGES + 16,
    max_fields_bytes=16 * 1024 * 1024,
)
# /infer reads its one crop into memory (it waits in Redis for its job, see `infer`).
INFER_UPLOAD = msgspec.structs.replace(
    FIT_UPLOADS,
    max_bytes=64 * 1024 * 1024,
    file_fields=frozenset({"image"}),
    min_files=1,
    max_files=1,
)


def limits(request: Request[Any, Any, Any], policy: UploadPolicy) -> UploadPolicy:
    settings = from_request(request).settings.inspection
    return msgspec.structs.replace(
        policy,
        max_bytes=min(settings.max_image_bytes, policy.max_bytes),
        max_files=min(settings.max_images, policy.max_files),
    )


def field(form: UploadForm, name: str, *, required: bool = True) -> str | None:
    value = form.fields.get(name)
    if (value is None or not value.strip()) and required:
        raise BadRequest(f"{name} is required")
    return value


def flag(form: UploadForm, name: str, default: bool | None) -> bool | None:
    value = form.fields.get(name)
    if value is None or not value.strip():
        return default
    text = value.strip().lower()
    if text in TRUE_:
        return True
    if text in FALSE_:
        return False
    raise BadRequest(f"{name} must be a boolean (true/false, 1/0, yes/no, on/off), got {value!r}")


def number(value: str | None, name: str) -> float:
    try:
        return float(value or "")
    except ValueError as exc:
        raise BadRequest(f"{name} must be a number, got {value!r}") from exc


def shape(raw: str | None) -> Shape | None:
    if raw is None or not raw.strip():
        return None
    try:
        return parse_shape(raw)
    except InvalidShapeError as exc:
        text = str(exc)
        raise BadRequest(
            text if text.startswith("invalid shape") else f"invalid shape: {text}",
            code=INVALID_SHAPE,
        ) from exc


async def uploads(request: Request[Any, Any, Any], policy: UploadPolicy) -> UploadForm:
    """The request's form: multipart with its files streamed into the blob store, or (for a
    form without files, which clients send URL-encoded) its fields alone."""
    res = from_request(request)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return await receive_uploads(request, await res.blobs(), limits(request, policy))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > policy.max_fields_bytes:
            raise TooLarge(f"form fields exceed {policy.max_fields_bytes} bytes")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"malformed form body: {exc}") from exc
    fields: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for name, value in pairs:
        if name in policy.list_fields:
            lists.setdefault(name, []).append(value)
        elif name in fields:
            raise BadRequest(f"form field {name!r} given more than once")
        else:
            fields[name] = value
    if policy.min_files:
        wanted = ", ".join(sorted(policy.file_fields or ())) or "a file field"
        raise BadRequest(f"expected at least {policy.min_files} file(s) in {wanted}")
    return UploadForm(files=[], fields=fields, lists=lists)


async def crop_form(request: Request[Any, Any, Any]) -> tuple[UploadForm, bytes]:
    """/infer's form fields and its one image, in memory, checked by its bytes."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        raise BadRequest("expected at least 1 file(s) in image")  # a form without a file
    if media != "multipart/form-data":
        raise UnsupportedMediaType(
            f"expected a multipart/form-data body, got {media or 'no Content-Type'}"
        )
    form = await request.form()
    fields: dict[str, str] = {}
    image: bytes | None = None
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name != "image":
                raise BadRequest(f"unexpected file field {name!r}; the crop goes in image")
            if image is not None:
                raise BadRequest("at most 1 file(s) per request")
            image = await value.read()
        elif name in fields:
            raise BadRequest(f"form field {name!r} given more than once")
        else:
            fields[name] = str(value)
    if not image:
        raise BadRequest("expected at least 1 file(s) in image")
    limit = min(from_request(request).settings.inspection.max_image_bytes, INFER_UPLOAD.max_bytes)
    if len(image) > limit:
        raise TooLarge(f"image exceeds the limit of {limit} bytes")
    found = base_type(sniff_content_type(image[:SNIFF_WINDOW]))
    if found not in IMAGE_TYPES:
        raise UnsupportedMediaType(f"image is {found}; accepted: {', '.join(sorted(IMAGE_TYPES))}")
    return UploadForm(files=[], fields=fields), image
