"""`/auth`: login, refresh-token rotation with reuse detection, and who-am-I."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated, Any, Final

import jwt
import msgspec
from litestar import Controller, Request, get, post
from litestar.params import JSONBody, SkipValidation

from api import limit
from api.error import PLATFORM_ERRORS, RateLimited, Unauthorized, Unavailable
from api.state import from_request
from infra.db import user as users_repo
from infra.db.model import User
from infra.security import (
    HashingBusy,
    InvalidToken,
    Principal,
    issue_access_token,
    verify_password_async,
)
from infra.settings import AuthSettings

# Login limits, counted in Redis so they hold across API processes. An address may have
# ADDRESS_ATTEMPTS failed or unfinished logins per window, then 429 until the window ends.
# An account may have ACCOUNT_FREE_ATTEMPTS from anywhere per window; each one after that waits
# a delay doubling from ACCOUNT_FIRST_DELAY_S up to ACCOUNT_MAX_DELAY_S but is never refused,
# so a stranger guessing an account's password cannot lock its owner out.
ADDRESS_ATTEMPTS: Final = 10
ADDRESS_WINDOW_S: Final = 300
ACCOUNT_FREE_ATTEMPTS: Final = 5
ACCOUNT_WINDOW_S: Final = 300
ACCOUNT_FIRST_DELAY_S: Final = 0.25
ACCOUNT_MAX_DELAY_S: Final = 2.0


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class UserView(msgspec.Struct):
    id: str
    username: str
    displayName: str
    roles: list[str]


class TokenResponse(msgspec.Struct):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    user: UserView


def user_view(user: User) -> UserView:
    return UserView(
        id=str(user.id),
        username=user.username,
        displayName=user.display_name or user.username,
        roles=list(user.roles),
    )


def account_delay_s(attempts: int) -> float:
    """How long the account's `attempts`-th login of the window waits before its password check."""
    if attempts <= ACCOUNT_FREE_ATTEMPTS:
        return 0.0
    extra = min(attempts - ACCOUNT_FREE_ATTEMPTS - 1, 16)  # 2**16 is far past the cap already
    return float(min(ACCOUNT_MAX_DELAY_S, ACCOUNT_FIRST_DELAY_S * 2**extra))


