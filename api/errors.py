"""Application errors and the one place they become HTTP responses.

Platform routes answer `{"detail": ..., "code": ...}`; a service router whose contract has
another shape installs its own handlers for the same exceptions (see api/inventory).
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException

from infra.blob.error import (
    BackendUnavailable,
    BlobError,
    BlobNotFound,
    BlobTooLarge,
    InvalidKey,
    InvalidRange,
    InvalidSignature,
    KeyConflict,
)

log = logging.getLogger("switchyard.api")


class ApiError(Exception):
    """An expected failure with its HTTP status, a stable code and a human detail."""

    status_code = 400
    code = "BAD_REQUEST"

    def __init__(self, detail: str, *, code: str | None = None, status_code: int | None = None):
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code


class BadRequest(ApiError):
    status_code, code = 400, "BAD_REQUEST"


class Unauthorized(ApiError):
    status_code, code = 401, "UNAUTHORIZED"


class Forbidden(ApiError):
    status_code, code = 403, "FORBIDDEN"


class NotFound(ApiError):
    status_code, code = 404, "NOT_FOUND"


class Conflict(ApiError):
    status_code, code = 409, "CONFLICT"


class Unavailable(ApiError):
    status_code, code = 503, "UNAVAILABLE"


def validation_detail(exc: ValidationException) -> str:
    """Litestar's msgspec message names the field (`... - at \\`$.payload.seconds\\``)."""
    extra: Any = exc.extra
    if isinstance(extra, list) and extra:
        first = extra[0]
        if isinstance(first, dict):
            msg = str(first.get("message", ""))
            key = first.get("key")
            if key and key not in msg:
                msg = f"{msg} ({key})" if msg else str(key)
            return msg or str(exc.detail)
    return str(exc.detail)


def _body(detail: str, code: str) -> dict[str, str]:
    return {"detail": detail, "code": code}


def api_error_handler(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return Response(_body(exc.detail, exc.code), status_code=exc.status_code, headers=headers)


def http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        return Response(_body(validation_detail(exc), "INVALID_REQUEST"), status_code=400)
    code = {
        400: "INVALID_REQUEST",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        413: "TOO_LARGE",
        429: "RATE_LIMITED",
    }.get(exc.status_code, "HTTP_ERROR")
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", "Bearer")
    return Response(_body(str(exc.detail), code), status_code=exc.status_code, headers=headers)


# Blob-store failures reaching a route (any service that keeps files) in HTTP terms.
_BLOB_STATUS: tuple[tuple[type[BlobError], int, str], ...] = (
    (BlobNotFound, 404, "NOT_FOUND"),
    (InvalidKey, 400, "INVALID_KEY"),
    (KeyConflict, 409, "CONFLICT"),
    (BlobTooLarge, 413, "TOO_LARGE"),
    (InvalidSignature, 403, "BAD_SIGNATURE"),
    (InvalidRange, 416, "RANGE_NOT_SATISFIABLE"),
    (BackendUnavailable, 503, "UNAVAILABLE"),
)


def blob_error_status(exc: BlobError) -> tuple[int, str]:
    for cls, status, code in _BLOB_STATUS:
        if isinstance(exc, cls):
            return status, code
    return 500, "INTERNAL"


def blob_error_handler(_: Request[Any, Any, Any], exc: BlobError) -> Response[Any]:
    status, code = blob_error_status(exc)
    return Response(_body(str(exc), code), status_code=status)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(_body("internal error", "INTERNAL"), status_code=500)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: api_error_handler,
    BlobError: blob_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
