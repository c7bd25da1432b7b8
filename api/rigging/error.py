"""The rigging contract's error shape `{detail, error_code, timestamp}` and its codes.

Errors the kit raises in its own words (a 429 from a rate limit, a 413 from an upload) come
out with the contract's codes, and a 429 also carries `retry_after` in its body, as the
contract's example shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Response

from api.error import ErrorShape
from domain.rigging.error import RiggingError


class RiggingErrorBody(msgspec.Struct, omit_defaults=True):
    """The contract's error body; `retry_after` (seconds) only on a 429."""

    detail: str
    error_code: str
    timestamp: datetime
    retry_after: int | None = None


def _body(detail: str, code: str) -> RiggingErrorBody:
    return RiggingErrorBody(
        detail=detail, error_code=code, timestamp=datetime.now(UTC).replace(microsecond=0)
    )


# The kit's codes for what the contract names otherwise.
_CONTRACT_CODES = {
    "BAD_REQUEST": "INVALID_REQUEST",
    "RATE_LIMITED": "RATE_LIMIT_EXCEEDED",
    "TOO_LARGE": "FILE_TOO_LARGE",
}


@dataclass(frozen=True)
class ContractErrors(ErrorShape):
    """ErrorShape with the contract's codes for the kit's, and `retry_after` on a 429."""

    def response(
        self, detail: str, code: str, status: int, headers: Mapping[str, str] | None = None
    ) -> Response[Any]:
        code = _CONTRACT_CODES.get(code, code)
        if status != 429:
            return super().response(detail, code, status, headers)
        headers = dict(headers or {})
        body = _body(detail, code)
        body.retry_after = int(headers.setdefault("Retry-After", "60"))
        return Response(body, status_code=429, headers=headers)


ERRORS = ContractErrors(
    body=_body,
    codes={
        400: "INVALID_REQUEST",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        409: "CONFLICT",
        413: "FILE_TOO_LARGE",
        415: "INVALID_FILE_FORMAT",
        416: "RANGE_NOT_SATISFIABLE",
        429: "RATE_LIMIT_EXCEEDED",
        500: "INTERNAL_ERROR",
        503: "SERVICE_UNAVAILABLE",
    },
    internal_detail="Internal server error",
    schema=RiggingErrorBody,
)

# Engine errors reaching a route (they normally end a job instead).
DOMAIN_ERRORS: Mapping[type[Exception], tuple[int, str]] = {
    RiggingError: (400, "PROCESSING_FAILED"),
}
