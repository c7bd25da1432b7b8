"""Who may read: a bearer token, or anyone when the operator opened reads to anonymous clients."""

from __future__ import annotations

from typing import Any

from litestar import Request

from api.principal import bearer_token, current_principal
from api.state import from_request
from infra.security import Principal


async def reader(request: Request[Any, Any, Any]) -> Principal | None:
    """The caller for a read; None for an anonymous caller when `anonymous_reads` is on.

    A token that is sent is always checked, so a bad one is a 401 even when reads are open.
    """
    if bearer_token(request) is None and from_request(request).settings.inventory.anonymous_reads:
        return None
    return await current_principal(request)
