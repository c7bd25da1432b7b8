"""Every service the API serves, each under its contract's prefix. One line per service."""

from __future__ import annotations

from typing import Any

from api.inspection import SERVICE as INSPECTION
from api.inventory import SERVICE as INVENTORY
from api.rigging import SERVICE as RIGGING
from api.robodata import SERVICE as ROBODATA
from api.service import Service
from api.studio import SERVICE as STUDIO

SERVICES: list[Service[Any]] = [INVENTORY, INSPECTION, RIGGING, ROBODATA, STUDIO]
