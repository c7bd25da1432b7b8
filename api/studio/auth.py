"""Studio auth on the platform's one identity store: the OAuth2 password form, who-am-I, and
the NextAuth exchange (only for trusted networks or the holder of the exchange secret).

Tokens are the platform's access tokens, so a studio token also works on `/jobs` and `/ws`.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody
from sqlalchemy.exc import IntegrityError

from api import limit
from api.access import client_address, parse_networks, within
from api.auth import ADDRESS_ATTEMPTS, ADDRESS_WINDOW_S
from api.error import Forbidden, RateLimited, Unavailable
from api.state import from_request
from api.studio.error import (
    BAD_CREDENTIALS,
    BAD_LOGIN,
    ERRORS,
    NOT_AUTHENTICATED,
    unauthorized,
)
from api.studio.schema import ExchangeRequest, LoginForm, Me, Token
from infra.db import user as users_repo
from infra.db.model import User
from infra.security import (
    HashingBusy,
    InvalidToken,
    Principal,
    decode_access_token,
    hash_password_async,
    issue_access_token,
    verify_password_async,
)


@dataclass(frozen=True)
class StudioUser:
    """The caller: the platform principal and the contract's integer id."""

    principal: Principal
    id: uuid.UUID
    number: int
    email: str
    created_at: datetime

    @property
    def root(self) -> str:
        """Every key of this user's files starts here."""
        return f"users/{self.number}/"


def token_from(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized(NOT_AUTHENTICATED)
    return token.strip()


async def current_user(request: Request[Any, Any, Any]) -> StudioUser:
    """The caller from a bearer token: 401 `Not authenticated` without one, `Could not
    validate credentials` for a bad, expired or orphaned one."""
    res = from_request(request)
    try:
        principal = decode_access_token(res.settings.auth, token_from(request))
    except InvalidToken as exc:
        raise unauthorized(BAD_CREDENTIALS) from exc
    async with res.sessions() as session:
        user = await users_repo.get_by_id(session, uuid.UUID(principal.id))
    if user is None or user.disabled:
        raise unauthorized(BAD_CREDENTIALS)
    return StudioUser(
        principal=principal,
        id=user.id,
        number=user.number,
        email=user.email or user.username,
        created_at=user.created_at,
    )


def _token(request: Request[Any, Any, Any], user: User) -> Token:
    principal = Principal(id=str(user.id), username=user.username, roles=tuple(user.roles))
    return Token(access_token=issue_access_token(from_request(request).settings.auth, principal))


@post(
    "/api/auth/login",
    status_code=200,
    summary="Log in with the OAuth2 password form (username: the email)",
    tags=["studio auth"],
    security=[{}],
    responses=ERRORS.responses(400, 401, 429, 503),
)
async def login(
    request: Request[Any, Any, Any],
    data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Token:
    # Failed logins per address, counted as the platform's /auth/login counts them.
    bucket = f"studio-login:{limit.per_client(request)}"
    counted = await limit.count(request, bucket, ADDRESS_WINDOW_S)
    if counted is not None and counted[0] > ADDRESS_ATTEMPTS:
        raise RateLimited(
            f"Too many failed logins; retry in {counted[1]} s",
            headers={"Retry-After": str(counted[1])},
        )
    res = from_request(request)
    async with res.sessions() as session:
        user = await users_repo.get_by_email(session, data.username)
        if user is None:
            user = await users_repo.get_by_username(session, data.username)
    try:
        ok = await verify_password_async(user.password_hash if user else None, data.password)
    except HashingBusy as exc:
        raise Unavailable("Too many logins at once; retry in a second") from exc
    if not ok or user is None or user.disabled:
        raise unauthorized(BAD_LOGIN)
    if counted is not None:
        await limit.uncount(request, bucket, ADDRESS_WINDOW_S)
    return _token(request, user)


@get(
    "/api/auth/me",
    summary="The logged-in user",
    tags=["studio auth"],
    responses=ERRORS.responses(401),
)
async def me(user: NamedDependency[StudioUser]) -> Me:
    return Me(id=user.number, email=user.email, created_at=user.created_at)


def _exchange_allowed(request: Request[Any, Any, Any]) -> None:
    """Only the configured front end may exchange: by its network or by the shared secret."""
    settings = from_request(request).settings.studio
    if not settings.exchange_secret and not settings.exchange_networks:
        raise Forbidden("Token exchange is not enabled on this server")
    given = request.headers.get("x-exchange-secret", "")
    if settings.exchange_secret and hmac.compare_digest(
        given.encode(), settings.exchange_secret.encode()
    ):
        return
    address = client_address(request)
    if settings.exchange_networks and address is not None:
        try:
            networks = parse_networks(tuple(settings.exchange_networks))
        except ValueError:
            networks = ()
        if within(address, networks):
            return
    raise Forbidden("Token exchange is not allowed for this caller")


_NOT_NAME = re.compile(r"[^a-z0-9._-]+")


async def _user_for_email(request: Request[Any, Any, Any], email: str) -> User:
    """The user with this email; created (no usable password) on the first exchange."""
    res = from_request(request)
    async with res.sessions() as session:
        user = await users_repo.get_by_email(session, email)
    if user is not None:
        return user
    # A password nobody knows: this user logs in through the front end only.
    unusable = await hash_password_async(secrets.token_urlsafe(32))
    base = _NOT_NAME.sub("-", email.lower())[:55].strip("-") or "user"
    for attempt in range(3):
        username = base if attempt == 0 else f"{base}-{secrets.token_hex(3)}"
        try:
            async with res.sessions.begin() as session:
                return await users_repo.create_user(
                    session, username, unusable, ["user"], email=email
                )
        except IntegrityError:
            # Another exchange made this email's user at the same moment, or the username
            # is taken by someone else: look again, then try another name.
            async with res.sessions() as session:
                user = await users_repo.get_by_email(session, email)
            if user is not None:
                return user
            await asyncio.sleep(0)
    raise Unavailable("Could not create a user for this email; try again")


@post(
    "/api/auth/exchange",
    status_code=200,
    summary="Exchange a NextAuth session (trusted front ends only) for a token",
    tags=["studio auth"],
    security=[{}],
    responses=ERRORS.responses(400, 403, 503),
)
async def exchange(request: Request[Any, Any, Any], data: JSONBody[ExchangeRequest]) -> Token:
    _exchange_allowed(request)
    user = await _user_for_email(request, data.email)
    if user.disabled:
        raise Forbidden("This account is disabled")
    return _token(request, user)
