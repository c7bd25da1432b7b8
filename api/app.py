"""The Litestar app factory: platform routes, every declared service, resources and errors."""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncEngine

import infra.log
from api.auth import AuthController
from api.blob import blob_router
from api.cors import CorsPolicy, cors_middleware
from api.docs import ClosedStructSchemaPlugin, docs_routes, openapi_config
from api.error import EXCEPTION_HANDLERS, PLATFORM_ERRORS
from api.input import JsonRequest, input_middleware
from api.job import JobController
from api.operation import admin_pools, health, metrics, ready
from api.principal import current_principal
from api.registry import SERVICES
from api.service import Service
from api.state import Resources, TopicAuthorizer
from api.ws import events_socket
from events.hub import Hub
from events.stream import EventPublisher
from infra.batching import GroupCommit
from infra.blob.factory import make_blob_store
from infra.db.engine import make_autocommit_engine, make_engine, make_sessionmaker
from infra.db.job import delete_outbox
from infra.redis import make_redis, stream_keys
from infra.settings import Settings, get_settings

log = logging.getLogger("switchyard.api")


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Honour `X-Request-Id` (or make one), expose it to logs and echo it on the response."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:200]
                break
        # 128 random bits, as uuid4 has; without a getrandom syscall per request (an id for
        # logs, not a secret).
        rid = rid or f"{random.getrandbits(128):032x}"
        token = infra.log.request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            infra.log.request_id.reset(token)

    return middleware


async def _delete_outbox(engine: AsyncEngine, job_ids: list[uuid.UUID]) -> list[None]:
    """Outbox rows whose commands reached their stream. Losing this in a crash costs one
    duplicate command (deduplicated at claim), so it runs without waiting for the WAL flush."""
    async with engine.connect() as conn:
        await delete_outbox(conn, job_ids)
    return [None] * len(job_ids)


def _topic_authorizers(services: Sequence[Service[Any]]) -> dict[str, TopicAuthorizer]:
    """Each topic scope's authorizer; a scope two services declare would let one decide who
    reads the other's topics, so it is refused at start."""
    authorizers: dict[str, TopicAuthorizer] = {}
    for service in services:
        for scope, check in service.topics.items():
            if scope in authorizers:
                raise ValueError(f"topic scope {scope!r} is declared by two services")
            authorizers[scope] = check
    return authorizers


def create_app(
    settings: Settings | None = None, services: Sequence[Service[Any]] = SERVICES
) -> Litestar:
    """Build the API; resources are opened in the lifespan so importing this is cheap."""
    settings = settings or get_settings()
    services = list(services)
    topic_authorizers = _topic_authorizers(services)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = make_engine(settings.db)
        autocommit = make_autocommit_engine(settings.db)
        lazy_commit = make_autocommit_engine(settings.db, durable=False)
        redis = make_redis(settings.redis)
        keys = stream_keys(settings.redis)
        hub = Hub(redis, keys, queue_size=settings.api.ws_queue)
        res = Resources(
            settings=settings,
            engine=engine,
            autocommit=autocommit,
            lazy_commit=lazy_commit,
            sessions=make_sessionmaker(engine),
            redis=redis,
            keys=keys,
            publisher=EventPublisher(
                redis,
                keys,
                retention_s=settings.jobs.event_retention_s,
                maxlen=settings.jobs.event_maxlen,
                fanout_maxlen=settings.jobs.fanout_maxlen,
            ),
            hub=hub,
            outbox=GroupCommit(functools.partial(_delete_outbox, lazy_commit), "outbox-cleanup"),
            blob=make_blob_store(settings),
            topic_authorizers=topic_authorizers,
        )
        # An unreachable blob store must not keep the API (jobs, auth, other services) down:
        # routes that keep files open it on first use.
        try:
            await res.blobs()
        except Exception as exc:
            log.warning("%s", exc)
        app.state.resources = res
        await hub.start()
        try:
            async with contextlib.AsyncExitStack() as stack:
                for service in services:
                    res.service_state[service.name] = await stack.enter_async_context(
                        service.lifespan(res)
                    )
                yield
        finally:
            await res.outbox.drain()
            await hub.stop()
            await res.close_blob()
            await redis.aclose()
            await engine.dispose()
            await autocommit.dispose()
            await lazy_commit.dispose()

    app = Litestar(
        route_handlers=[
            AuthController,
            JobController,
            health,
            ready,
            metrics,
            admin_pools,
            events_socket,
            blob_router,
            *docs_routes(services),
            *(service.router() for service in services),
        ],
        dependencies={"principal": Provide(current_principal)},
        lifespan=[lifespan],
        middleware=[request_id_middleware, input_middleware],
        request_class=JsonRequest,
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.api.max_body_bytes,
        openapi_config=openapi_config(),
        plugins=[ClosedStructSchemaPlugin()],
        debug=False,
        # Logging is ours (JSON lines, infra.log): Litestar must not replace the root handlers.
        logging_config=None,
    )
    policies = [
        CorsPolicy(service.prefix, config, service.errors)
        for service in services
        if (config := service.cors(settings)) is not None
    ]
    # The platform's own routes: every path no service policy owns.
    platform = CORSConfig(
        allow_origins=list(settings.api.cors_origins),
        allow_methods=list(settings.api.cors_methods),  # type: ignore[arg-type]
        allow_headers=list(settings.api.cors_headers),
    )
    policies.append(CorsPolicy("", platform, PLATFORM_ERRORS))
    app.asgi_handler = cors_middleware(app.asgi_handler, policies)
    return app
