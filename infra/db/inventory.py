"""Inventory tables (one per resource) and every query on them. Callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ColumnElement,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Row,
    String,
    Table,
    Text,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.inventory.enumeration import DATASET_FORMATS, REPOSITORY_LANGUAGES, TYPES, Resource
from domain.inventory.error import DuplicateNameError
from domain.inventory.rule import MAX_NAME, MAX_URL, MAX_VERSION, ListQuery
from infra.db.base import Base

UNIQUE_VIOLATION = "23505"


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=column)


def _table(resource: Resource, *columns: Any) -> Table:
    """A resource table: the contract's fields plus the creator, with the indexes lists use."""
    name = f"inventory_{resource}"
    return Table(
        name,
        Base.metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        # The unique constraint, not a check before insert, is what makes two concurrent
        # creates of one name end in one 201 and one 409.
        Column("name", String(MAX_NAME), nullable=False, unique=True),
        Column("type", String(32), nullable=False),
        *columns,
        Column("tags", ARRAY(Text), nullable=False, server_default=text("'{}'")),
        Column("owner_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        _one_of("type", TYPES[resource]),
        Index(f"ix_{name}_type_id", "type", "id"),
        Index(f"ix_{name}_created_at_id", "created_at", "id"),
        Index(f"ix_{name}_updated_at_id", "updated_at", "id"),
        Index(f"ix_{name}_tags", "tags", postgresql_using="gin"),
    )


repositories = _table(
    "repositories",
    Column("url", String(MAX_URL), nullable=False),
    Column("description", Text),
    Column("language", String(32)),
    _one_of("language", REPOSITORY_LANGUAGES),
)
datasets = _table(
    "datasets",
    Column("description", Text),
    Column("size", BigInteger),
    Column("location", String(MAX_URL)),
    Column("format", String(32)),
    _one_of("format", DATASET_FORMATS),
    CheckConstraint("size >= 0", name="size"),
)
packages = _table(
    "packages",
    Column("version", String(MAX_VERSION), nullable=False),
    Column("description", Text),
    Column("repository", String(MAX_URL)),
)
# `config` is kept as the exact text the client sent (the contract returns it as a string).
scenarios = _table("scenarios", Column("description", Text), Column("config", Text))
simulators = _table(
    "simulators",
    Column("description", Text),
    Column("version", String(MAX_VERSION)),
    Column("config", Text),
)

TABLES: dict[Resource, Table] = {
    "repositories": repositories,
    "datasets": datasets,
    "packages": packages,
    "scenarios": scenarios,
    "simulators": simulators,
}
# What a client sees of a record: everything but the creator.
_PUBLIC = {r: [c for c in t.c if c.name != "owner_id"] for r, t in TABLES.items()}


def _where(table: Table, query: ListQuery) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if query.type is not None:
        conds.append(table.c.type == query.type)
    if query.tag is not None:
        conds.append(table.c.tags.contains([query.tag]))
    if query.q is not None:
        conds.append(
            or_(
                table.c.name.icontains(query.q, autoescape=True),
                table.c.description.icontains(query.q, autoescape=True),
            )
        )
    return conds


async def list_records(
    conn: AsyncConnection, resource: Resource, query: ListQuery
) -> tuple[list[Row[Any]], int]:
    """One page of records in the query's order, and how many records match its filters."""
    table = TABLES[resource]
    conds = _where(table, query)
    column = table.c[query.sort.field]
    order = [column.desc() if query.sort.descending else column.asc()]
    if query.sort.field not in ("id", "name"):  # both unique already
        order.append(table.c.id.desc() if query.sort.descending else table.c.id.asc())
    # The total rides along as a window count: one round trip per page instead of two.
    stmt = (
        select(*_PUBLIC[resource], func.count().over().label("total"))
        .where(*conds)
        .order_by(*order)
        .limit(query.limit)
        .offset(query.offset)
    )
    rows = list((await conn.execute(stmt)).all())
    if rows:
        return rows, int(rows[0].total)
    # An empty page (past the end, or limit=0) carries no window count: count on its own.
    count = select(func.count()).select_from(table).where(*conds)
    return rows, int((await conn.execute(count)).scalar_one())


async def get_record(conn: AsyncConnection, resource: Resource, record_id: int) -> Row[Any] | None:
    table = TABLES[resource]
    stmt = select(*_PUBLIC[resource]).where(table.c.id == record_id)
    return (await conn.execute(stmt)).one_or_none()


async def create_record(
    conn: AsyncConnection,
    resource: Resource,
    values: Mapping[str, Any],
    owner_id: uuid.UUID | None,
) -> Row[Any]:
    """Insert a record; DuplicateNameError when the name is taken (also by a concurrent insert)."""
    table = TABLES[resource]
    stmt = (
        pg_insert(table)
        .values(**values, owner_id=owner_id)
        .on_conflict_do_nothing(index_elements=[table.c.name])
        .returning(*_PUBLIC[resource])
    )
    row = (await conn.execute(stmt)).one_or_none()
    if row is None:
        raise DuplicateNameError(resource, str(values["name"]))
    return row


async def lock_owner(
    conn: AsyncConnection, resource: Resource, record_id: int
) -> tuple[bool, uuid.UUID | None]:
    """(exists, creator) of a record, locked until the transaction ends so a concurrent delete
    cannot slip between the permission check and the change."""
    table = TABLES[resource]
    stmt = select(table.c.owner_id).where(table.c.id == record_id).with_for_update()
    row = (await conn.execute(stmt)).one_or_none()
    return (False, None) if row is None else (True, row.owner_id)


async def update_record(
    conn: AsyncConnection, resource: Resource, record_id: int, values: Mapping[str, Any]
) -> Row[Any] | None:
    """Change the given fields only; None when the record does not exist."""
    table = TABLES[resource]
    stmt = (
        update(table)
        .where(table.c.id == record_id)
        .values(**values, updated_at=func.now())
        .returning(*_PUBLIC[resource])
    )
    try:
        return (await conn.execute(stmt)).one_or_none()
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) == UNIQUE_VIOLATION:
            raise DuplicateNameError(resource, str(values.get("name"))) from exc
        raise


async def delete_record(conn: AsyncConnection, resource: Resource, record_id: int) -> bool:
    table = TABLES[resource]
    stmt = delete(table).where(table.c.id == record_id).returning(table.c.id)
    return (await conn.execute(stmt)).one_or_none() is not None
