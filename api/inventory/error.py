"""The inventory contract's error shape `{"error", "code"}` and its table of domain errors.

The router's handlers built from these also cover the platform's auth errors and Litestar's
own validation, size and routing errors raised under the prefix.
"""

from __future__ import annotations

from collections.abc import Mapping

from api.error import ErrorShape
from api.inventory.schema import Error
from domain.inventory.error import (
    DuplicateNameError,
    InventoryError,
    NotPermittedError,
    RecordNotFoundError,
)

ERRORS = ErrorShape(
    body=lambda message, code: Error(error=message, code=code),
    codes={
        400: "BAD_REQUEST",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        413: "PAYLOAD_TOO_LARGE",
        415: "UNSUPPORTED_MEDIA_TYPE",
        429: "RATE_LIMITED",
        500: "INTERNAL_ERROR",
    },
    internal_detail="internal server error",
    schema=Error,
)

DOMAIN_ERRORS: Mapping[type[Exception], tuple[int, str]] = {
    InventoryError: (400, "BAD_REQUEST"),
    RecordNotFoundError: (404, "NOT_FOUND"),
    DuplicateNameError: (409, "CONFLICT"),
    NotPermittedError: (403, "FORBIDDEN"),
}
