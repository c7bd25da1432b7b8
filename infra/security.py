"""Password hashing (argon2id) and JWT access tokens (PyJWT)."""

from __future__ import annotations

import time
import uuid
from functools import lru_cache
from typing import Any

import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from infra.settings import AuthSettings

_hasher = PasswordHasher()  # argon2id, 64 MiB, 3 passes: slow on purpose


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified against when a user does not exist, so login timing does not reveal it."""
    return _hasher.hash("switchyard-dummy-password")


ROLES = ("admin", "operator", "user")


class Principal(msgspec.Struct, frozen=True):
    """Who is calling, as carried by a verified access token."""

    id: str
    username: str
    roles: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def has_any(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


class InvalidToken(Exception):
    """The token is missing, malformed, expired or signed by someone else."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def issue_access_token(settings: AuthSettings, principal: Principal) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": principal.id,
        "name": principal.username,
        "roles": list(principal.roles),
        "iat": now,
        "exp": now + settings.access_ttl_s,
        "iss": settings.issuer,
        "typ": "access",
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def decode_access_token(settings: AuthSettings, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=["HS256"],
            issuer=settings.issuer,
            options={"require": ["exp", "sub", "iat"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("invalid token") from exc
    if claims.get("typ") != "access":
        raise InvalidToken("not an access token")
    return Principal(
        id=str(claims["sub"]), username=str(claims.get("name", "")), roles=tuple(claims["roles"])
    )
