"""The robodata contract's error shape `{"detail": "..."}` and its table of engine errors."""

from __future__ import annotations

from collections.abc import Mapping

from api.error import ErrorShape
from api.robodata.schema import RobodataDetail
from domain.robodata.error import (
    CameraNotFoundError,
    EpisodeNotFoundError,
    InvalidDatasetIdError,
    InvalidNameError,
    MediaError,
    NotADatasetError,
    PathNotFoundError,
    RobodataError,
    UnsafePathError,
)

ERRORS = ErrorShape(
    body=lambda detail, _code: RobodataDetail(detail=detail),
    internal_detail="Internal server error",
    schema=RobodataDetail,
)

DOMAIN_ERRORS: Mapping[type[Exception], tuple[int, str]] = {
    RobodataError: (400, "BAD_REQUEST"),
    InvalidNameError: (400, "INVALID_NAME"),
    InvalidDatasetIdError: (400, "INVALID_DATASET_ID"),
    NotADatasetError: (400, "NOT_A_DATASET"),
    UnsafePathError: (403, "PATH_OUTSIDE_ROOTS"),
    PathNotFoundError: (404, "NOT_FOUND"),
    CameraNotFoundError: (404, "NOT_FOUND"),
    EpisodeNotFoundError: (404, "NOT_FOUND"),
    MediaError: (422, "MEDIA_ERROR"),
}

# A media job's failure → the status its waiting request answers.
JOB_ERRORS: Mapping[str, int] = {
    "MEDIA_ERROR": 422,
    "ITEM_NOT_FOUND": 404,
    "DATASET_NOT_FOUND": 404,
    # The files could not be changed as asked (a target that exists, a name that is not
    # conventional): nothing changed.
    "LOCAL_EDIT_FAILED": 409,
    "NOT_A_DATASET": 400,
    "UNSAFE_ARCHIVE": 400,
    "INVALID_ARCHIVE": 400,
    # A viewer cannot start: its ports are taken, or rerun is not installed.
    "VIEWER_ERROR": 409,
}
