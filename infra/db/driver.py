"""Hot-path statements straight on asyncpg, under SQLAlchemy's pool and transactions.

The one way besides SQLAlchemy sessions for any service to reach Postgres. SQLAlchemy's async
execution layer (greenlet hop, cursor adaptation, result rows) costs several times what a
small statement costs asyncpg, so hot statements (a job's submit, claim and finish; the
inventory's list, get and create) are built with SQLAlchemy Core, compiled once, and run on
the checked-out connection's own asyncpg driver, inside whatever transaction that SQLAlchemy
connection is in. Everything else stays plain SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


class AttrRecord(asyncpg.Record):  # type: ignore[misc]
    """A row that also reads as attributes (`row.id`), like SQLAlchemy's Row."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def compile_for_asyncpg(stmt: ClauseElement) -> tuple[str, tuple[str, ...]]:
    """SQL text with $n placeholders, and the parameter names in their order."""
    compiled = stmt.compile(dialect=_DIALECT)
    return compiled.string, tuple(compiled.positiontup or ())  # type: ignore[attr-defined]


_compiled = lru_cache(maxsize=256)(compile_for_asyncpg)


async def fetch(
    conn: AsyncConnection, stmt: ClauseElement, params: Mapping[str, Any]
) -> list[AttrRecord]:
    """Run a compiled-once statement on the connection's asyncpg driver; rows as AttrRecords."""
    sql, names = _compiled(stmt)
    driver: asyncpg.Connection = (await conn.get_raw_connection()).driver_connection
    return await fetch_sql(driver, sql, [params[n] for n in names])


async def fetch_sql(conn: asyncpg.Connection, sql: str, args: Sequence[Any]) -> list[AttrRecord]:
    """Run SQL compiled by `compile_for_asyncpg` with its positional arguments (on a
    connection from `infra.db.engine.statement`, or a SQLAlchemy connection's driver)."""
    return await conn.fetch(sql, *args, record_class=AttrRecord)  # type: ignore[no-any-return]
