"""The inventory's operations on one resource: list, get, create, update and delete.

Dependencies come as arguments: single statements (list, get, create) take an autocommit
asyncpg connection, checked changes (update, delete) a SQLAlchemy connection whose
transaction the caller owns. Nothing here knows HTTP or commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from api.inventory.schema import written_fields
from domain.inventory.enumeration import Resource
from domain.inventory.error import RecordNotFoundError
from domain.inventory.rule import ListQuery, check_fields, check_may_change, list_query
from infra.db import inventory as repo
from infra.security import Principal

V = TypeVar("V", bound=msgspec.Struct)


@dataclass(frozen=True, slots=True)
class Records(Generic[V]):
    """The five operations of one resource, returning its response Struct."""

    resource: Resource
    view: type[V]
    _view: Callable[[Sequence[Any]], V] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_view", repo.row_reader(self.resource, self.view))

    async def page(
        self, conn: asyncpg.Connection, params: dict[str, Any]
    ) -> tuple[list[V], int, ListQuery]:
        query = list_query(self.resource, **params)
        rows, total = await repo.list_records(conn, self.resource, query)
        return [self._view(r) for r in rows], total, query

    async def one(self, conn: asyncpg.Connection, record_id: int) -> V:
        row = await repo.get_record(conn, self.resource, record_id)
        if row is None:
            raise RecordNotFoundError(self.resource, record_id)
        return self._view(row)

    async def create(self, conn: asyncpg.Connection, body: msgspec.Struct, caller: Principal) -> V:
        values = written_fields(body)
        check_fields(self.resource, values)
        row = await repo.create_record(conn, self.resource, values, uuid.UUID(caller.id))
        return self._view(row)

    async def update(
        self, conn: AsyncConnection, record_id: int, body: msgspec.Struct, caller: Principal
    ) -> V:
        values = written_fields(body)
        check_fields(self.resource, values)
        await self._check_owner(conn, record_id, caller)
        row = await repo.update_record(conn, self.resource, record_id, values)
        if row is None:
            raise RecordNotFoundError(self.resource, record_id)
        return self._view(row)

    async def delete(self, conn: AsyncConnection, record_id: int, caller: Principal) -> None:
        await self._check_owner(conn, record_id, caller)
        await repo.delete_record(conn, self.resource, record_id)

    async def _check_owner(self, conn: AsyncConnection, record_id: int, caller: Principal) -> None:
        exists, owner = await repo.lock_owner(conn, self.resource, record_id)
        if not exists:
            raise RecordNotFoundError(self.resource, record_id)
        check_may_change(str(owner) if owner else None, caller.id, caller.is_admin)
