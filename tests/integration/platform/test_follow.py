"""A job asking for a follow-up job: recorded with its outbox row, once per idempotency key,
and run by its pool's worker after the relay sends its command."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from infra.db import job as repo
from infra.db.engine import make_engine
from infra.redis import make_redis
from infra.settings import Settings
from tests.conftest import create_user
from workers.catalog.platform import NoopPayload, SleepPayload
from workers.context import WorkerResources
from workers.follow import follow_up


async def test_a_follow_up_runs_once_however_often_it_is_asked_for(
    settings: Settings, worker: Any
) -> None:
    await create_user(settings, "alice")
    engine = make_engine(settings.db)
    async with engine.connect() as conn:
        owner = (await conn.execute(text("SELECT id FROM users WHERE username = 'alice'"))).one()[0]
    res = WorkerResources(settings=settings, engine=engine, redis=make_redis(settings.redis))
    try:
        first = await follow_up(res, owner, "platform.noop", NoopPayload(), "next:1")
        assert await follow_up(res, owner, "platform.noop", NoopPayload(), "next:1") == first
        with pytest.raises(TypeError):
            await follow_up(res, owner, "platform.noop", SleepPayload(), "next:2")
        await worker("indexing", concurrency=1)
        for _ in range(200):
            async with engine.connect() as conn:
                job = await repo.get_job(conn, first, owner)
            if job is not None and job.status == "completed":
                break
            await asyncio.sleep(0.05)
        assert job is not None and job.status == "completed"
        async with engine.connect() as conn:
            count = "SELECT count(*) FROM jobs WHERE idempotency_key = 'next:1'"
            assert (await conn.execute(text(count))).scalar() == 1
    finally:
        await res.redis.aclose()
        await engine.dispose()
