"""Studio tables (sessions, their assets and cost lines) and every query on them.

A session belongs to one user; every read names the owner, so another user's session is
simply not found. Steps move a session's status with a conditional UPDATE (`advance`): the
row decides which of two concurrent steps wins, not a read before the write. Callers own the
connection and its transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from infra.db.base import Base
from infra.db.model import User

STATUSES = (
    "pending",
    "generating_images",
    "reviewing_images",
    "images_approved",
    "generating_clips",
    "reviewing_clips",
    "clips_approved",
    "composing",
    "completed",
    "failed",
)
ASSET_TYPES = ("image", "video", "clip", "final_video")


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=column)


sessions = Table(
    "studio_sessions",
    Base.metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("owner_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")),
    Column("status", String(32), nullable=False),
    Column("prompt", Text, nullable=False),
    Column("aspect_ratio", String(8), nullable=False),
    Column("video_prompt", Text),
    Column("final_key", Text),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("updated_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    _one_of("status", STATUSES),
    Index("ix_studio_sessions_owner_created", "owner_id", "created_at"),
)


def _session_column() -> Column[Any]:
    """A row's session, deleted with it."""
    return Column(
        "session_id",
        UUID(as_uuid=True),
        ForeignKey("studio_sessions.id", ondelete="CASCADE"),
        nullable=False,
    )


assets = Table(
    "studio_assets",
    Base.metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    _session_column(),
    Column("type", String(16), nullable=False),
    Column("key", Text, nullable=False),
    Column("approved", Boolean, nullable=False, server_default="false"),
    Column("order_index", Integer),
    # Position in the generation that made it (image i, clip i).
    Column("position", Integer, nullable=False),
    Column("duration", Float),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    _one_of("type", ASSET_TYPES),
    # A job that runs twice stores the same keys: the second insert changes nothing.
    UniqueConstraint("session_id", "key", name="uq_studio_assets_session_key"),
)

costs = Table(
    "studio_costs",
    Base.metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    _session_column(),
    Column("job_id", UUID(as_uuid=True), nullable=False),
    Column("line", Integer, nullable=False),
    Column("step", String(32), nullable=False),
    Column("service", String(64), nullable=False),
    Column("cost", Float, nullable=False),
    Column("tokens_used", Integer),
    Column("details", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    # One line per prediction of a job, recorded once even when the job runs again.
    UniqueConstraint("job_id", "line", name="uq_studio_costs_job_line"),
)


async def create_session(
    conn: AsyncConnection, owner: uuid.UUID, prompt: str, aspect_ratio: str
) -> uuid.UUID:
    session_id = uuid.uuid4()
    await conn.execute(
        sessions.insert().values(
            id=session_id,
            owner_id=owner,
            status="pending",
            prompt=prompt,
            aspect_ratio=aspect_ratio,
        )
    )
    return session_id


async def get_session(
    conn: AsyncConnection, session_id: uuid.UUID, owner: uuid.UUID | None
) -> Row[Any] | None:
    """The session, when `owner` (None: anyone) owns it."""
    query = select(sessions).where(sessions.c.id == session_id)
    if owner is not None:
        query = query.where(sessions.c.owner_id == owner)
    return (await conn.execute(query)).first()


async def list_sessions(
    conn: AsyncConnection, owner: uuid.UUID, limit: int, offset: int
) -> Sequence[Row[Any]]:
    query = (
        select(sessions)
        .where(sessions.c.owner_id == owner)
        .order_by(sessions.c.created_at.desc(), sessions.c.id)
        .limit(limit)
        .offset(offset)
    )
    return (await conn.execute(query)).all()


async def list_assets(
    conn: AsyncConnection, session_ids: Sequence[uuid.UUID]
) -> Sequence[Row[Any]]:
    if not session_ids:
        return []
    query = (
        select(assets)
        .where(assets.c.session_id.in_(session_ids))
        .order_by(assets.c.session_id, assets.c.id)
    )
    return (await conn.execute(query)).all()


async def advance(
    conn: AsyncConnection,
    session_id: uuid.UUID,
    allowed: Sequence[str],
    status: str,
    *,
    owner: uuid.UUID | None = None,
    **values: Any,
) -> Row[Any] | None:
    """Move the session to `status` when it is in one of `allowed` (and `owner`'s, when
    given); None otherwise."""
    query = (
        update(sessions)
        .where(
            sessions.c.id == session_id,
            sessions.c.status.in_(allowed),
            *([sessions.c.owner_id == owner] if owner is not None else []),
        )
        .values(status=status, updated_at=func.now(), **values)
        .returning(sessions)
    )
    row: Row[Any] | None = (await conn.execute(query)).first()
    return row


async def add_assets(
    conn: AsyncConnection, session_id: uuid.UUID, rows: Sequence[dict[str, Any]]
) -> None:
    if not rows:
        return
    query = pg_insert(assets).values([{**r, "session_id": session_id} for r in rows])
    await conn.execute(query.on_conflict_do_nothing(constraint="uq_studio_assets_session_key"))


async def approve(
    conn: AsyncConnection, session_id: uuid.UUID, kind: str, ordered_ids: Sequence[int]
) -> int:
    """Exactly `ordered_ids` of this kind approved, in that order; the others not. The number
    of them that are this session's assets of this kind."""
    await conn.execute(
        update(assets)
        .where(assets.c.session_id == session_id, assets.c.type == kind)
        .values(approved=False, order_index=None)
    )
    count = 0
    for order, asset_id in enumerate(dict.fromkeys(ordered_ids)):
        done = await conn.execute(
            update(assets)
            .where(
                assets.c.session_id == session_id,
                assets.c.type == kind,
                assets.c.id == asset_id,
            )
            .values(approved=True, order_index=order)
        )
        count += done.rowcount
    return count


async def set_video_prompt(conn: AsyncConnection, session_id: uuid.UUID, prompt: str) -> None:
    await conn.execute(
        update(sessions).where(sessions.c.id == session_id).values(video_prompt=prompt)
    )


async def approved(conn: AsyncConnection, session_id: uuid.UUID, kind: str) -> Sequence[Row[Any]]:
    query = (
        select(assets)
        .where(assets.c.session_id == session_id, assets.c.type == kind, assets.c.approved)
        .order_by(assets.c.order_index)
    )
    return (await conn.execute(query)).all()


async def add_costs(
    conn: AsyncConnection,
    session_id: uuid.UUID,
    job_id: uuid.UUID,
    step: str,
    lines: Sequence[dict[str, Any]],
) -> None:
    if not lines:
        return
    rows = [
        {"session_id": session_id, "job_id": job_id, "line": i, "step": step, **line}
        for i, line in enumerate(lines)
    ]
    await conn.execute(
        pg_insert(costs).values(rows).on_conflict_do_nothing(constraint="uq_studio_costs_job_line")
    )


async def list_costs(conn: AsyncConnection, session_id: uuid.UUID) -> Sequence[Row[Any]]:
    query = select(costs).where(costs.c.session_id == session_id).order_by(costs.c.id)
    return (await conn.execute(query)).all()


async def user_number(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    """The integer id the contract shows for a user (the folder of their files)."""
    number: int = (await conn.execute(select(User.number).where(User.id == user_id))).scalar_one()
    return number


async def session_owner(conn: AsyncConnection, session_id: uuid.UUID) -> uuid.UUID | None:
    value = (
        await conn.execute(select(sessions.c.owner_id).where(sessions.c.id == session_id))
    ).scalar_one_or_none()
    return value
