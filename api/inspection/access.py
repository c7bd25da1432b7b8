"""Who may call the inspection routes.

The contract has no auth and its GUI sends no token, so callers on the open networks
(`SWITCHYARD_INSPECTION_OPEN_NETWORKS`, loopback by default) need none; their jobs belong to
the service's own account. From anywhere else a bearer token of a user with the `inspection`
role (or an admin) is required. A token that is sent is always checked.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request

from api.access import networks
from api.error import Forbidden
from api.inspection.state import state
from api.principal import bearer_token, current_principal
from api.state import from_request
from infra.db.engine import transaction
from infra.db.inspection import SERVICE_ACCOUNT, service_account
from infra.security import Principal

ROLE = "inspection"


async def _open_network(request: Request[Any, Any, Any]) -> bool:
    cidrs = from_request(request).settings.inspection.open_networks
    try:
        await networks(cidrs)(request, request.route_handler)
    except Forbidden:
        return False
    return True


async def _service_principal(request: Request[Any, Any, Any]) -> Principal:
    kept = state(request)
    if kept.account is None:
        async with transaction(from_request(request).engine) as conn:
            account_id: uuid.UUID = await service_account(conn)
        kept.account = Principal(id=str(account_id), username=SERVICE_ACCOUNT, roles=(ROLE,))
    return kept.account


async def caller(request: Request[Any, Any, Any]) -> Principal:
    """The caller of an inspection route (the owner of the jobs it submits)."""
    if bearer_token(request) is None and await _open_network(request):
        return await _service_principal(request)
    principal = await current_principal(request)
    if not principal.has_any(ROLE, "admin"):
        raise Forbidden(f"the inspection service needs the {ROLE!r} role")
    return principal
