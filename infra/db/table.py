"""Imports every module that defines tables, so Base.metadata knows them all."""

from infra.db import inspection, inventory, model, rigging, robodata, studio  # noqa: F401
