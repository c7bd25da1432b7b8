"""The service routers mounted under their contract prefixes. One line per service."""

from __future__ import annotations

from typing import Any

from api.blobs import blob_router
from api.inventory import router as inventory_router

SERVICE_ROUTERS: list[Any] = [inventory_router, blob_router]
