"""What the inspection routes keep per API process (the service's lifespan state)."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from api.service import StateOf
from api.state import Resources
from infra.security import Principal

NAME = "inspection"
# Calibrations are small and immutable under their versioned key: a bounded cache is exact.
CALIBRATIONS_KEPT = 256


@dataclass
class InspectionState:
    # The account that owns open-network callers' jobs, once looked up.
    account: Principal | None = None
    # Locks never change once set, so a value seen is the value.
    locks: dict[str, float] = field(default_factory=dict)
    calibrations: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)


@contextlib.asynccontextmanager
async def lifespan(_: Resources) -> AsyncIterator[InspectionState]:
    yield InspectionState()


state: StateOf[InspectionState] = StateOf(NAME)
