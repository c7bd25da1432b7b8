"""The studio contract's error shape `{"detail"}`, its 401 texts and its domain errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from api.error import ErrorShape, Unauthorized
from api.studio.schema import Detail
from domain.studio.error import InvalidRequest, StudioError
from infra.fetch import FetchRefused

ERRORS = ErrorShape(
    body=lambda detail, _code: Detail(detail=detail),
    internal_detail="Internal server error",
    schema=Detail,
)

DOMAIN_ERRORS: Mapping[type[Exception], tuple[int, str]] = {
    InvalidRequest: (400, "BAD_REQUEST"),
    StudioError: (400, "BAD_REQUEST"),
    FetchRefused: (400, "URL_REFUSED"),
}

# A step's failed job → the status its route answers (anything else: 500).
JOB_ERRORS: Mapping[str, int] = {
    "WRONG_STATE": 409,
    "INVALID_INPUT": 400,
    "INVALID_PAYLOAD": 400,
    "URL_REFUSED": 400,
    "NOT_FOUND": 404,
    "GENERATION_FAILED": 502,
    "PROVIDER_UNAVAILABLE": 503,
}

NOT_AUTHENTICATED: Final = "Not authenticated"
BAD_CREDENTIALS: Final = "Could not validate credentials"
BAD_LOGIN: Final = "Incorrect email or password"


def unauthorized(detail: str = BAD_CREDENTIALS) -> Unauthorized:
    return Unauthorized(detail, headers={"WWW-Authenticate": "Bearer"})
