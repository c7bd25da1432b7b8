"""The statement pool on the real Postgres: its size limit, its queue, and what it does with a
connection after an error, a cancellation or a drop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from infra.db.inventory import pool_dsn
from infra.db.statements import PoolClosedError, StatementPool


@pytest.fixture
async def make_pool(database_url: str) -> AsyncIterator[Callable[[int], StatementPool]]:
    pools: list[StatementPool] = []

    def make(size: int) -> StatementPool:
        pools.append(StatementPool(pool_dsn(database_url), size))
        return pools[-1]

    yield make
    for pool in pools:
        await pool.close()


async def busy_with_a_waiter(pool: StatementPool) -> tuple[asyncio.Task[Any], asyncio.Task[Any]]:
    """A one-connection pool's statement under way, and a caller queued behind it."""
    busy = asyncio.create_task(pool.fetchval("SELECT pg_sleep(0.2)"))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(pool.fetchval("SELECT 1"))
    await asyncio.sleep(0.05)
    return busy, waiting


async def test_never_opens_more_than_its_size(make_pool: Callable[[int], StatementPool]) -> None:
    pool = make_pool(3)
    pids = await asyncio.gather(
        *(pool.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.02)") for _ in range(20))
    )
    assert len(pids) == 20
    assert len(set(pids)) <= 3
    assert pool.open_connections <= 3


async def test_callers_are_served_in_arrival_order(
    make_pool: Callable[[int], StatementPool],
) -> None:
    pool = make_pool(1)
    done: list[int] = []

    async def run(n: int) -> None:
        await pool.fetchval("SELECT pg_sleep(0.02)")
        done.append(n)

    tasks = []
    for n in range(5):
        tasks.append(asyncio.create_task(run(n)))
        await asyncio.sleep(0.001)  # arrive in order
    await asyncio.gather(*tasks)
    assert done == [0, 1, 2, 3, 4]


async def test_a_postgres_error_keeps_the_connection(
    make_pool: Callable[[int], StatementPool],
) -> None:
    pool = make_pool(1)
    pid = await pool.fetchval("SELECT pg_backend_pid()")
    with pytest.raises(asyncpg.DivisionByZeroError):
        await pool.fetchval("SELECT 1 / 0")
    assert await pool.fetchval("SELECT pg_backend_pid()") == pid


async def test_a_cancelled_statement_closes_its_connection_and_frees_the_slot(
    make_pool: Callable[[int], StatementPool],
) -> None:
    pool = make_pool(1)
    pid = await pool.fetchval("SELECT pg_backend_pid()")
    slow = asyncio.create_task(pool.fetchval("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.2)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    # A connection cut off mid-statement is not handed to the next caller.
    after = await asyncio.wait_for(pool.fetchval("SELECT pg_backend_pid()"), 5)
    assert after != pid
    assert pool.open_connections == 1


async def test_a_cancelled_waiter_does_not_take_a_slot(
    make_pool: Callable[[int], StatementPool],
) -> None:
    pool = make_pool(1)
    busy, waiting = await busy_with_a_waiter(pool)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await busy
    assert await asyncio.wait_for(pool.fetchval("SELECT 2"), 5) == 2
    assert pool.open_connections == 1


async def test_a_connection_postgres_dropped_while_idle_is_replaced(
    make_pool: Callable[[int], StatementPool], database_url: str
) -> None:
    pool = make_pool(2)
    pids = set(
        await asyncio.gather(
            *(pool.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.05)") for _ in range(2))
        )
    )
    admin = await asyncpg.connect(pool_dsn(database_url))
    try:
        await admin.fetch("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)
    finally:
        await admin.close()
    await asyncio.sleep(0.2)  # the goodbye reaches the client and closes the idle connections
    fresh = await pool.fetchval("SELECT pg_backend_pid()")
    assert fresh not in pids
    assert pool.open_connections == 1


async def test_a_closed_pool_refuses_statements_and_its_waiters(
    make_pool: Callable[[int], StatementPool],
) -> None:
    pool = make_pool(1)
    busy, waiting = await busy_with_a_waiter(pool)
    await pool.close()
    with pytest.raises(PoolClosedError):
        await waiting
    with pytest.raises((asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError)):
        await busy
    with pytest.raises(PoolClosedError):
        await pool.fetchval("SELECT 1")
    assert pool.open_connections == 0
