"""A service declares itself once; the app factory mounts every declaration.

A declaration is what the platform needs to serve one contract under its prefix: the routes,
the contract's error shape and its table of domain errors, the CORS policy, the topic scopes
its WebSocket clients may read, and a lifespan for resources of its own. Nothing else in
`api/app.py` knows a service by name.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from litestar import Request, Router
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from api.error import ErrorShape
from api.state import Resources, TopicAuthorizer, from_request
from infra.settings import Settings

S = TypeVar("S")

Lifespan = Callable[[Resources], contextlib.AbstractAsyncContextManager[S]]


def under(prefix: str, path: str) -> bool:
    """Is `path` the prefix or below it? Every path is under the empty prefix."""
    return path == prefix or path.startswith(prefix + "/")


@contextlib.asynccontextmanager
async def no_state(_: Resources) -> AsyncIterator[None]:
    yield None


@dataclass(frozen=True)
class StateOf(Generic[S]):
    """Reads what service `name`'s lifespan yielded, in this process, as its type. Routes
    are written before their `Service` exists, so they hold one of these by the name."""

    name: str

    def __call__(self, request: Request[Any, Any, Any]) -> S:
        value: S = from_request(request).service_state[self.name]
        return value


@dataclass(frozen=True, kw_only=True)
class Service(Generic[S]):
    """One contract served under `prefix`."""

    name: str
    prefix: str
    routes: Sequence[ControllerRouterHandler]
    errors: ErrorShape
    # The service's domain exceptions → (HTTP status, code), in its error shape.
    domain_errors: Mapping[type[Exception], tuple[int, str]] = field(default_factory=dict)
    # A failed job's error code → the HTTP status a waiting route answers (default 500).
    job_errors: Mapping[str, int] = field(default_factory=dict)
    dependencies: Mapping[str, Provide] = field(default_factory=dict)
    # The CORS policy under the prefix, read from settings; None: no CORS headers.
    cors: Callable[[Settings], CORSConfig | None] = lambda _: None
    # Topic scopes this service publishes to ("session") and who may read them.
    topics: Mapping[str, TopicAuthorizer] = field(default_factory=dict)
    # Resources of the service's own, opened with the app and closed after it.
    lifespan: Lifespan[S] = no_state  # type: ignore[assignment]
    # The service's own docs page under its prefix (the contract may promise one).
    docs_path: str = "/docs"

    def router(self) -> Router:
        return Router(
            path=self.prefix,
            route_handlers=list(self.routes),
            dependencies=dict(self.dependencies),
            exception_handlers=self.errors.handlers(self.domain_errors),
        )

    def owns(self, path: str) -> bool:
        return under(self.prefix, path)

    def state(self, request: Request[Any, Any, Any]) -> S:
        """What this service's lifespan yielded, in this process."""
        return StateOf[S](self.name)(request)
