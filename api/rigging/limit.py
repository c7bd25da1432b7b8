"""The contract's per-session rate limits: 1000 API requests and 10 uploads per hour.

The kit's `RateLimit` counts (in Redis, across API processes); this subclass speaks the
contract: `X-RateLimit-Reset` is the Unix time the window ends (the contract's example is a
timestamp), and a refusal is its 429 with `retry_after`. A request counts against its
session (the cookie, or the session its path names), else against its client address.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from litestar import Request

from api.error import ApiError
from api.limit import RateLimit, count, per_client
from api.rigging.session import cookie_session, well_formed


class RateLimitExceeded(ApiError):
    status_code, code = 429, "RATE_LIMIT_EXCEEDED"


def session_bucket(session_id: str) -> str:
    # The id is a secret: Redis keys carry a digest of it.
    return f"session:{hashlib.sha256(session_id.encode()).hexdigest()[:32]}"


def request_bucket(request: Request[Any, Any, Any]) -> str | None:
    session_id = cookie_session(request) or request.path_params.get("session_id")
    return (
        session_bucket(session_id)
        if isinstance(session_id, str) and well_formed(session_id)
        else None
    )


class ContractLimit(RateLimit):
    """At most `limit` requests per hour per session, in the contract's headers and body."""

    def __init__(self, limit: int, *, name: str, message: str) -> None:
        super().__init__(limit, per="hour", key=request_bucket, name=name)
        # Formatted with `limit` and `minutes` (until the window ends).
        self.message = message

    async def hit(self, request: Request[Any, Any, Any]) -> dict[str, str] | None:
        bucket = request_bucket(request) or per_client(request)
        return await self.count(request, str(bucket))

    async def count(
        self, request: Request[Any, Any, Any], bucket: str, limit: int | None = None
    ) -> dict[str, str] | None:
        """Count one hit on `bucket`: the headers, or None when Redis could not be asked
        (the kit's rule: fail open). Over the limit raises the contract's 429."""
        limit = limit or self.limit
        counted = await count(request, f"{self.name}:{bucket}", self.period_s)
        if counted is None:
            return None
        hits, reset_s = counted
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - hits)),
            "X-RateLimit-Reset": str(math.ceil(time.time()) + reset_s),
        }
        if hits > limit:
            minutes = max(1, math.ceil(reset_s / 60))
            raise RateLimitExceeded(
                self.message.format(limit=limit, minutes=minutes),
                headers={**headers, "Retry-After": str(reset_s)},
            )
        return headers


API_LIMIT = ContractLimit(
    1000, name="rigging-api", message="Rate limit exceeded. Try again in {minutes} minutes."
)
UPLOAD_LIMIT = ContractLimit(
    10, name="rigging-upload", message="Rate limit exceeded. Maximum {limit} uploads per hour."
)