def _refresh_jwt(settings: AuthSettings, token_id: uuid.UUID, family: uuid.UUID, user: str) -> str:
    now = int(time.time())
    claims = {
        "sub": user,
        "jti": str(token_id),
        "fam": str(family),
        "typ": "refresh",
        "iat": now,
        "exp": now + settings.refresh_ttl_s,
        "iss": settings.issuer,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


async def _tokens(request: Request[Any, Any, Any], user: User, family: uuid.UUID) -> TokenResponse:
    res = from_request(request)
    settings = res.settings.auth
    async with res.sessions.begin() as session:
        token = await users_repo.add_refresh_token(session, user.id, family, settings.refresh_ttl_s)
    principal = Principal(id=str(user.id), username=user.username, roles=tuple(user.roles))
    return TokenResponse(
        access_token=issue_access_token(settings, principal),
        refresh_token=_refresh_jwt(settings, token.id, family, str(user.id)),
        token_type="bearer",
        expires_in=settings.access_ttl_s,
        user=user_view(user),
    )


async def password_login(
    request: Request[Any, Any, Any], data: LoginRequest
) -> tuple[User, TokenResponse]:
    """Check a username and password under the login limits; the user and fresh tokens.

    Shared by `/auth/login` and the services whose contracts have a login of their own.
    """
    # Each attempt takes its slots before the password is checked, with one atomic
    # increment-and-read per counter, so parallel guesses cannot all read a count that
    # none of them has added to yet. A login that succeeds gives its slots back: the
    # counters hold failed (and unfinished) attempts only.
    address = f"login:{limit.per_client(request)}"
    taken: list[tuple[str, float]] = []
    counted = await limit.count(request, address, ADDRESS_WINDOW_S)
    if counted is not None:
        attempts, reset_s = counted
        if attempts > ADDRESS_ATTEMPTS:
            raise RateLimited(
                f"too many failed logins from this address; retry in {reset_s} s",
                headers={"Retry-After": str(reset_s)},
            )
        taken.append((address, ADDRESS_WINDOW_S))
    account = f"login:account:{data.username.lower()}"
    counted = await limit.count(request, account, ACCOUNT_WINDOW_S)
    if counted is not None:
        taken.append((account, ACCOUNT_WINDOW_S))
        # Slowed, never refused: a refusal here would let anyone lock the owner out.
        await asyncio.sleep(account_delay_s(counted[0]))
    res = from_request(request)
    async with res.sessions() as session:
        user = await users_repo.get_by_username(session, data.username)
    try:
        ok = await verify_password_async(user.password_hash if user else None, data.password)
    except HashingBusy as exc:
        await asyncio.gather(*(limit.uncount(request, *slot) for slot in taken))
        raise Unavailable(
            "too many logins at once; retry in a second", headers={"Retry-After": "1"}
        ) from exc
    if not ok or user is None or user.disabled:
        raise Unauthorized("invalid username or password", code="INVALID_CREDENTIALS")
    await asyncio.gather(*(limit.uncount(request, *slot) for slot in taken))
    return user, await _tokens(request, user, uuid.uuid4())


async def rotate_refresh(
    request: Request[Any, Any, Any], data: RefreshRequest
) -> tuple[User, TokenResponse]:
    """Exchange a refresh token for new tokens (its family revoked on reuse); the user too."""
    res = from_request(request)
    settings = res.settings.auth
    try:
        claims = jwt.decode(
            data.refresh_token,
            settings.jwt_secret,
            algorithms=["HS256"],
            issuer=settings.issuer,
            options={"require": ["exp", "jti", "sub"]},
        )
        if claims.get("typ") != "refresh":
            raise InvalidToken("not a refresh token")
        token_id, family = uuid.UUID(claims["jti"]), uuid.UUID(claims["fam"])
    except (jwt.PyJWTError, InvalidToken, KeyError, ValueError) as exc:
        raise Unauthorized("invalid refresh token", code="INVALID_TOKEN") from exc
    async with res.sessions.begin() as session:
        used = await users_repo.use_refresh_token(session, token_id)
        if used is None:
            # A token that was already used (or revoked) is being replayed: whoever holds
            # the family may be an attacker, so every token of the family dies.
            await users_repo.revoke_family(session, family)
    if used is None:
        raise Unauthorized(
            "refresh token already used; this session has been revoked",
            code="TOKEN_REUSED",
        )
    async with res.sessions() as session:
        user = await users_repo.get_by_id(session, used.user_id)
    if user is None or user.disabled:
        raise Unauthorized("user no longer exists", code="INVALID_TOKEN")
    return user, await _tokens(request, user, family)


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post(
        "/login",
        status_code=200,
        summary="Log in with username and password",
        security=[{}],
        responses=PLATFORM_ERRORS.responses(400, 401, 413, 429, 503),
    )
    async def login(
        self, request: Request[Any, Any, Any], data: JSONBody[LoginRequest]
    ) -> TokenResponse:
        return (await password_login(request, data))[1]

    @post(
        "/refresh",
        status_code=200,
        summary="Rotate a refresh token",
        security=[{}],
        responses=PLATFORM_ERRORS.responses(400, 401, 413),
    )
    async def refresh(
        self, request: Request[Any, Any, Any], data: JSONBody[RefreshRequest]
    ) -> TokenResponse:
        return (await rotate_refresh(request, data))[1]

    @get("/me", summary="The logged-in user", responses=PLATFORM_ERRORS.responses(401))
    async def me(
        self,
        request: Request[Any, Any, Any],
        principal: SkipValidation[Principal],
    ) -> UserView:
        async with from_request(request).sessions() as session:
            user = await users_repo.get_by_id(session, uuid.UUID(principal.id))
        if user is None:
            raise Unauthorized("user no longer exists")
        return user_view(user)
