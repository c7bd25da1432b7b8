"""The UniRig web API contract under /rigging: anonymous sessions with CSRF, uploads, the
skeleton / skinning / merge jobs on the `rigging` pool, results and the session socket."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

from api.rigging.error import DOMAIN_ERRORS, ERRORS
from api.rigging.route import NAME, ROUTES
from api.rigging.service import RiggingState
from api.service import Service
from api.state import Resources
from infra.db import rigging as repo
from infra.security import Principal


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
    lifespan=_lifespan,
    docs_path="/api/docs",
)
