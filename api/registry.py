"""Every service the API serves, each under its contract's prefix. One line per service."""

from __future__ import annotations

from typing import Any

from api.inventory import SERVICE as INVENTORY
from api.rigging import SERVICE as RIGGING
from api.service import Service

SERVICES: list[Service[Any]] = [INVENTORY, RIGGING]
