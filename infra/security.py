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


class _VerifiedTokens:
    """Access tokens this process has already verified, until they expire.

    Every authenticated request carries the same few tokens, and checking a JWT's signature
    and claims costs more than the rest of a small request. Access tokens cannot be revoked
    before they expire (refresh tokens can), so a verified one stays good until its `exp`;
    entries are keyed by the secret and issuer too, so a token is never trusted under settings
    other than those that verified it. Bounded: the oldest entries go first.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self.entries: dict[tuple[str, str, str], tuple[Principal, float]] = {}

    def get(self, settings: AuthSettings, token: str) -> Principal | None:
        hit = self.entries.get((settings.jwt_secret, settings.issuer, token))
        if hit is None:
            return None
        principal, exp = hit
        if time.time() >= exp:
            del self.entries[(settings.jwt_secret, settings.issuer, token)]
            return None  # verified again below, which reports it as expired
        return principal

    def put(self, settings: AuthSettings, token: str, principal: Principal, exp: float) -> None:
        if len(self.entries) >= self.size:
            for key in list(self.entries)[: self.size // 10 or 1]:
                del self.entries[key]
        self.entries[(settings.jwt_secret, settings.issuer, token)] = (principal, exp)


_verified = _VerifiedTokens()


def decode_access_token(settings: AuthSettings, token: str) -> Principal:
    cached = _verified.get(settings, token)
    if cached is not None:
        return cached
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
    principal = Principal(
        id=str(claims["sub"]), username=str(claims.get("name", "")), roles=tuple(claims["roles"])
    )
    _verified.put(settings, token, principal, float(claims["exp"]))
    return principal
