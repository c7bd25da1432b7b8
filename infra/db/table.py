"""Imports every module that defines tables, so Base.metadata knows them all."""

from infra.db import inventory, model, studio  # noqa: F401
