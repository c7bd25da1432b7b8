"""Per-process resources the routes share, built once in the app's lifespan."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from litestar import Request
from litestar.datastructures import State
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from events.hub import Hub
from events.stream import EventPublisher, StreamKeys
from infra.batching import GroupCommit
from infra.settings import Settings


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    autocommit: AsyncEngine
    # Commits that may be lost in a Postgres crash without harm (outbox clean-up).
    lazy_commit: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    keys: StreamKeys
    publisher: EventPublisher
    hub: Hub
    # Outbox rows of commands already on their stream, deleted in batches off the request path.
    outbox: GroupCommit[uuid.UUID, None]
    extra: dict[str, Any] = field(default_factory=dict)


def resources(state: State) -> Resources:
    res: Resources = state.resources
    return res


def from_request(request: Request[Any, Any, Any]) -> Resources:
    return resources(request.app.state)
