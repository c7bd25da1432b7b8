"""Rigging tables (browser sessions, their files, their jobs) and every query on them.

A session is known by the SHA-256 of its id: the id is a bearer secret (it opens downloads
and the socket), so the database never holds it. Its jobs are the platform's job rows, owned
by the service's user; `rigging_jobs` ties each to its session and keeps what the contract
shows (type, input paths, format). Callers own the connection and its transaction.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.job import ACTIVE
from infra.db.base import Base
from infra.db.job import jobs
from infra.db.model import User

FOLDERS = ("uploads", "results")
JOB_TYPES = ("skeleton", "skinning", "merge")
# The user every rigging job belongs to: sessions are anonymous, jobs need an owner.
SERVICE_USER = "rigging-service"


def _session_column() -> Column[Any]:
    """The session a row belongs to; it goes with its session."""
    return Column(
        "session_id",
        UUID(as_uuid=True),
        ForeignKey("rigging_sessions.id", ondelete="CASCADE"),
        nullable=False,
    )


sessions = Table(
    "rigging_sessions",
    Base.metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_activity", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

files = Table(
    "rigging_files",
    Base.metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    _session_column(),
    Column("folder", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("key", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("folder IN ('uploads', 'results')", name="folder"),
    # The constraint decides two uploads of one name at once: the later replaces the earlier.
    UniqueConstraint("session_id", "folder", "name", name="uq_rigging_files_path"),
)

session_jobs = Table(
    "rigging_jobs",
    Base.metadata,
    Column(
        "job_id", UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    ),
    _session_column(),
    Column("type", String(16), nullable=False),
    # Paths relative to the session ("uploads/x.obj"): the session id is not stored.
    Column("input", Text, nullable=False),
    Column("second_input", Text),  # merge: the skinning file
    Column("output_format", String(8), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("type IN ('skeleton', 'skinning', 'merge')", name="type"),
    Index("ix_rigging_jobs_session_created", "session_id", text("created_at DESC")),
)


# --- the service's user ------------------------------------------------------------------


async def service_user(conn: AsyncConnection) -> uuid.UUID:
    """The disabled user that owns rigging jobs, created on first use (it cannot log in:
    its password hash is no hash)."""
    table = cast(Table, User.__table__)
    await conn.execute(
        pg_insert(table)
        .values(
            id=uuid.uuid4(),
            username=SERVICE_USER,
            display_name="rigging service",
            password_hash="!",
            roles=[],
            disabled=True,
        )
        .on_conflict_do_nothing(index_elements=["username"])
    )
    row = (
        await conn.execute(
            select(table.c.id, table.c.disabled).where(table.c.username == SERVICE_USER)
        )
    ).one()
    if not row.disabled:
        raise RuntimeError(f"user {SERVICE_USER!r} exists and may log in: not the service's own")
    return uuid.UUID(str(row.id))


# --- sessions ----------------------------------------------------------------------------


async def create_session(conn: AsyncConnection, token_hash: bytes) -> Row[Any]:
    return (
        await conn.execute(
            sessions.insert().values(id=uuid.uuid4(), token_hash=token_hash).returning(*sessions.c)
        )
    ).one()


async def find_session(
    conn: AsyncConnection, token_hash: bytes, *, lock: bool = False
) -> Row[Any] | None:
    query = select(sessions).where(sessions.c.token_hash == token_hash)
    if lock:
        # Job creation and session deletion take this lock: one decides at a time.
        query = query.with_for_update()
    return (await conn.execute(query)).one_or_none()


async def session_exists(conn: AsyncConnection, session_id: uuid.UUID) -> bool:
    found = await conn.execute(select(sessions.c.id).where(sessions.c.id == session_id))
    return found.one_or_none() is not None


async def touch(conn: AsyncConnection, session_id: uuid.UUID) -> None:
    await conn.execute(
        update(sessions).where(sessions.c.id == session_id).values(last_activity=func.now())
    )


async def delete_session(conn: AsyncConnection, session_id: uuid.UUID) -> None:
    """The session and, by cascade, its file rows and job links."""
    await conn.execute(delete(sessions).where(sessions.c.id == session_id))


# --- files -------------------------------------------------------------------------------


async def put_file(
    conn: AsyncConnection,
    session_id: uuid.UUID,
    folder: str,
    name: str,
    key: str,
    size: int,
    content_type: str,
) -> str | None:
    """Record a file under its name; the blob key it replaced, if the name was taken."""
    old = (
        await conn.execute(
            select(files.c.key)
            .where(files.c.session_id == session_id, files.c.folder == folder, files.c.name == name)
            .with_for_update()
        )
    ).scalar_one_or_none()
    stmt = pg_insert(files).values(
        session_id=session_id,
        folder=folder,
        name=name,
        key=key,
        size=size,
        content_type=content_type,
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            constraint="uq_rigging_files_path",
            set_={
                "key": stmt.excluded.key,
                "size": stmt.excluded.size,
                "content_type": stmt.excluded.content_type,
                "created_at": func.now(),
            },
        )
    )
    return str(old) if old is not None and old != key else None


async def get_file(
    conn: AsyncConnection, session_id: uuid.UUID, folder: str, name: str
) -> Row[Any] | None:
    return (
        await conn.execute(
            select(files).where(
                files.c.session_id == session_id, files.c.folder == folder, files.c.name == name
            )
        )
    ).one_or_none()


async def file_keys(conn: AsyncConnection, session_id: uuid.UUID) -> list[Any]:
    rows = await conn.execute(
        select(files.c.key, files.c.size).where(files.c.session_id == session_id)
    )
    return list(rows)


# --- jobs --------------------------------------------------------------------------------


def _joined() -> Any:
    return select(
        jobs,
        session_jobs.c.type,
        session_jobs.c.input,
        session_jobs.c.second_input,
        session_jobs.c.output_format,
    ).join(session_jobs, session_jobs.c.job_id == jobs.c.id)


async def link_job(
    conn: AsyncConnection,
    job_id: uuid.UUID,
    session_id: uuid.UUID,
    type_: str,
    input_: str,
    second_input: str | None,
    output_format: str,
) -> None:
    await conn.execute(
        session_jobs.insert().values(
            job_id=job_id,
            session_id=session_id,
            type=type_,
            input=input_,
            second_input=second_input,
            output_format=output_format,
        )
    )


async def active_jobs(conn: AsyncConnection, session_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await conn.execute(
        select(jobs.c.id)
        .join(session_jobs, session_jobs.c.job_id == jobs.c.id)
        .where(session_jobs.c.session_id == session_id, jobs.c.status.in_(ACTIVE))
    )
    return [r.id for r in rows]


async def get_job(
    conn: AsyncConnection, session_id: uuid.UUID, job_id: uuid.UUID
) -> Row[Any] | None:
    """The job, or None when it does not exist or is another session's."""
    query = _joined().where(jobs.c.id == job_id, session_jobs.c.session_id == session_id)
    return (await conn.execute(query)).one_or_none()


