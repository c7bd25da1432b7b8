"""CORS per service: each prefix answers with the policy its declaration gives.

Litestar's CORS config is one for the whole app, and it refuses a preflight with a plain-text
body outside every exception handler. Here a service's policy applies only under its prefix,
and a refused preflight is an error in that contract's own shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from litestar.config.cors import CORSConfig
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from api.error import ErrorShape
from api.service import under

# Headers a browser may always send without asking (the CORS "safelisted" request headers).
_SAFELISTED = frozenset({"accept", "accept-language", "content-language", "content-type"})


class CorsPolicy:
    """One service's policy: its prefix, its config and how it writes an error."""

    def __init__(self, prefix: str, config: CORSConfig, errors: ErrorShape) -> None:
        self.prefix = prefix
        self.config = config
        self.errors = errors
        self._methods = {m.upper() for m in config.allow_methods}
        self._headers = {h.lower() for h in config.allow_headers} | _SAFELISTED

    def owns(self, path: str) -> bool:
        """Under the prefix; the platform's policy (prefix "") owns every path."""
        return under(self.prefix, path)

    def refusals(self, origin: str, method: str, requested: list[str]) -> list[str]:
        """What a preflight asks for that this policy does not allow."""
        refused = []
        if not self.config.is_origin_allowed(origin):
            refused.append("origin")
        if not self.config.is_allow_all_methods and method.upper() not in self._methods:
            refused.append("method")
        if not self.config.is_allow_all_headers and any(
            h.lower() not in self._headers for h in requested
        ):
            refused.append("headers")
        return refused

    def grant(self, origin: str) -> list[tuple[bytes, bytes]]:
        """Headers of an allowed preflight."""
        headers = dict(self.config.preflight_headers)
        if headers.get("Access-Control-Allow-Origin") != "*":
            headers["Access-Control-Allow-Origin"] = origin
        return [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    def simple(self, origin: str) -> list[tuple[bytes, bytes]]:
        """Headers added to an actual (non-preflight) response for an allowed origin."""
        headers = dict(self.config.simple_headers)
        if not self.config.is_allow_all_origins:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"
        return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


def cors_middleware(app: ASGIApp, policies: Sequence[CorsPolicy]) -> ASGIApp:
    """Wrap the app: preflights under a policy's prefix are answered here; other requests from
    an allowed origin get the policy's response headers. Paths with no policy pass through."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        policy = next((p for p in policies if p.owns(scope["path"])), None)
        origin = _header(scope, b"origin") if policy is not None else None
        if policy is None or origin is None:
            await app(scope, receive, send)
            return
        method = _header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and method is not None:
            await _preflight(policy, origin, method, scope, send)
            return
        if not policy.config.is_origin_allowed(origin):
            await app(scope, receive, send)
            return
        extra = policy.simple(origin)

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await app(scope, receive, with_cors)

    return middleware


async def _preflight(
    policy: CorsPolicy, origin: str, method: str, scope: Scope, send: Send
) -> None:
    start: HTTPResponseStartEvent
    requested = [
        h.strip()
        for h in (_header(scope, b"access-control-request-headers") or "").split(",")
        if h.strip()
    ]
    refused = policy.refusals(origin, method, requested)
    if not refused:
        start = {"type": "http.response.start", "status": 204, "headers": policy.grant(origin)}
        await send(start)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    detail = f"CORS preflight refused: {', '.join(refused)} not allowed"
    body = msgspec.json.encode(policy.errors.body(detail, "BAD_REQUEST"))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    start = {"type": "http.response.start", "status": 400, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None
