"""Exceptions raised by the inventory rules (mapped to the contract's error shape elsewhere)."""

from __future__ import annotations


class InventoryError(Exception):
    """Base class for every error the inventory rules raise on purpose."""


class InvalidInputError(InventoryError):
    """A field or a query parameter breaks a rule of the contract."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class RecordNotFoundError(InventoryError):
    """No record of that resource has that id."""

    def __init__(self, resource: str, record_id: int) -> None:
        super().__init__(f"{resource.removesuffix('s')} {record_id} not found")


class DuplicateNameError(InventoryError):
    """Another record of the same resource already has that name."""

    def __init__(self, resource: str, name: str) -> None:
        super().__init__(f"a {resource.removesuffix('s')} named {name!r} already exists")


class NotPermittedError(InventoryError):
    """The caller may not change a record someone else created."""
