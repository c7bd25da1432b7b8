"""Jobs as pure logic: states, the errors a handler may raise, retry policy, classification."""

from __future__ import annotations

import enum
from typing import Final


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL: Final = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
# The same as plain strings, for queries, constraints and request validation.
STATUSES: Final = tuple(s.value for s in JobStatus)
ACTIVE: Final = tuple(s.value for s in JobStatus if s not in TERMINAL)


class JobError(Exception):
    """Base of the errors a handler raises on purpose."""

    code: str = "JOB_ERROR"

    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class TransientError(JobError):
    """Worth retrying: the same input may succeed later (a flaky dependency, a busy service)."""

    code = "TRANSIENT"


class PermanentError(JobError):
    """Retrying cannot help (bad input, missing file): fail at once with this code."""

    code = "PERMANENT"


class JobCancelled(Exception):
    """Raised inside a handler (or its thread) when the job was cancelled."""


# Exceptions that mean "the world was briefly unavailable", not "the input is wrong".
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)


def classify(exc: BaseException) -> tuple[bool, str, str]:
    """(retry?, error code, detail) for an exception a handler raised."""
    if isinstance(exc, TransientError):
        return True, exc.code, exc.detail
    if isinstance(exc, JobError):
        return False, exc.code, exc.detail
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, _TRANSIENT_TYPES):
        return True, "TRANSIENT", detail
    # OSError covers network failures from libraries that do not subclass ConnectionError.
    if isinstance(exc, OSError) and exc.errno is None and not isinstance(exc, FileNotFoundError):
        return True, "TRANSIENT", detail
    if isinstance(exc, (ValueError, TypeError, KeyError, LookupError, FileNotFoundError)):
        return False, "INVALID_INPUT", detail
    return False, "INTERNAL", detail


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential backoff before retry number `attempt` (1 = first retry)."""
    return float(min(max_s, base_s * (2 ** max(0, attempt - 1))))
