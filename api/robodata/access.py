"""Who may call robodata routes: the platform's users by bearer token (the original's
`Unauthorized` on any failure), and media that is open, or signed, or needs a token."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.access import signed
from api.error import Unauthorized
from api.principal import current_principal
from api.state import from_request
from infra.security import Principal


async def caller(request: Request[Any, Any, Any]) -> Principal:
    """The logged-in user; 401 `Unauthorized` without a valid bearer token."""
    try:
        return await current_principal(request)
    except Unauthorized as exc:
        raise Unauthorized("Unauthorized") from exc


async def media_access(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Media is open unless `robodata.open_media` is off; then a signed link from an item
    payload (what a `<video src>` can carry) or a bearer token."""
    request = connection if isinstance(connection, Request) else Request(connection.scope)
    if from_request(request).settings.robodata.open_media:
        return
    if "sig" in request.query_params:
        await signed(connection, handler)
        return
    await caller(request)
