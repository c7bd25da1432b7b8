"""Application errors and the one place they become HTTP responses.

Every service answers errors in its contract's shape: an `ErrorShape` says how a body looks
and which code a framework error (validation, 404, 405, 413, ...) carries; `shape.handlers()`
turns that plus the service's table of domain exceptions into Litestar exception handlers.
The platform's own routes use `PLATFORM_ERRORS`: `{"detail": ..., "code": ...}`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from infra.blob.error import (
    BackendUnavailable,
    BlobNotFound,
    BlobTooLarge,
    InvalidKey,
    InvalidRange,
    InvalidSignature,
    KeyConflict,
)

log = logging.getLogger("switchyard.api")


class ApiError(Exception):
    """An expected failure with its HTTP status, a stable code, a human detail and headers."""

    status_code = 400
    code = "BAD_REQUEST"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
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


class TooLarge(ApiError):
    status_code, code = 413, "TOO_LARGE"


class UnsupportedMediaType(ApiError):
    status_code, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class RateLimited(ApiError):
    status_code, code = 429, "RATE_LIMITED"


class Unavailable(ApiError):
    status_code, code = 503, "UNAVAILABLE"


class GatewayTimeout(ApiError):
    status_code, code = 504, "TIMEOUT"


def validation_detail(exc: ValidationException) -> str:
    """Litestar's msgspec message names the field (`... - at \\`$.payload.seconds\\``)."""
    extra: Any = exc.extra
    if isinstance(extra, list) and extra:
        first = extra[0]
        if isinstance(first, dict):
            msg = str(first.get("message", ""))
            key = first.get("key")
            # `data` is the handler's name for the whole body; an empty body leaves it out and
            # Litestar's message is then only the missing argument's quoted name.
            if key == "data":
                missing = msg == repr(key)
                return f"request body: {'expected JSON, got an empty body' if missing else msg}"
            if key and key not in msg:
                msg = f"{msg} ({key})" if msg else str(key)
            return msg or str(exc.detail)
    return str(exc.detail)


# Blob-store failures reaching a route (any service that keeps files) in HTTP terms.
BLOB_ERRORS: Mapping[type[Exception], tuple[int, str]] = {
    BlobNotFound: (404, "NOT_FOUND"),
    InvalidKey: (400, "INVALID_KEY"),
    KeyConflict: (409, "CONFLICT"),
    BlobTooLarge: (413, "TOO_LARGE"),
    InvalidSignature: (403, "BAD_SIGNATURE"),
    InvalidRange: (416, "RANGE_NOT_SATISFIABLE"),
    BackendUnavailable: (503, "UNAVAILABLE"),
}

Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]


@dataclass(frozen=True)
class ErrorShape:
    """How one contract writes an error: its body and the codes of framework errors."""

    body: Callable[[str, str], Any]
    # HTTP status → code, for errors the framework raises (validation, routing, size, ...);
    # none for a contract whose body carries no code (`{"detail"}`).
    codes: Mapping[int, str] = field(default_factory=dict)
    internal_detail: str = "internal error"
    # The body's Struct, for the OpenAPI document.
    schema: type[Any] | None = None

    def code_for(self, status: int) -> str:
        return self.codes.get(status, "HTTP_ERROR")

    def responses(self, *statuses: int) -> dict[int, ResponseSpec]:
        """OpenAPI responses for the error statuses a route answers, in this shape, and the 500
        any route may answer (a route's own `responses` win over Litestar's generic 400)."""
        return {
            status: ResponseSpec(
                data_container=self.schema,
                description=HTTPStatus(status).phrase,
                generate_examples=False,
            )
            for status in sorted({*statuses, 500})
        }

    def response(
        self, detail: str, code: str, status: int, headers: Mapping[str, str] | None = None
    ) -> Response[Any]:
        headers = dict(headers or {})
        if status == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return Response(self.body(detail, code), status_code=status, headers=headers)

    def handlers(
        self, domain: Mapping[type[Exception], tuple[int, str]] | None = None
    ) -> dict[Any, Handler]:
        """Exception handlers for a router: domain errors through `domain` (and the blob
        store's table), ApiError and Litestar's errors in this shape, anything else a 500."""
        table = {**BLOB_ERRORS, **(domain or {})}

        def domain_error(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
            for cls in type(exc).__mro__:
                if cls in table:
                    status, code = table[cls]
                    return self.response(str(exc), code, status)
            return self.response(str(exc), self.code_for(400), 400)

        def api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
            return self.response(exc.detail, exc.code, exc.status_code, exc.headers)

        def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
            if isinstance(exc, ValidationException):
                return self.response(validation_detail(exc), self.code_for(400), 400)
            headers = dict(exc.headers or {})
            if isinstance(exc, NotAuthorizedException):
                headers.setdefault("WWW-Authenticate", "Bearer")
            return self.response(
                str(exc.detail), self.code_for(exc.status_code), exc.status_code, headers
            )

        def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
            log.exception(
                "unhandled error on %s %s", request.method, request.url.path, exc_info=exc
            )
            return self.response(self.internal_detail, self.code_for(500), 500)

        handlers: dict[Any, Handler] = {cls: domain_error for cls in table}
        handlers.update({ApiError: api_error, HTTPException: http_error, Exception: internal_error})
        return handlers


class PlatformError(msgspec.Struct):
    """The platform's error body, as `PLATFORM_ERRORS.body` writes it."""

    detail: str
    code: str


PLATFORM_ERRORS = ErrorShape(
    body=lambda detail, code: {"detail": detail, "code": code},
    codes={
        400: "INVALID_REQUEST",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        413: "TOO_LARGE",
        415: "UNSUPPORTED_MEDIA_TYPE",
        429: "RATE_LIMITED",
        500: "INTERNAL",
        504: "TIMEOUT",
    },
    schema=PlatformError,
)

EXCEPTION_HANDLERS = PLATFORM_ERRORS.handlers()
