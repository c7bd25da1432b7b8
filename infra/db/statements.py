"""A pool of asyncpg connections for single autocommit statements (the inventory's reads and
creates).

asyncpg's own `Pool` makes every statement pay for what a transaction pool needs: a shielded
task and a timeout around each release, a reset hook, an idle timer set and cancelled per use.
On the inventory's hot path that was 40-90 µs of CPU per statement, as much as the statement
itself (`python -m bench.inventory` prints the list statement on both). Here a statement
borrows an idle connection, runs, and gives it back; nothing outlives a statement on a
connection, so there is nothing to reset.

A connection goes back to the pool only when its statement ended cleanly or with an error
Postgres reported (the connection is then idle and sane). After anything else (a cancelled
request mid-statement, a dropped socket, a protocol error) it is closed, and the next caller
opens a fresh one.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")


def _ends_session(exc: asyncpg.PostgresError) -> bool:
    """Connection errors (class 08) and the server going away (57P01-57P05: shutdown, crash,
    database dropped, idle timeout) leave a connection that must not be used again."""
    state = getattr(exc, "sqlstate", None) or ""
    return state.startswith(("08", "57P"))


class PoolClosedError(RuntimeError):
    """A statement was sent to a pool after `close()`."""


class StatementPool:
    """At most `size` connections; callers queue in arrival order when all are busy."""

    def __init__(
        self, dsn: str, size: int, *, server_settings: dict[str, str] | None = None
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one connection")
        self._dsn = dsn
        self._size = size
        self._server_settings = server_settings or {}
        self._idle: list[asyncpg.Connection] = []
        self._busy: set[asyncpg.Connection] = set()
        self._opening = 0
        # Each waiter is handed a connection, or None: "a slot is free, open one yourself".
        self._waiters: collections.deque[asyncio.Future[asyncpg.Connection | None]] = (
            collections.deque()
        )
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    @property
    def open_connections(self) -> int:
        return len(self._idle) + len(self._busy) + self._opening

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run(lambda conn: conn.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self._run(lambda conn: conn.fetchrow(sql, *args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run(lambda conn: conn.fetchval(sql, *args))

    async def _run(self, statement: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        conn = await self._acquire()
        try:
            result = await statement(conn)
        except asyncpg.PostgresError as exc:
            # The server answered with an error: unless it is ending the session, the
            # connection is idle again and reusable.
            if _ends_session(exc):
                self._discard(conn)
            else:
                self._release(conn)
            raise
        except BaseException:
            self._discard(conn)
            raise
        self._release(conn)
        return result

    async def _acquire(self) -> asyncpg.Connection:
        if self._closed:
            raise PoolClosedError("the statement pool is closed")
        while self._idle:
            conn = self._idle.pop()  # the most recently used: warm caches, fewer idle sockets
            if conn.is_closed():  # Postgres ended it while it sat idle
                conn.terminate()
                continue
            self._busy.add(conn)
            return conn
        if self.open_connections < self._size:
            return await self._open()
        waiter: asyncio.Future[asyncpg.Connection | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiters.append(waiter)
        try:
            handed = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Cancelled after being handed a connection or a slot: pass it on.
                handed = waiter.result()
                if handed is None:
                    self._free_slot()
                else:
                    self._release(handed)
            elif waiter in self._waiters:  # a release may have dropped it already
                self._waiters.remove(waiter)
            raise
        if handed is None:
            return await self._open()
        return handed

    async def _open(self) -> asyncpg.Connection:
        self._opening += 1
        try:
            conn: asyncpg.Connection = await asyncpg.connect(
                self._dsn, server_settings=self._server_settings
            )
        except BaseException:
            self._opening -= 1
            self._free_slot()
            raise
        self._opening -= 1
        if self._closed:
            conn.terminate()
            raise PoolClosedError("the statement pool is closed")
        self._busy.add(conn)
        return conn

    def _release(self, conn: asyncpg.Connection) -> None:
        self._busy.discard(conn)
        if self._closed or conn.is_closed():
            conn.terminate()
            self._free_slot()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._busy.add(conn)
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _discard(self, conn: asyncpg.Connection) -> None:
        self._busy.discard(conn)
        conn.terminate()
        self._free_slot()

    def _free_slot(self) -> None:
        """A connection is gone: the first live waiter may open a new one."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        """Close idle connections politely and busy ones at once; later statements fail."""
        idle = self._shut()
        await asyncio.gather(*(c.close(timeout=5) for c in idle), return_exceptions=True)

    def terminate(self) -> None:
        """Close every connection at once (no goodbye to the server)."""
        for conn in self._shut():
            conn.terminate()

    def _shut(self) -> list[asyncpg.Connection]:
        """Refuse new statements, fail the waiting ones, cut the busy connections; the idle
        connections are the caller's to close."""
        self._closed = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(PoolClosedError("the statement pool is closed"))
        self._waiters.clear()
        for conn in self._busy:
            conn.terminate()
        self._busy.clear()
        idle, self._idle = self._idle, []
        return idle
