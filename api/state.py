"""Per-process resources the routes share, built once in the app's lifespan."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar import Request
from litestar.datastructures import State
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from events.hub import Hub
from events.stream import EventPublisher, StreamKeys
from infra.batching import GroupCommit
from infra.blob.error import BackendUnavailable
from infra.blob.store import BlobStore
from infra.security import Principal
from infra.settings import Settings

# May this caller (None: no token) read the topic `<scope>:<ident>`? One per scope a service
# owns ("session").
TopicAuthorizer = Callable[["Resources", Principal | None, str], Awaitable[bool]]


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
    # The one blob store of this process; opened at start-up, or on first use when the
    # backend was not reachable then (an S3 outage must not keep the API down).
    blob: BlobStore
    # Who may read each topic scope the services declare, beyond the platform's job/user.
    topic_authorizers: Mapping[str, TopicAuthorizer] = field(default_factory=dict)
    # What each service's own lifespan yielded, by service name; read it through
    # `Service.state(request)` or a `StateOf`, which know its type.
    service_state: dict[str, Any] = field(default_factory=dict)
    _blob_open: bool = False
    _blob_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def blobs(self) -> BlobStore:
        """The blob store, opened; BackendUnavailable (a 503) while it cannot be reached."""
        async with self._blob_lock:
            if not self._blob_open:
                try:
                    await self.blob.open()
                except Exception as exc:
                    raise BackendUnavailable(f"blob store not available: {exc}") from exc
                self._blob_open = True
        return self.blob

    async def close_blob(self) -> None:
        if self._blob_open:
            await self.blob.close()
            self._blob_open = False


def resources(state: State) -> Resources:
    res: Resources = state.resources
    return res


def from_request(request: Request[Any, Any, Any]) -> Resources:
    return resources(request.app.state)
