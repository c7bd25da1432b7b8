"""Imports every module that defines tables, so Base.metadata knows them all."""

import infra.db.inspection
import infra.db.inventory  # noqa: F401
from infra.db import (
    model,  # noqa: F401
    studio,  # noqa: F401
)
