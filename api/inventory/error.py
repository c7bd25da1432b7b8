"""The one place inventory failures become the contract's `{"error", "code"}` responses.

Installed on the /inventory router, so they also cover the platform's auth errors and
Litestar's own validation, size and routing errors raised under the prefix.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException

from api.errors import ApiError, validation_detail
from api.inventory.schema import Error
from domain.inventory.error import (
    DuplicateNameError,
    InvalidInputError,
    InventoryError,
    NotPermittedError,
    RecordNotFoundError,
)

log = logging.getLogger("switchyard.api.inventory")

_DOMAIN: dict[type[InventoryError], tuple[int, str]] = {
    InvalidInputError: (400, "BAD_REQUEST"),
    RecordNotFoundError: (404, "NOT_FOUND"),
    DuplicateNameError: (409, "CONFLICT"),
    NotPermittedError: (403, "FORBIDDEN"),
}
_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}


def _error(
    message: str, code: str, status: int, headers: dict[str, str] | None = None
) -> Response[Error]:
    return Response(Error(error=message, code=code), status_code=status, headers=headers)


def inventory_error(_: Request[Any, Any, Any], exc: InventoryError) -> Response[Error]:
    for cls in type(exc).__mro__:
        if cls in _DOMAIN:
            status, code = _DOMAIN[cls]
            return _error(str(exc), code, status)
    return _error(str(exc), "BAD_REQUEST", 400)


def api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Error]:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return _error(exc.detail, exc.code, exc.status_code, headers)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Error]:
    if isinstance(exc, ValidationException):
        return _error(validation_detail(exc), "BAD_REQUEST", 400)
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", "Bearer")
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    return _error(str(exc.detail), code, exc.status_code, headers)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Error]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error("internal server error", "INTERNAL_ERROR", 500)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    InventoryError: inventory_error,
    ApiError: api_error,
    HTTPException: http_error,
    Exception: internal_error,
}