async def list_jobs(
    conn: AsyncConnection, session_id: uuid.UUID, status: str | None, limit: int, offset: int
) -> tuple[list[Row[Any]], int]:
    cond = session_jobs.c.session_id == session_id
    if status:
        cond = and_(cond, jobs.c.status == status)
    total = (
        await conn.execute(
            select(func.count())
            .select_from(session_jobs.join(jobs, session_jobs.c.job_id == jobs.c.id))
            .where(cond)
        )
    ).scalar_one()
    rows = (
        await conn.execute(
            _joined()
            .where(cond)
            .order_by(session_jobs.c.created_at.desc(), jobs.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return list(rows), int(total)


async def session_job_ids(conn: AsyncConnection, session_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await conn.execute(
        select(session_jobs.c.job_id).where(session_jobs.c.session_id == session_id)
    )
    return [r.job_id for r in rows]


async def delete_jobs(conn: AsyncConnection, job_ids: list[uuid.UUID]) -> None:
    """Platform job rows (their links go by cascade); only finished ones are removed."""
    if job_ids:
        await conn.execute(delete(jobs).where(jobs.c.id.in_(job_ids), jobs.c.status.not_in(ACTIVE)))


async def stats(conn: AsyncConnection, session_id: uuid.UUID) -> dict[str, Any]:
    """Job counts by status, uploads, bytes stored and the last activity of a session."""
    counted = await conn.execute(
        select(jobs.c.status, func.count())
        .join(session_jobs, session_jobs.c.job_id == jobs.c.id)
        .where(session_jobs.c.session_id == session_id)
        .group_by(jobs.c.status)
    )
    by_status: dict[str, int] = {str(r[0]): int(r[1]) for r in counted}
    stored = (
        await conn.execute(
            select(
                func.count().filter(files.c.folder == "uploads"),
                func.coalesce(func.sum(files.c.size), 0),
                func.max(files.c.created_at),
            ).where(files.c.session_id == session_id)
        )
    ).one()
    last_job = (
        await conn.execute(
            select(func.max(func.greatest(jobs.c.created_at, jobs.c.completed_at)))
            .join(session_jobs, session_jobs.c.job_id == jobs.c.id)
            .where(session_jobs.c.session_id == session_id)
        )
    ).scalar_one()
    return {
        "by_status": by_status,
        "uploads": int(stored[0]),
        "bytes": int(stored[1]),
        "last_file": stored[2],
        "last_job": last_job,
    }
