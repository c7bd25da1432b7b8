"""Group commit: concurrent writes share batches, each caller gets its own result."""

from __future__ import annotations

import asyncio

import pytest

from infra.batching import GroupCommit


async def test_writes_arriving_together_share_one_batch_and_keep_their_results() -> None:
    batches: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)  # a round trip: what arrives meanwhile waits for the next
        return [i * 10 for i in items]

    gc: GroupCommit[int, int] = GroupCommit(write, "test")
    results = await asyncio.gather(*(gc.submit(i) for i in range(50)))
    assert results == [i * 10 for i in range(50)]
    assert sorted(i for b in batches for i in b) == list(range(50))
    assert len(batches) <= 2  # the first item alone, then everything that queued behind it


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def write(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        return items

    gc: GroupCommit[str, str] = GroupCommit(write, "test")
    with pytest.raises(ConnectionError):
        await gc.submit("a")
    assert await gc.submit("b") == "b"


async def test_deferred_items_are_written_and_drain_waits_for_them() -> None:
    written: list[int] = []

    async def write(items: list[int]) -> list[None]:
        await asyncio.sleep(0.01)
        written.extend(items)
        return [None] * len(items)

    gc: GroupCommit[int, None] = GroupCommit(write, "test")
    for i in range(20):
        gc.defer(i)
    await asyncio.wait_for(gc.drain(), 5)
    assert written == list(range(20))


async def test_with_a_linger_items_that_arrive_one_by_one_still_share_the_first_batch() -> None:
    batches: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        batches.append(items)
        return items

    gc: GroupCommit[int, int] = GroupCommit(write, "test", linger_s=0.2)

    async def later(i: int) -> int:
        await asyncio.sleep(0.01 * i)  # each a little after the one before
        return await gc.submit(i)

    assert await asyncio.gather(*(later(i) for i in range(4))) == [0, 1, 2, 3]
    # Without the linger the first item would have been written alone.
    assert batches == [[0, 1, 2, 3]]


async def test_nothing_is_left_running_once_the_queue_is_written() -> None:
    # A writer task left waiting forever is destroyed pending when its loop closes (the API's
    # outbox cleanup logged "Task was destroyed but it is pending!" at shutdown).
    async def write(items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        return items

    gc: GroupCommit[int, int] = GroupCommit(write, "left-behind")
    for round_ in range(2):  # and it starts again for the next item
        assert await asyncio.gather(*(gc.submit(i) for i in range(5))) == list(range(5))
        await gc.drain()
        await asyncio.sleep(0)
        assert [t for t in asyncio.all_tasks() if t.get_name() == "left-behind"] == [], round_
