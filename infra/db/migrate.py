"""Alembic, driven from code: `switchyard migrate` and the tests use the same path."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config

from infra.db.engine import async_url

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation treats % specially (URL-encoded passwords contain it).
    cfg.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (blocking; run it outside the event loop)."""
    command.upgrade(alembic_config(database_url), revision)


def _plain_dsn(url: str, database: str | None = None) -> str:
    """The URL as asyncpg takes it (no `+driver`), optionally naming another database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(async_url(url)).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _admin(admin_url: str, sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(_plain_dsn(admin_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextmanager
def scratch_database(admin_url: str, prefix: str = "sy_scratch") -> Iterator[str]:
    """A new database migrated to head (for tests and benchmarks), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        url = _plain_dsn(admin_url, name)
        upgrade(url)
        yield url
    finally:
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
