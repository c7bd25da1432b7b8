"""Rate limits a route declares, counted in Redis so they hold across every API process.

    @get("/export", middleware=[RateLimit.parse("10 per hour per session")])

Fixed windows: a key's window opens with its first request and lasts `period_s`; within it at
most `limit` requests pass. One Lua script increments the counter and reads its expiry in a
single round trip, so parallel requests on any number of processes never over-admit.

Every response of a limited route carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset` (whole seconds until the window ends, as the IETF RateLimit draft does).
Over the limit the route answers `RateLimited` (429) with those and `Retry-After`.

When Redis cannot be reached the limit fails open: the request passes without the headers and
a warning is logged (at most every few seconds), because turning every request into a 5xx
during a Redis outage hurts more than a short unlimited spell.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from api.access import client_address
from api.error import RateLimited
from api.principal import current_principal
from api.state import from_request

log = logging.getLogger("switchyard.api.limit")

# Which bucket a request counts against; None means "this caller's address".
KeyFunc = Callable[[Request[Any, Any, Any]], str | Awaitable[str | None] | None]

PERIODS: Final = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

# PEXPIRE only on the first hit: later hits must not push the window's end out. A key left
# without an expiry (PTTL -1) would block forever, so it gets one as well.
_SCRIPT: Final = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""
_SHA: Final = hashlib.sha1(_SCRIPT.encode()).hexdigest()
_SPEC = re.compile(
    r"\s*(\d+)\s+per\s+(?:(\d+)\s+)?(second|minute|hour|day)s?(?:\s+per\s+(\w+))?\s*",
    re.IGNORECASE,
)
_WARN_EVERY_S: Final = 10.0
_last_warning = 0.0


def per_client(request: Request[Any, Any, Any]) -> str | None:
    """Count per client address, as `api.access.client_address` finds it."""
    return f"client:{client_address(request) or 'unknown'}"


async def per_user(request: Request[Any, Any, Any]) -> str | None:
    """Count per logged-in user; a request without a valid bearer token is a 401."""
    return f"user:{(await current_principal(request)).id}"


def per_session(param: str = "session") -> KeyFunc:
    """Count per value of the path or query parameter `param`; without one, per address."""

    def key(request: Request[Any, Any, Any]) -> str | None:
        value = request.path_params.get(param) or request.query_params.get(param)
        return f"{param}:{value}" if value else None

    return key


KEYS: Final[dict[str, KeyFunc]] = {
    "session": per_session(),
    "user": per_user,
    "client": per_client,
    "address": per_client,
    "ip": per_client,
}


class RateLimit(ASGIMiddleware):
    """At most `limit` requests per `per` (a unit name or seconds) for each key."""

    scopes = (ScopeType.HTTP,)

    def __init__(
        self,
        limit: int,
        *,
        per: str | float = "minute",
        key: KeyFunc = per_client,
        name: str | None = None,
        timeout_s: float = 1.0,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        period = PERIODS.get(per.lower().rstrip("s")) if isinstance(per, str) else per
        if period is None or period <= 0:
            raise ValueError(f"unknown period {per!r}; use {', '.join(PERIODS)} or seconds")
        self.limit = limit
        self.period_s = float(period)
        self.key = key
        # Without a name each route counts on its own (method + path template); routes that
        # share a name share their counters.
        self.name = name
        # A Redis that hangs must not hang the route: past this the request fails open.
        self.timeout_s = timeout_s

    @classmethod
    def parse(cls, spec: str, *, name: str | None = None) -> RateLimit:
        """`"10 per hour"`, `"5 per 30 seconds per user"`: keys session, user or client."""
        match = _SPEC.fullmatch(spec)
        if match is None:
            raise ValueError(f"rate limit {spec!r} is not '<n> per [<k>] <unit> [per <key>]'")
        count, multiple, unit, key_name = match.groups()
        key = KEYS.get((key_name or "client").lower())
        if key is None:
            raise ValueError(f"unknown rate-limit key {key_name!r}; use {', '.join(KEYS)}")
        period = PERIODS[unit.lower()] * int(multiple or 1)
        return cls(int(count), per=period, key=key, name=name)

    def __repr__(self) -> str:
        return f"RateLimit({self.limit} per {self.period_s:g}s, name={self.name!r})"

    async def hit(self, request: Request[Any, Any, Any]) -> dict[str, str] | None:
        """Count this request; the rate headers, or None when Redis could not be asked.

        Raises RateLimited (with the headers and Retry-After) when over the limit.
        """
        bucket = self.key(request)
        if inspect.isawaitable(bucket):
            bucket = await bucket
        scope_name = self.name or f"{request.method}:{request.scope.get('path_template', '')}"
        counted = await count(
            request,
            f"{scope_name}:{bucket or per_client(request)}",
            self.period_s,
            timeout_s=self.timeout_s,
        )
        if counted is None:
            return None
        hits, reset_s = counted
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - hits)),
            "X-RateLimit-Reset": str(reset_s),
        }
        if hits > self.limit:
            raise RateLimited(
                f"rate limit of {self.limit} per {self.period_s:g} s exceeded; "
                f"retry in {reset_s} s",
                headers={**headers, "Retry-After": str(reset_s)},
            )
        return headers

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = await self.hit(Request(scope, receive))
        if headers is None:
            await next_app(scope, receive, send)
            return

        # Litestar places an exception handler between route middleware and the handler, so
        # the route's error responses come through this `send` too and get the headers
        # (test_error_responses_of_a_limited_route_carry_the_headers notices if that changes).
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableScopeHeaders.from_message(message)
                for name, value in headers.items():
                    out[name] = value
            await send(message)

        await next_app(scope, receive, send_with_headers)


async def count(
    request: Request[Any, Any, Any], bucket: str, period_s: float, *, timeout_s: float = 1.0
) -> tuple[int, int] | None:
    """One hit on `bucket` in its fixed window: (hits in it so far, whole seconds until it ends).

    None when Redis could not be asked in `timeout_s` (logged): callers fail open, as routes do.
    """
    res = from_request(request)
    period_ms = str(math.ceil(period_s * 1000))
    try:
        async with asyncio.timeout(timeout_s):
            hits, ttl_ms = await _count(res.redis, res.keys.rate(bucket), period_ms)
    except (RedisError, OSError, TimeoutError) as exc:
        _warn_open(exc)
        return None
    return hits, max(1, math.ceil(ttl_ms / 1000))


async def uncount(
    request: Request[Any, Any, Any], bucket: str, period_s: float, *, timeout_s: float = 1.0
) -> None:
    """Take back one hit `count` made on `bucket`, for a request that turned out not to count."""
    res = from_request(request)
    key = res.keys.rate(bucket)
    try:
        async with asyncio.timeout(timeout_s), res.redis.pipeline(transaction=True) as pipe:
            # If the window ended in between, DECR makes a key without an expiry: NX gives it
            # one (and leaves a live window's end alone), so no key outlives a period.
            pipe.decr(key)
            pipe.expire(key, math.ceil(period_s), nx=True)
            await pipe.execute()
    except (RedisError, OSError, TimeoutError) as exc:
        _warn_open(exc)


async def _count(redis: Redis, key: str, period_ms: str) -> tuple[int, int]:
    """The key's count after this hit and the milliseconds left in its window."""
    try:
        reply = await cast("Awaitable[list[int]]", redis.evalsha(_SHA, 1, key, period_ms))
    except NoScriptError:  # a restarted or flushed Redis forgot the script
        reply = await cast("Awaitable[list[int]]", redis.eval(_SCRIPT, 1, key, period_ms))
    return int(reply[0]), int(reply[1])


def _warn_open(exc: BaseException) -> None:
    global _last_warning
    now = time.monotonic()
    # One line per outage interval is enough; a line per request would flood the log.
    if now - _last_warning >= _WARN_EVERY_S:
        _last_warning = now
        log.warning(
            "rate limits not enforced: Redis unavailable (%s)", str(exc) or type(exc).__name__
        )
