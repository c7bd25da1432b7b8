"""Password hashing (argon2id) and JWT access tokens (PyJWT)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, Final, TypeVar

import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from infra.settings import AuthSettings

_hasher = PasswordHasher()  # argon2id, 64 MiB, 3 passes: slow on purpose

# Each hash takes 64 MiB and tens of milliseconds of CPU (argon2-cffi releases the GIL), so the
# async callers hash on threads of their own, never the event loop, and bound the hashes in
# flight (running or queued) so a burst of logins waits briefly or is refused (HashingBusy)
# instead of piling up memory and latency. One hash already runs on 4 threads (argon2's
# parallelism, stored in each hash): one pool thread per four cores keeps the cores busy
# without crowding the event loop out of them.
HASH_THREADS: Final = max(1, (os.cpu_count() or 1) // 4)
HASH_IN_FLIGHT: Final = 4 * HASH_THREADS

T = TypeVar("T")


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


class HashingBusy(Exception):
    """This process already has as many password hashes running or queued as it allows."""


class _HashPool:
    """A small thread pool that refuses work beyond `in_flight` running or queued calls."""

    def __init__(self, threads: int, in_flight: int) -> None:
        self.threads = threads
        # A threading semaphore, not an asyncio one: it is released from the pool's thread when
        # the hash really ends, so a caller that gives up (a client gone) does not free a slot
        # whose hash is still running; it also serves any event loop (tests run several).
        self._slots = threading.BoundedSemaphore(in_flight)
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if not self._slots.acquire(blocking=False):
            raise HashingBusy("too many password hashes in flight")
        try:
            if self._executor is None:  # made on first use, so a forked server gets its own
                self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="argon2")
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return await asyncio.wrap_future(future)


_pool = _HashPool(HASH_THREADS, HASH_IN_FLIGHT)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def hash_password_async(password: str) -> str:
    """`hash_password` on the hashing threads; HashingBusy when too many are in flight."""
    return await _pool.run(hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    """`verify_password` on the hashing threads; HashingBusy when too many are in flight."""
    return await _pool.run(verify_password, password_hash, password)


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
