"""The RoboHub inventory contract under /inventory: routes, Structs and its error shape."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from api.inventory.error import EXCEPTION_HANDLERS
from api.inventory.route import (
    CONTROLLERS,
    collection_method,
    health,
    item_method,
    list_params,
    unknown_route,
)

PREFIX = "/inventory"

router = Router(
    path=PREFIX,
    route_handlers=[*CONTROLLERS, health, collection_method, item_method, unknown_route],
    dependencies={"page": Provide(list_params)},
    exception_handlers=EXCEPTION_HANDLERS,
)
