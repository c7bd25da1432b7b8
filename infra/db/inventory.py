"""Inventory tables (one per resource) and every query on them.

Single statements (list, get, create) are compiled once and run on the connection's asyncpg
driver (`infra.db.driver`); changes that need a check first (update, delete) are plain
SQLAlchemy Core. Callers own the connection and its transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar

import asyncpg
import msgspec
from sqlalchemy import (
    BigInteger,
    BindParameter,
    CheckConstraint,
    Column,
    ColumnElement,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Row,
    SmallInteger,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    literal_column,
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
from domain.inventory.rule import MAX_NAME, MAX_URL, MAX_VERSION, ListQuery, SortField
from infra.db.base import Base
from infra.db.driver import AttrRecord, compile_for_asyncpg, fetch_sql

UNIQUE_VIOLATION = "23505"
S = TypeVar("S", bound=msgspec.Struct)


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

# Rows per resource, kept by statement-level triggers in the same transaction as each insert
# or delete (migration 0003), spread over shard rows so concurrent creates rarely share a
# row lock. An unfiltered list's `total` sums them instead of counting the table.
counts = Table(
    "inventory_counts",
    Base.metadata,
    Column("resource", String(32), primary_key=True),
    Column("shard", SmallInteger, primary_key=True),
    Column("n", BigInteger, nullable=False),
)

TABLES: dict[Resource, Table] = {
    "repositories": repositories,
    "datasets": datasets,
    "packages": packages,
    "scenarios": scenarios,
    "simulators": simulators,
}
# What a client sees of a record: everything but the creator. Every statement below returns
# these columns first, in this order.
_PUBLIC = {r: [c for c in t.c if c.name != "owner_id"] for r, t in TABLES.items()}


def row_reader(resource: Resource, view: type[S]) -> Callable[[Sequence[Any]], S]:
    """A function that builds `view` from a row of this resource's public columns.

    Generated once per resource, the way dataclasses generate `__init__`: `view(id=row[0],
    name=row[1], ...)`, which costs a fraction of `msgspec.convert(dict(row))` on the list
    hot path. Values are not validated again: the columns' types and CHECK constraints
    already hold them to the view's types.
    """
    names = [c.name for c in _PUBLIC[resource]]
    fields = view.__struct_fields__
    if set(fields) != set(names):
        raise TypeError(f"{view.__name__} fields {fields} are not the columns {names}")
    args = ", ".join(f"{name}=row[{i}]" for i, name in enumerate(names))
    namespace: dict[str, Any] = {"view": view}
    exec(f"def read(row):\n    return view({args})\n", namespace)  # names: our own columns
    read: Callable[[Sequence[Any]], S] = namespace["read"]
    return read


# --- single statements: compiled once, run on asyncpg -----------------------------------
#
# Lists, gets and creates are the hot path: SQL compiled once per statement shape from the Core
# statements below, run through `driver.fetch_sql` on a connection from `engine.statement`.


@lru_cache(maxsize=1024)
def _list_sql(
    resource: Resource,
    sort: SortField,
    descending: bool,
    by_type: bool,
    by_tag: bool,
    by_text: bool,
    with_rows: bool,
) -> tuple[str, tuple[str, ...]]:
    """SQL for one shape of list query (which filters, which order), built once."""
    table = TABLES[resource]
    conds: list[ColumnElement[bool]] = []
    if by_type:
        conds.append(table.c.type == bindparam("type"))
    if by_tag:
        conds.append(table.c.tags.contains(bindparam("tag", type_=ARRAY(Text))))
    if by_text:
        pattern: BindParameter[str] = bindparam("pattern", type_=String())
        conds.append(
            or_(
                table.c.name.ilike(pattern, escape="\\"),
                table.c.description.ilike(pattern, escape="\\"),
            )
        )
    if conds:
        count = select(func.count()).select_from(table).where(*conds)
    else:
        # Kept by triggers: O(1) in the table's size, and exact in the statement's snapshot.
        # (Literals, not parameters: the resource is one of five names, fixed per statement.)
        total = func.coalesce(func.sum(counts.c.n), literal_column("0")).cast(BigInteger)
        count = select(total).where(counts.c.resource == literal_column(f"'{resource}'"))
    if not with_rows:
        return compile_for_asyncpg(count)
    column = table.c[sort]
    order = [column.desc() if descending else column.asc()]
    if sort not in ("id", "name"):  # both unique already
        order.append(table.c.id.desc() if descending else table.c.id.asc())
    # The total rides along as an uncorrelated subquery, which Postgres runs once: one round
    # trip per page. (A `count(*) OVER ()` would do the same but materialises every matching
    # row before the LIMIT, several times slower at a thousand rows.)
    stmt = (
        select(*_PUBLIC[resource], count.correlate(None).scalar_subquery().label("total"))
        .where(*conds)
        .order_by(*order)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return compile_for_asyncpg(stmt)


def _like(text_: str) -> str:
    """A case-insensitive substring pattern with the user's wildcards taken literally."""
    escaped = text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_records(
    conn: asyncpg.Connection, resource: Resource, query: ListQuery
) -> tuple[list[AttrRecord], int]:
    """One page of records in the query's order, and how many records match its filters."""
    values: dict[str, Any] = {
        "type": query.type,
        "tag": [query.tag],
        "pattern": _like(query.q) if query.q is not None else None,
        "limit": query.limit,
        "offset": query.offset,
    }
    shape = (
        resource,
        query.sort.field,
        query.sort.descending,
        query.type is not None,
        query.tag is not None,
        query.q is not None,
    )
    sql, names = _list_sql(*shape, with_rows=True)
    rows = await fetch_sql(conn, sql, [values[n] for n in names])
    if rows:
        return rows, int(rows[0]["total"])
    # An empty page (past the end, or limit=0) has no row to carry the total: count on its own.
    sql, names = _list_sql(*shape, with_rows=False)
    (count,) = await fetch_sql(conn, sql, [values[n] for n in names])
    return rows, int(count[0])


@lru_cache(maxsize=8)
def _get_sql(resource: Resource) -> tuple[str, tuple[str, ...]]:
    table = TABLES[resource]
    return compile_for_asyncpg(select(*_PUBLIC[resource]).where(table.c.id == bindparam("id")))


async def get_record(
    conn: asyncpg.Connection, resource: Resource, record_id: int
) -> AttrRecord | None:
    sql, _ = _get_sql(resource)
    rows = await fetch_sql(conn, sql, [record_id])
    return rows[0] if rows else None


@lru_cache(maxsize=256)
def _insert_sql(resource: Resource, columns: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    table = TABLES[resource]
    stmt = (
        pg_insert(table)
        .values({c: bindparam(c, type_=table.c[c].type) for c in columns})
        .on_conflict_do_nothing(index_elements=[table.c.name])
        .returning(*_PUBLIC[resource])
    )
    return compile_for_asyncpg(stmt)


async def create_record(
    conn: asyncpg.Connection,
    resource: Resource,
    values: Mapping[str, Any],
    owner_id: uuid.UUID | None,
) -> AttrRecord:
    """Insert a record; DuplicateNameError when the name is taken (also by a concurrent insert).

    Not to be retried on a dropped connection: the insert may have committed before the drop.
    """
    row = {**values, "owner_id": owner_id}
    sql, names = _insert_sql(resource, tuple(sorted(row)))
    created = await fetch_sql(conn, sql, [row[n] for n in names])
    if not created:
        raise DuplicateNameError(resource, str(values["name"]))
    return created[0]


# --- checked changes: SQLAlchemy, in the caller's transaction -----------------------------


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
