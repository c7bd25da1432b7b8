"""Who is calling: the platform's user from a bearer access token.

Kept apart from the `/auth` routes so every policy (access, rate limits, the auth routes'
own login limits) can depend on it without importing the routes.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from api.error import Unauthorized
from api.state import from_request
from infra.security import InvalidToken, Principal, decode_access_token


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return token.strip()


async def current_principal(request: Request[Any, Any, Any]) -> Principal:
    """The caller, from a valid bearer access token; 401 otherwise."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("missing bearer token")
    try:
        return decode_access_token(from_request(request).settings.auth, token)
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from exc
