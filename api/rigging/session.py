"""Anonymous browser sessions and the CSRF tokens that guard their changes.

A session id is 256 random bits issued by the server (`secrets.token_urlsafe`), sent as the
HttpOnly `session_id` cookie; it is also the capability the contract's download and socket
URLs carry. The database keeps only its SHA-256, so an id that was never issued, or a
deleted one, is simply not found.

A CSRF token is signed (HMAC-SHA256 with a key derived from the JWT secret), expires, and is
bound to the session of the request that fetched it. A token fetched without a session (the
contract's curl walkthrough fetches one without a cookie jar, then uploads with it, which
creates the session) is unbound and stays valid for whichever session sends it; a bound token
is refused for any other session. The `csrf_token` cookie is set too, as the original did,
but the header alone is checked: its signature is the proof a double-submit cookie would give.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers import BaseRouteHandler

from api.error import ApiError
from api.state import resources

SESSION_COOKIE = "session_id"
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
COOKIE_PATH = "/rigging"
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_UNBOUND = "-"
_GUARDED = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def well_formed(session_id: str | None) -> bool:
    return session_id is not None and _SESSION_ID.fullmatch(session_id) is not None


def token_hash(session_id: str) -> bytes:
    """What the database stores of a session id."""
    return hashlib.sha256(session_id.encode()).digest()


def cookie_session(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The request's session cookie, when it has one of the form the server issues."""
    value = connection.cookies.get(SESSION_COOKIE)
    return value if well_formed(value) else None


def session_cookie(connection: ASGIConnection[Any, Any, Any, Any], session_id: str) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=session_id,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=connection.url.scheme == "https",
    )


def expired_session_cookie(connection: ASGIConnection[Any, Any, Any, Any]) -> Cookie:
    """Tells the browser to forget a session the server no longer knows."""
    cookie = session_cookie(connection, "")
    cookie.max_age = 0
    return cookie


# --- CSRF --------------------------------------------------------------------------------


def _key(connection: ASGIConnection[Any, Any, Any, Any]) -> bytes:
    secret = resources(connection.app.state).settings.auth.jwt_secret.encode()
    return hmac.new(secret, b"switchyard rigging csrf", hashlib.sha256).digest()


def _binding(session_id: str | None) -> str:
    if session_id is None:
        return _UNBOUND
    return hashlib.sha256(b"csrf:" + session_id.encode()).hexdigest()[:32]


def _sign(key: bytes, message: str) -> str:
    mac = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def issue_csrf(
    connection: ASGIConnection[Any, Any, Any, Any], session_id: str | None, ttl_s: int
) -> str:
    """A token valid for `ttl_s`, bound to `session_id` when one is given."""
    message = f"{secrets.token_urlsafe(16)}.{int(time.time()) + ttl_s}.{_binding(session_id)}"
    return f"{message}.{_sign(_key(connection), message)}"


def csrf_cookie(connection: ASGIConnection[Any, Any, Any, Any], token: str, ttl_s: int) -> Cookie:
    return Cookie(
        key=CSRF_COOKIE,
        value=token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        max_age=ttl_s,
        secure=connection.url.scheme == "https",
    )


class CsrfMissing(ApiError):
    status_code, code = 403, "CSRF_TOKEN_MISSING"


class CsrfInvalid(ApiError):
    status_code, code = 403, "CSRF_TOKEN_INVALID"


def check_csrf(connection: ASGIConnection[Any, Any, Any, Any], token: str | None) -> None:
    """Refuse a missing, forged, expired or other-session token (403 in the contract's codes)."""
    if not token:
        raise CsrfMissing("CSRF token missing: send the X-CSRF-Token header")
    nonce, _, rest = token.partition(".")
    expires, _, rest = rest.partition(".")
    binding, _, signature = rest.partition(".")
    message = f"{nonce}.{expires}.{binding}"
    if not (nonce and expires.isdigit() and binding and signature) or not hmac.compare_digest(
        signature.encode(), _sign(_key(connection), message).encode()
    ):
        raise CsrfInvalid("CSRF token invalid")
    if int(expires) < time.time():
        raise CsrfInvalid("CSRF token expired: fetch a new one from /api/csrf-token")
    if binding != _UNBOUND and not hmac.compare_digest(
        binding, _binding(cookie_session(connection))
    ):
        raise CsrfInvalid("CSRF token belongs to another session")


def csrf_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Every state-changing request carries a valid `X-CSRF-Token`."""
    if connection.scope.get("method") in _GUARDED:  # HTTP only: a socket has no method
        check_csrf(connection, connection.headers.get(CSRF_HEADER))
