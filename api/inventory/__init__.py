"""The RoboHub inventory contract under /inventory: routes, Structs and its error shape."""

from __future__ import annotations

from typing import Any

from litestar.config.cors import CORSConfig
from litestar.di import Provide

from api.inventory.error import DOMAIN_ERRORS, ERRORS
from api.inventory.route import (
    CONTROLLERS,
    collection_method,
    health,
    item_method,
    list_params,
    unknown_route,
)
from api.service import Service
from infra.settings import Settings


def _cors(settings: Settings) -> CORSConfig:
    """The contract's frontends by default; a setting replaces them."""
    policy = settings.inventory
    return CORSConfig(
        allow_origins=list(policy.cors_origins),
        allow_methods=list(policy.cors_methods),  # type: ignore[arg-type]
        allow_headers=list(policy.cors_headers),
    )


SERVICE: Service[Any] = Service(
    name="inventory",
    prefix="/inventory",
    routes=[*CONTROLLERS, health, collection_method, item_method, unknown_route],
    dependencies={"page": Provide(list_params)},
    errors=ERRORS,
    domain_errors=DOMAIN_ERRORS,
    cors=_cors,
)
