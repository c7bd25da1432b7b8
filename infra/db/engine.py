"""The async engine and session factory, built from settings."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import greenlet_spawn

from infra.settings import DatabaseSettings

T = TypeVar("T")


def async_url(url: str) -> str:
    """Accept `postgres://` / `postgresql://` URLs as deployments write them; use asyncpg."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def plain_dsn(database_url: str) -> str:
    """The libpq-style URL asyncpg itself takes, from any URL the settings accept."""
    return async_url(database_url).replace("postgresql+asyncpg://", "postgresql://", 1)


def _skip_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """At checkout, hand out no connection whose server already said goodbye.

    Instead of `pool_pre_ping` (a round trip per checkout, on every hot path): asyncpg reads
    the server's termination notice as soon as it arrives and marks the connection closed, so
    after a Postgres restart or an operator's pg_terminate_backend this check, which costs no
    round trip, makes the pool open fresh connections. A connection that dies mid-statement
    is what `statement`, `transaction` and `retrying` below are for."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("connection closed by the server")


def _watched(engine: AsyncEngine) -> AsyncEngine:
    event.listen(engine.sync_engine, "checkout", _skip_closed)
    return engine


# Postgres dropped the connection under a statement (restart, failover, an operator's
# pg_terminate_backend): asyncpg's own errors on the compile-once path, and the server's
# goodbye arriving unasked, which leaves the protocol mid-state.
_DROPPED = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.InternalClientError,
    ConnectionError,
    OSError,
)


def _dropped(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc.orig, _DROPPED)
    return isinstance(exc, _DROPPED)


@contextlib.asynccontextmanager
async def statement(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection of an autocommit engine, as the asyncpg connection itself.

    For single statements compiled once (`infra.db.driver.fetch_sql`): the pool's checkout
    without SQLAlchemy's `Connection` around it (its events, its transaction state, a greenlet
    hop per call), which costs more than the statement. A connection Postgres dropped under
    the statement is invalidated, so the pool does not hand it out again."""
    fairy = await engine.raw_connection()
    try:
        yield fairy.driver_connection
    except BaseException as exc:
        if _dropped(exc):
            await greenlet_spawn(fairy.invalidate, exc)
        raise
    finally:
        # Checking in may close an invalidated connection, which awaits: run it as
        # SQLAlchemy's own async layer runs its sync pool code.
        await greenlet_spawn(fairy.close)


@contextlib.asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in one transaction, committed when the block ends without an error."""
    async with engine.connect() as conn:
        try:
            async with conn.begin():
                yield conn
        except BaseException as exc:
            if _dropped(exc) and not conn.invalidated:
                await conn.invalidate()
            raise


C = TypeVar("C")


async def retrying(
    open_: Callable[[AsyncEngine], contextlib.AbstractAsyncContextManager[C]],
    engine: AsyncEngine,
    work: Callable[[C], Awaitable[T]],
    *,
    attempts: int = 3,
) -> T:
    """Run `work` on a connection `open_` (`statement` or `transaction`) gives; when Postgres
    had dropped that connection, run it again on a fresh one. Only for work that is safe to
    repeat: a read, or a transaction that either committed or did nothing (never a bare
    INSERT, which may have committed before the drop was noticed)."""
    for attempt in range(1, attempts + 1):
        try:
            async with open_(engine) as conn:
                return await work(conn)
        except Exception as exc:
            if attempt == attempts or not _dropped(exc):
                raise
    raise AssertionError("unreachable")


def make_engine(settings: DatabaseSettings) -> AsyncEngine:
    """An engine with a bounded pool that hands out only live connections."""
    if not settings.url:
        raise RuntimeError(
            "DATABASE_URL is not set (switchyard up sets it for the embedded server)"
        )
    return _watched(
        create_async_engine(
            async_url(settings.url),
            pool_size=settings.pool_size,
            max_overflow=settings.pool_size,
            pool_recycle=1800,
            echo=settings.echo,
        )
    )


def make_autocommit_engine(settings: DatabaseSettings, *, durable: bool = True) -> AsyncEngine:
    """A second engine for single-statement hot paths (submit, claim, finish).

    A statement on its own is atomic, so these skip BEGIN/COMMIT; a separate engine rather
    than `execution_options(isolation_level=...)` avoids switching the mode on every checkout.
    With durable=False its commits do not wait for the WAL flush (`synchronous_commit=off`):
    for job state transitions, whose loss in a Postgres crash the runtime already recovers
    from (the job is reaped and runs again), never for accepting a job.
    """
    server_settings = {} if durable else {"synchronous_commit": "off"}
    # No reset on check-in: an autocommit connection has no transaction to roll back.
    return _watched(
        create_async_engine(
            async_url(settings.url),
            pool_size=settings.pool_size,
            max_overflow=settings.pool_size,
            pool_recycle=1800,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
            echo=settings.echo,
            connect_args={"server_settings": server_settings},
        )
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
