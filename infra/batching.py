"""Group commit: many small writes that arrive together go out as one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("switchyard.batching")


class GroupCommit(Generic[T, R]):
    """Whatever is submitted while the previous batch is being written goes out together in
    one `write(batch)` call. A lone item is written at once, so batching adds no latency; under
    load it turns N round trips into one.

    With `linger_s`, a batch waits that long after its first item before it is written.

    `write` returns one result per item, in order; if it raises, every waiting item of that
    batch gets the exception (items added with `defer` only get a log line).

    The writing task lives only while there is something to write: once the queue is empty
    it ends, so no task is left pending when its event loop closes.
    """

    def __init__(
        self, write: Callable[[list[T]], Awaitable[list[R]]], name: str, linger_s: float = 0.0
    ) -> None:
        self._write = write
        self._name = name
        # Wait this long after the first item of a batch for others to join it: for writes
        # whose cost hardly grows with the batch (a pass through a network on a GPU).
        self._linger_s = linger_s
        self._queue: list[tuple[T, asyncio.Future[R] | None]] = []
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def _enqueue(self, item: T, fut: asyncio.Future[R] | None) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)
        self._queue.append((item, fut))
        self._idle.clear()

    async def submit(self, item: T) -> R:
        """Write `item` with the next batch and return its result."""
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._enqueue(item, fut)
        return await asyncio.shield(fut)

    def defer(self, item: T) -> None:
        """Write `item` with the next batch without waiting for it."""
        self._enqueue(item, None)

    async def drain(self) -> None:
        """Wait until everything submitted so far has been written (or has failed)."""
        await self._idle.wait()

    async def _run(self) -> None:
        while self._queue:
            if self._linger_s > 0:
                await asyncio.sleep(self._linger_s)
            batch, self._queue = self._queue, []
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as exc:
                if all(fut is None for _, fut in batch):
                    log.warning("%s: %d deferred write(s) failed: %s", self._name, len(batch), exc)
                for _, fut in batch:
                    if fut is not None and not fut.done():
                        fut.set_exception(exc)
            else:
                for (_, fut), result in zip(batch, results, strict=True):
                    if fut is not None and not fut.done():
                        fut.set_result(result)
        self._idle.set()
