"""Users and refresh-token families."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from infra.db.model import RefreshToken, User


async def get_by_username(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(User.username == username))
    ).scalar_one_or_none()


async def get_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_by_number(session: AsyncSession, number: int) -> User | None:
    """The user a contract's integer id names."""
    return (await session.execute(select(User).where(User.number == number))).scalar_one_or_none()


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this email, in any letter case (the unique index is on lower(email))."""
    return (
        await session.execute(select(User).where(func.lower(User.email) == func.lower(email)))
    ).scalar_one_or_none()


async def create_user(
    session: AsyncSession,
    username: str,
    password_hash: str,
    roles: list[str],
    display_name: str = "",
    email: str | None = None,
) -> User:
    """Add a user; an email another user has in any case raises IntegrityError at flush."""
    user = User(
        id=uuid.uuid4(),
        username=username,
        # An empty email is no email: it must not block the next user without one.
        email=email or None,
        password_hash=password_hash,
        roles=roles,
        display_name=display_name or username,
    )
    session.add(user)
    await session.flush()
    return user


async def set_password(session: AsyncSession, user: User, password_hash: str) -> None:
    user.password_hash = password_hash
    await session.flush()


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def add_refresh_token(
    session: AsyncSession, user_id: uuid.UUID, family_id: uuid.UUID, ttl_s: int
) -> RefreshToken:
    token = RefreshToken(
        id=uuid.uuid4(),
        family_id=family_id,
        user_id=user_id,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s),
    )
    session.add(token)
    await session.flush()
    return token


async def use_refresh_token(session: AsyncSession, token_id: uuid.UUID) -> RefreshToken | None:
    """Mark a token used and return it; None when it was already used or revoked (reuse).

    The conditional UPDATE makes two concurrent refreshes with one token impossible: only one
    of them sees a row come back.
    """
    row = (
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.id == token_id,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(used_at=datetime.now(UTC))
            .returning(RefreshToken)
        )
    ).scalar_one_or_none()
    return row


async def get_refresh_token(session: AsyncSession, token_id: uuid.UUID) -> RefreshToken | None:
    return await session.get(RefreshToken, token_id)


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
