"""A small Litestar app whose routes use `api.limit` and `api.access`, for the tests of both.

Run in the test's loop with `live_app`, or as its own process:
`python -m uvicorn --factory tests.integration.platform.limit_app:create_app` (settings from
the environment, as `switchyard api` reads them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Request, get
from litestar.params import FromPath, FromQuery
from redis.asyncio import Redis

from api.access import bearer, networks, signed, signed_url
from api.error import EXCEPTION_HANDLERS, NotFound
from api.limit import RateLimit, per_session
from events.stream import StreamKeys
from infra.redis import make_redis, stream_keys
from infra.settings import Settings, load_settings
from tests.conftest import LiveServer


@dataclass
class AppResources:
    """The part of `api.state.Resources` that limits and access policies read."""

    settings: Settings
    redis: Redis
    keys: StreamKeys


@get("/limited/{session:str}", middleware=[RateLimit(10, per="hour", key=per_session())])
async def limited(session: FromPath[str], fail: FromQuery[bool] = False) -> dict[str, str]:
    if fail:
        raise NotFound(f"no session {session}")
    return {"session": session}


@get("/brief", middleware=[RateLimit.parse("2 per 1 second per session")])
async def brief(session: FromQuery[str]) -> dict[str, str]:
    return {"session": session}


@get("/open", guards=[networks()])
async def open_route() -> dict[str, bool]:
    return {"open": True}


@get("/mine", guards=[bearer])
async def mine() -> dict[str, bool]:
    return {"mine": True}


@get("/link/{name:str}")
async def link(
    request: Request[Any, Any, Any], name: FromPath[str], ttl_s: FromQuery[int] = 60
) -> dict[str, str]:
    return {"url": signed_url(request, f"/download/{name}", {"as": "text"}, ttl_s=ttl_s)}


@get("/download/{name:str}", guards=[signed], security=[{}])
async def download(name: FromPath[str]) -> dict[str, str]:
    return {"name": name}


def create_app(settings: Settings | None = None) -> Litestar:
    """The test app on `settings` (default: from the environment)."""
    s = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        redis = make_redis(s.redis)
        app.state.resources = AppResources(settings=s, redis=redis, keys=stream_keys(s.redis))
        try:
            yield
        finally:
            await redis.aclose()

    return Litestar(
        route_handlers=[limited, brief, open_route, mine, link, download],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        # Litestar's default logging config replaces the root handlers, pytest's among them.
        logging_config=None,
    )


def live_app(settings: Settings, **server: Any) -> LiveServer:
    """The test app on a real uvicorn server in this event loop; `server`: uvicorn options."""
    return LiveServer(create_app(settings), **server)
