"""Every service the API serves, each under its contract's prefix. One line per service."""

from __future__ import annotations

from typing import Any

from api.inventory import SERVICE as INVENTORY
from api.robodata import SERVICE as ROBODATA
from api.service import Service

SERVICES: list[Service[Any]] = [INVENTORY, ROBODATA]
