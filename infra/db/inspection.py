"""Inspection records: the mm_per_px lock of each recipe, and where each model's current
artifacts are. The artifacts themselves (memory bank, calibration) live in the blob store
under keys that name their version, so a row that points elsewhere makes every worker's
cached copy stale at once.

Callers own the connection and its transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    PrimaryKeyConstraint,
    Row,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from infra.db.base import Base
from infra.db.model import User

SERVICE_ACCOUNT = "inspection"

recipes = Table(
    "inspection_recipes",
    Base.metadata,
    Column("recipe_id", String(64), primary_key=True),
    Column("mm_per_px", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)

models = Table(
    "inspection_models",
    Base.metadata,
    Column("recipe_id", String(64), nullable=False),
    Column("model_key", String(80), nullable=False),
    Column("role_id", Text, nullable=False),
    Column("roi_id", Text, nullable=False),
    # Blob keys of the current artifacts; each fit or calibration writes a new key.
    Column("memory_key", Text),
    # What the fit reported (backbone, token grid, sizes), for /manifest without the blob.
    Column("memory_meta", JSONB),
    Column("calib_key", Text),
    Column("updated_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    PrimaryKeyConstraint("recipe_id", "model_key"),
)


async def lock_mm_per_px(conn: AsyncConnection, recipe_id: str, value: float) -> float:
    """The recipe's locked mm_per_px: `value` if this call was the first, else the earlier one.

    The primary key decides concurrent first requests: exactly one insert wins and every other
    caller reads the winner's value.
    """
    inserted = (
        await conn.execute(
            pg_insert(recipes)
            .values(recipe_id=recipe_id, mm_per_px=value)
            .on_conflict_do_nothing()
            .returning(recipes.c.mm_per_px)
        )
    ).scalar_one_or_none()
    if inserted is not None:
        return float(inserted)
    locked = (
        await conn.execute(select(recipes.c.mm_per_px).where(recipes.c.recipe_id == recipe_id))
    ).scalar_one()
    return float(locked)


async def locked_mm_per_px(conn: AsyncConnection, recipe_id: str) -> float | None:
    value = (
        await conn.execute(select(recipes.c.mm_per_px).where(recipes.c.recipe_id == recipe_id))
    ).scalar_one_or_none()
    return None if value is None else float(value)


async def find_models(
    conn: AsyncConnection, recipe_ids: list[str], model_key: str
) -> list[Row[Any]]:
    """The model rows of `model_key` in any of `recipe_ids`."""
    return list(
        (
            await conn.execute(
                select(models).where(
                    models.c.recipe_id.in_(recipe_ids), models.c.model_key == model_key
                )
            )
        ).all()
    )


async def replace_artifact(
    conn: AsyncConnection,
    *,
    recipe_id: str,
    model_key: str,
    role_id: str,
    roi_id: str,
    column: Literal["memory_key", "calib_key"],
    key: str,
    extra: Mapping[str, Any] | None = None,
) -> str | None:
    """Point the model's `column` at a new artifact (creating the model's row if needed), with
    `extra` columns beside it; the key of the artifact it replaces (or None)."""
    previous = (
        await conn.execute(
            select(models.c[column])
            .where(models.c.recipe_id == recipe_id, models.c.model_key == model_key)
            .with_for_update()
        )
    ).scalar_one_or_none()
    changes = {"role_id": role_id, "roi_id": roi_id, column: key, **(extra or {})}
    await conn.execute(
        pg_insert(models)
        .values(recipe_id=recipe_id, model_key=model_key, **changes)
        .on_conflict_do_update(
            index_elements=[models.c.recipe_id, models.c.model_key],
            set_={**changes, "updated_at": func.now()},
        )
    )
    return None if previous is None else str(previous)


async def service_account(conn: AsyncConnection) -> Any:
    """The id of the account that owns jobs of callers without a token (the contract's GUI
    sends none). It cannot log in: disabled, with no password that any hash matches."""
    await conn.execute(
        pg_insert(User)
        .values(
            username=SERVICE_ACCOUNT,
            display_name="inspection service (open-network callers)",
            password_hash="!",
            roles=[SERVICE_ACCOUNT],
            disabled=True,
        )
        .on_conflict_do_nothing(index_elements=[User.username])
    )
    return (
        await conn.execute(select(User.id).where(User.username == SERVICE_ACCOUNT))
    ).scalar_one()
