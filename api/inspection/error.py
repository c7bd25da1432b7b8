"""The inspection contract's error bodies and its table of errors.

The original answers a bad recipe id and an mm_per_px lock mismatch as
`{"detail": {"error", "request_id", "recipe_id"}}` and every other failure as
`{"error", "request_id", "recipe_id"}`; both carry a stable `code` as well. The request id
comes from the platform's request context, the recipe id from `RECIPE`, which a route sets as
soon as it knows it (so an error raised later still names it).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping

import msgspec

import infra.log
from api.error import ErrorShape
from domain.inspection import error as engine
from domain.inspection.recipe import InvalidNameError, LockMismatchError, RecipeError
from workers.catalog import inspection as codes

RECIPE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "inspection_recipe", default=None
)

INVALID_RECIPE = "INVALID_RECIPE"
MM_PER_PX_MISMATCH = "MM_PER_PX_MISMATCH"
# Codes the original wraps in `detail`.
_WRAPPED = frozenset({INVALID_RECIPE, MM_PER_PX_MISMATCH})


class ErrorDetail(msgspec.Struct):
    error: str
    request_id: str | None
    recipe_id: str | None


class InspectionError(msgspec.Struct, omit_defaults=True):
    """`error` for most failures, `detail` for recipe and lock errors (as the original)."""

    code: str
    request_id: str | None
    recipe_id: str | None
    error: str | None = None
    detail: ErrorDetail | None = None


def _body(message: str, code: str) -> InspectionError:
    request_id = infra.log.request_id.get()
    recipe_id = RECIPE.get()
    if code in _WRAPPED:
        return InspectionError(
            code=code,
            request_id=request_id,
            recipe_id=recipe_id,
            detail=ErrorDetail(message, request_id, recipe_id),
        )
    return InspectionError(code=code, error=message, request_id=request_id, recipe_id=recipe_id)


ERRORS = ErrorShape(
    body=_body,
    codes={
        400: "BAD_REQUEST",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        409: "CONFLICT",
        413: "TOO_LARGE",
        415: "UNSUPPORTED_MEDIA_TYPE",
        429: "RATE_LIMITED",
        500: "INTERNAL_ERROR",
        503: "UNAVAILABLE",
        504: "TIMEOUT",
    },
    internal_detail="internal server error",
    schema=InspectionError,
)

DOMAIN_ERRORS: Mapping[type[Exception], tuple[int, str]] = {
    RecipeError: (400, INVALID_RECIPE),
    LockMismatchError: (409, MM_PER_PX_MISMATCH),
    InvalidNameError: (400, "BAD_REQUEST"),
    engine.InvalidShapeError: (400, codes.INVALID_SHAPE),
    engine.InvalidScoresError: (400, codes.INVALID_PARAMETER),
    engine.InspectionError: (400, "BAD_REQUEST"),
}

# A failed job's code → the status the waiting route answers (anything else: 500).
JOB_ERRORS: Mapping[str, int] = {
    codes.INVALID_IMAGE: 400,
    codes.TOKEN_GRID_MISMATCH: 400,
    codes.INVALID_SHAPE: 400,
    codes.NO_IMAGES: 400,
    codes.INSUFFICIENT_SAMPLES: 400,
    codes.NO_SAMPLES: 400,
    codes.INVALID_PARAMETER: 400,
    codes.MEMORY_REPLACED: 409,
    "INVALID_PAYLOAD": 400,
}
