"""Imports every module that defines tables, so Base.metadata knows them all."""

import infra.db.inventory
import infra.db.rigging  # noqa: F401
from infra.db import model  # noqa: F401
