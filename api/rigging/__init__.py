"""The UniRig web API contract under /rigging: anonymous sessions with CSRF, uploads, the
skeleton / skinning / merge jobs on the `rigging` pool, results and the session socket."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

from litestar.config.cors import CORSConfig

from api.rigging.error import DOMAIN_ERRORS, ERRORS
from api.rigging.route import NAME, ROUTES
from api.rigging.service import RiggingState
from api.service import Service
from api.state import Resources
from infra.db import rigging as repo
from infra.security import Principal
from infra.settings import Settings


async def _may_read(res: Resources, principal: Principal | None, ident: str) -> bool:
    """A session's topic, for the contract socket: its name is derived from the secret
    session id by that route alone (platform users have no business here; admins may)."""
    if principal is not None:
        return False
    try:
        session = uuid.UUID(ident)
    except ValueError:
        return False
    async with res.autocommit.connect() as conn:
        return await repo.session_exists(conn, session)


def _cors(settings: Settings) -> CORSConfig | None:
    """A UI on another origin sends the session cookie and the CSRF header: both allowed
    for the origins the operator names, and for none by default."""
    origins = list(settings.rigging.cors_origins)
    if not origins:
        return None
    return CORSConfig(
        allow_origins=origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type", "X-CSRF-Token"],
        allow_credentials=True,
    )


@contextlib.asynccontextmanager
async def _lifespan(_: Resources) -> AsyncIterator[RiggingState]:
    yield RiggingState()


SERVICE: Service[RiggingState] = Service(
    name=NAME,
    prefix="/rigging",
    routes=ROUTES,
    errors=ERRORS,
    domain_errors=DOMAIN_ERRORS,
    topics={"rigging": _may_read},
    cors=_cors,
    lifespan=_lifespan,
    docs_path="/api/docs",
)
