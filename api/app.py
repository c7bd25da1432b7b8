"""The Litestar app factory: platform routes, service routers, resources and error mapping."""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Litestar, Request, get
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import AuthController, current_principal
from api.errors import EXCEPTION_HANDLERS
from api.inventory import PREFIX as INVENTORY_PREFIX
from api.jobs import JobController
from api.ops import admin_pools, health, metrics, ready
from api.services import SERVICE_ROUTERS
from api.state import Resources
from api.ws import events_socket
from events.hub import Hub
from events.stream import EventPublisher
from infra import logs
from infra.batching import GroupCommit
from infra.blob.factory import make_blob_store
from infra.db.engine import make_autocommit_engine, make_engine, make_sessionmaker
from infra.db.jobs import delete_outbox
from infra.redis import make_redis, stream_keys
from infra.settings import Settings, get_settings

log = logging.getLogger("switchyard.api")


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Honour `X-Request-Id` (or make one), expose it to logs and echo it on the response."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
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
        token = logs.request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(token)

    return middleware


def preflight_errors(app: ASGIApp) -> ASGIApp:
    """Give a refused CORS preflight a JSON error body.

    Litestar's CORS middleware refuses a preflight (an origin, method or header not allowed)
    with a plain-text 400 of its own, outside every exception handler. Clients of these
    contracts parse errors as JSON: under /inventory the contract's `{"error", "code"}`,
    elsewhere the platform's `{"detail", "code"}`. The status and the refusal are unchanged.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await app(scope, receive, send)
            return
        held: Message | None = None

        async def reshape(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] == 400:
                held = message  # decided on seeing the body
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            start, held = held, None
            text = bytes(message.get("body", b""))
            if not text.startswith(b"Disallowed CORS "):
                await send(start)
                await send(message)
                return
            refused = text.removeprefix(b"Disallowed CORS ").decode().lower()
            detail = f"CORS preflight refused: {refused} not allowed"
            key = "error" if scope["path"].startswith(INVENTORY_PREFIX + "/") else "detail"
            body = msgspec.json.encode({key: detail, "code": "BAD_REQUEST"})
            headers = [
                (name, value)
                for name, value in start.get("headers", [])
                if name.lower() not in (b"content-type", b"content-length")
            ]
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await app(scope, receive, reshape)

    return middleware


async def _delete_outbox(engine: AsyncEngine, job_ids: list[uuid.UUID]) -> list[None]:
    """Outbox rows whose commands reached their stream. Losing this in a crash costs one
    duplicate command (deduplicated at claim), so it runs without waiting for the WAL flush."""
    async with engine.connect() as conn:
        await delete_outbox(conn, job_ids)
    return [None] * len(job_ids)


@get("/openapi.json", include_in_schema=False)
async def openapi_json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return request.app.openapi_schema.to_schema()


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the API; resources are opened in the lifespan so importing this is cheap."""
    settings = settings or get_settings()

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
        )
        # One blob store per process, shared by every route that keeps files. An unreachable
        # S3 must not keep the API (jobs, auth, other services) down: routes open it later.
        blob = make_blob_store(settings)
        try:
            await blob.open()
            res.extra["blob"] = blob
        except Exception as exc:
            log.warning("blob store not available at startup (%s); opened on first use", exc)
        app.state.resources = res
        await hub.start()
        try:
            yield
        finally:
            await res.outbox.drain()
            await hub.stop()
            if "blob" in res.extra:
                await blob.close()
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
            openapi_json,
            *SERVICE_ROUTERS,
        ],
        dependencies={"principal": Provide(current_principal)},
        lifespan=[lifespan],
        middleware=[request_id_middleware],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.api.max_body_bytes,
        # CORS is app-wide in Litestar; the inventory contract's values are the defaults.
        cors_config=CORSConfig(
            allow_origins=list(settings.inventory.cors_origins),
            allow_methods=list(settings.inventory.cors_methods),  # type: ignore[arg-type]
            allow_headers=list(settings.inventory.cors_headers),
        ),
        openapi_config=OpenAPIConfig(
            title="Switchyard",
            version="0.1.0",
            description="One job platform for the robodata, inventory, inspection, rigging "
            "and studio services.",
            path="/docs",
            render_plugins=[SwaggerRenderPlugin(path="/")],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
            security=[{"bearer": []}],
        ),
        debug=False,
    )
    # Outside Litestar's CORS middleware, which sits above every middleware a route can have.
    app.asgi_handler = preflight_errors(app.asgi_handler)
    return app
