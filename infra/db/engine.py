"""The async engine and session factory, built from settings."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from infra.settings import DatabaseSettings


def async_url(url: str) -> str:
    """Accept `postgres://` / `postgresql://` URLs as deployments write them; use asyncpg."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def make_engine(settings: DatabaseSettings) -> AsyncEngine:
    """An engine with a bounded pool.

    No `pool_pre_ping`: it costs a round trip per checkout on the jobs hot path. Connections
    broken by a Postgres restart are invalidated when first used, and the callers retry.
    """
    if not settings.url:
        raise RuntimeError(
            "DATABASE_URL is not set (switchyard up sets it for the embedded server)"
        )
    return create_async_engine(
        async_url(settings.url),
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_recycle=1800,
        echo=settings.echo,
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
    return create_async_engine(
        async_url(settings.url),
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_recycle=1800,
        isolation_level="AUTOCOMMIT",
        echo=settings.echo,
        connect_args={"server_settings": server_settings},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
