"""Contract identities: every user has a stable integer number, and an optional email that no
two users share in any letter case; migration 0004 numbers existing users and undoes itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

import infra.db.table  # noqa: F401  (every table on Base.metadata, as migrations see it)
from infra.db import user as users_repo
from infra.db.base import Base
from infra.db.engine import async_url, make_engine, make_sessionmaker, plain_dsn
from infra.db.migrate import alembic_config, scratch_database
from infra.settings import Settings


def sql(url: str, statement: str) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(plain_dsn(url))
        try:
            rows: list[asyncpg.Record] = await conn.fetch(statement)
            return rows
        finally:
            await conn.close()

    return asyncio.run(run())


def user_columns(url: str) -> set[str]:
    rows = sql(url, "SELECT column_name FROM information_schema.columns WHERE table_name='users'")
    return {r["column_name"] for r in rows}


def schema_drift(url: str) -> list[Any]:
    """What Alembic would still change in `users` to match the model (nothing, when in step)."""

    def compare(conn: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

    async def run() -> list[Any]:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(compare)
        finally:
            await engine.dispose()

    return [d for d in asyncio.run(run()) if "'users'" in repr(d)]


def insert_user(name: str, created: str) -> str:
    return (
        "INSERT INTO users (id, username, display_name, password_hash, roles, created_at)"
        f" VALUES (gen_random_uuid(), '{name}', '{name}', 'x', '{{user}}', '{created}')"
    )


def test_0004_numbers_existing_users_in_creation_order_and_downgrades(
    server_urls: dict[str, str],
) -> None:
    with scratch_database(server_urls["postgres"], prefix="sy_0004") as url:
        cfg = alembic_config(url)
        command.downgrade(cfg, "0003")
        assert not {"number", "email"} & user_columns(url)
        # Inserted out of creation order: numbers follow created_at, not the insert order.
        sql(url, insert_user("carol", "2026-03-01T00:00:00Z"))
        sql(url, insert_user("alice", "2026-01-01T00:00:00Z"))
        sql(url, insert_user("bob", "2026-02-01T00:00:00Z"))

        command.upgrade(cfg, "0004")
        rows = sql(url, "SELECT username, number FROM users ORDER BY number")
        assert [(r["username"], r["number"]) for r in rows] == [
            ("alice", 1),
            ("bob", 2),
            ("carol", 3),
        ]
        # The identity continues after the backfill, and nobody may pick their own number.
        sql(url, insert_user("dave", "2026-04-01T00:00:00Z"))
        assert sql(url, "SELECT number FROM users WHERE username = 'dave'")[0]["number"] == 4
        with pytest.raises(asyncpg.GeneratedAlwaysError):
            sql(url, "UPDATE users SET number = 99 WHERE username = 'dave'")
        assert schema_drift(url) == []

        command.downgrade(cfg, "0003")
        assert not {"number", "email"} & user_columns(url)
        assert len(sql(url, "SELECT id FROM users")) == 4
        command.upgrade(cfg, "head")
        assert {"number", "email"} <= user_columns(url)


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings.db)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_a_created_user_gets_a_number(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        alice = await users_repo.create_user(session, "alice", "x", ["user"])
        bob = await users_repo.create_user(session, "bob", "x", ["user"], email="bob@example.com")
    assert alice.number > 0
    assert bob.number > alice.number
    assert alice.email is None
    async with sessions() as session:
        found = await users_repo.get_by_number(session, bob.number)
        assert found is not None and found.id == bob.id
        assert await users_repo.get_by_number(session, bob.number + 1000) is None


async def test_emails_are_unique_in_any_case(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        alice = await users_repo.create_user(
            session, "alice", "x", ["user"], email="Alice@Example.com"
        )
        await users_repo.create_user(session, "anon1", "x", ["user"])
        await users_repo.create_user(session, "anon2", "x", ["user"])  # many users lack one
    with pytest.raises(IntegrityError, match="uq_users_email_lower"):
        async with sessions.begin() as session:
            await users_repo.create_user(
                session, "alice2", "x", ["user"], email="alice@example.COM"
            )
    async with sessions() as session:
        found = await users_repo.get_by_email(session, "ALICE@example.com")
        assert found is not None and found.id == alice.id
        assert await users_repo.get_by_email(session, "nobody@example.com") is None


async def test_the_cli_sets_an_email_and_refuses_another_users(settings: Settings) -> None:
    from infra.cli import CliError, ensure_user

    assert await ensure_user(settings, "carol", "correct-horse", ["user"], email="C@Lab.org")
    with pytest.raises(CliError, match="already another user's"):
        await ensure_user(settings, "dave", "correct-horse", ["user"], email="c@lab.ORG")
    engine = make_engine(settings.db)
    try:
        async with make_sessionmaker(engine)() as session:
            carol = await users_repo.get_by_email(session, "c@lab.org")
            assert carol is not None and carol.username == "carol"
            assert await users_repo.get_by_username(session, "dave") is None
    finally:
        await engine.dispose()
