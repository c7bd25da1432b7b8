"""Robodata tables (robots, task types, datasets, items, index tasks) and every query on them.

Statements are plain SQL run on an asyncpg connection (`infra.db.engine.statement`): the
listing routes are hot and small. Counts shown by the lists (`episode_count`) are kept on the
robot, task type and dataset rows by the indexer, so a page never counts 100,000 items.
Item ids are an identity keyed by (dataset, episode index): a re-index updates rows in place,
so an unchanged episode keeps its id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import msgspec
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from domain.robodata.catalog import DatasetRecord
from infra.db.base import Base
from infra.db.driver import AttrRecord

robots = Table(
    "robodata_robots",
    Base.metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("type_count", Integer, nullable=False, server_default="0"),
    Column("episode_count", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

task_types = Table(
    "robodata_task_types",
    Base.metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "robot_id",
        BigInteger,
        ForeignKey("robodata_robots.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(200), nullable=False),
    Column("display_name", String(200), nullable=False, server_default=""),
    Column("episode_count", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("robot_id", "name", name="uq_robodata_task_types_robot_name"),
)

datasets = Table(
    "robodata_datasets",
    Base.metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    # The dataset root, resolved: the key its base64 `datasetId` encodes.
    Column("path", Text, nullable=False, unique=True),
    Column("name", String(400), nullable=False),
    Column("robot_id", BigInteger, ForeignKey("robodata_robots.id"), nullable=False),
    Column("task_type_id", BigInteger, ForeignKey("robodata_task_types.id"), nullable=False),
    Column("version", String(16), nullable=False),
    Column("fps", Float, nullable=False),
    Column("episode_count", BigInteger, nullable=False, server_default="0"),
    Column("warnings", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("owner_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")),
    Column("indexed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_robodata_datasets_robot_type", "robot_id", "task_type_id"),
)

items = Table(
    "robodata_items",
    Base.metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "dataset_id",
        BigInteger,
        ForeignKey("robodata_datasets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("episode_index", Integer, nullable=False),
    # Copied from the dataset so the global list filters on one table's index.
    Column("robot_id", BigInteger, nullable=False),
    Column("task_type_id", BigInteger, nullable=False),
    Column("total_frames", Integer, nullable=False),
    Column("fps", Float, nullable=False),
    Column("duration", Float, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("image_count", Integer, nullable=False),
    Column("total_size_bytes", BigInteger, nullable=False),
    Column("file_path", Text, nullable=False),
    # [{key, width, height, frames, codec}]: what the detail and media routes need.
    Column("cameras", JSONB, nullable=False),
    # What a list row shows of the cameras, so a page never decodes their JSON.
    Column("camera_count", Integer, nullable=False, server_default="0"),
    Column("primary_camera", Text),
    # Where the episode's data and video segments live (the engine's Episode).
    Column("episode", JSONB, nullable=False),
    # Changes when the episode's files or segments change: part of every media cache key.
    Column("fingerprint", String(64), nullable=False),
    UniqueConstraint("dataset_id", "episode_index", name="uq_robodata_items_dataset_episode"),
    Index("ix_robodata_items_dataset_id", "dataset_id", "id"),
    Index("ix_robodata_items_robot_id", "robot_id", "id"),
    Index("ix_robodata_items_task_type_id", "task_type_id", "id"),
)

# One row: moved on by a statement trigger on each table above (migration 0010) in the
# writing transaction; the API keys its rendered list pages by it.
catalog = Table(
    "robodata_catalog",
    Base.metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("id = 1", name="ck_robodata_catalog_one_row"),
)

# Media cache entries a write left behind: (item, fingerprint) pairs noted by triggers on the
# items (migration 0010) when an item is deleted or its fingerprint changes.
stale_media = Table(
    "robodata_stale_media",
    Base.metadata,
    Column("item_id", BigInteger, primary_key=True),
    Column("fingerprint", String(64), primary_key=True),
)

index_tasks = Table(
    "robodata_index_tasks",
    Base.metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("job_id", UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="SET NULL")),
    Column("owner_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")),
    Column("path", Text, nullable=False),
    Column("total_episodes", Integer, nullable=False, server_default="0"),
    Column("processed_episodes", Integer, nullable=False, server_default="0"),
    Column("current_path", Text, nullable=False, server_default=""),
    Column("error_message", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


async def catalog_version(conn: asyncpg.Connection) -> int:
    """The catalog's version: moved on by every write to its tables (0 before the first)."""
    return int(await conn.fetchval("SELECT version FROM robodata_catalog WHERE id = 1") or 0)


# --- taxonomy -------------------------------------------------------------------------------

_ROBOTS = """
SELECT id, name, display_name, description, type_count, episode_count
FROM robodata_robots ORDER BY name
"""

_ROBOT_BY_NAME = "SELECT id, name, display_name FROM robodata_robots WHERE name = $1"

_TYPES = """
SELECT t.id, t.name, t.display_name, t.episode_count, r.name AS robot
FROM robodata_task_types t JOIN robodata_robots r ON r.id = t.robot_id
WHERE ($1::bigint IS NULL OR t.robot_id = $1)
ORDER BY t.name, r.name
"""


async def list_robots(conn: asyncpg.Connection) -> list[AttrRecord]:
    return await conn.fetch(_ROBOTS, record_class=AttrRecord)  # type: ignore[no-any-return]


async def robot_by_name(conn: asyncpg.Connection, name: str) -> AttrRecord | None:
    return await conn.fetchrow(_ROBOT_BY_NAME, name, record_class=AttrRecord)  # type: ignore[no-any-return]


async def list_task_types(conn: asyncpg.Connection, robot_id: int | None) -> list[AttrRecord]:
    return await conn.fetch(_TYPES, robot_id, record_class=AttrRecord)  # type: ignore[no-any-return]


# --- datasets -------------------------------------------------------------------------------

_DATASET_COLUMNS = """
d.id, d.path, d.name, d.version, d.fps, d.episode_count, d.owner_id, d.warnings,
r.name AS robot, t.name AS task_type
FROM robodata_datasets d
JOIN robodata_robots r ON r.id = d.robot_id
JOIN robodata_task_types t ON t.id = d.task_type_id
"""

_DATASETS = f"""
SELECT {_DATASET_COLUMNS}
WHERE ($1::text IS NULL OR r.name = $1) AND ($2::text IS NULL OR t.name = $2)
ORDER BY d.path
"""

_DATASET_BY_PATH = f"SELECT {_DATASET_COLUMNS} WHERE d.path = $1"
_DATASET_BY_ID = f"SELECT {_DATASET_COLUMNS} WHERE d.id = $1"


async def list_datasets(
    conn: asyncpg.Connection, robot: str | None, task_type: str | None
) -> list[AttrRecord]:
    return await conn.fetch(_DATASETS, robot, task_type, record_class=AttrRecord)  # type: ignore[no-any-return]


async def dataset_by_path(conn: asyncpg.Connection, path: str) -> AttrRecord | None:
    return await conn.fetchrow(_DATASET_BY_PATH, path, record_class=AttrRecord)  # type: ignore[no-any-return]


async def dataset_by_id(conn: asyncpg.Connection, dataset_id: int) -> AttrRecord | None:
    return await conn.fetchrow(_DATASET_BY_ID, dataset_id, record_class=AttrRecord)  # type: ignore[no-any-return]


# --- items ----------------------------------------------------------------------------------

_SUMMARY = """
i.id, i.episode_index, i.total_frames, i.duration, i.fps, i.width, i.height, i.camera_count,
i.primary_camera,
r.name AS robot, t.name AS task_type, d.path AS storage_path
FROM robodata_items i
JOIN robodata_datasets d ON d.id = i.dataset_id
JOIN robodata_robots r ON r.id = i.robot_id
JOIN robodata_task_types t ON t.id = i.task_type_id
"""

# Newest id first, a page at a time; each filter has an index ending in `id`. The total
# (kept on the rows the filter names) comes in the same statement.
_ALL_TOTAL = "(SELECT coalesce(sum(episode_count), 0) FROM robodata_robots)"
# `{}` is the filter's parameter: $3 beside a page, $1 alone.
_ROBOT_TOTAL = "(SELECT episode_count FROM robodata_robots WHERE id = {})"
_TYPES_TOTAL = (
    "(SELECT coalesce(sum(episode_count), 0) FROM robodata_task_types WHERE id = ANY({}::bigint[]))"
)
_PAGE = "ORDER BY i.id DESC LIMIT $1 OFFSET $2"
_ITEMS_ALL = f"SELECT {_ALL_TOTAL} AS total, {_SUMMARY} {_PAGE}"
_ITEMS_BY_ROBOT = f"""
SELECT {_ROBOT_TOTAL.format("$3")} AS total, {_SUMMARY} WHERE i.robot_id = $3 {_PAGE}
"""
_ITEMS_BY_TYPE = f"""
SELECT {_TYPES_TOTAL.format("$3")} AS total, {_SUMMARY}
WHERE i.task_type_id = ANY($3::bigint[]) {_PAGE}
"""
_ITEMS_OF_DATASET = f"SELECT {_SUMMARY} WHERE i.dataset_id = $3 {_PAGE}"

_TYPE_BY_NAME = """
SELECT t.id, t.episode_count FROM robodata_task_types t
WHERE t.name = $2 AND ($1::bigint IS NULL OR t.robot_id = $1)
"""


async def list_items(
    conn: asyncpg.Connection,
    robot: str | None,
    task_type: str | None,
    limit: int,
    offset: int,
) -> tuple[list[AttrRecord], int]:
    """A page of every dataset's items, filtered by robot and task type names, and the total."""
    robot_id: int | None = None
    if robot is not None:
        found = await robot_by_name(conn, robot)
        if found is None:
            return [], 0
        robot_id = found.id
    if task_type is not None:
        types = await conn.fetch(_TYPE_BY_NAME, robot_id, task_type, record_class=AttrRecord)
        if not types:
            return [], 0
        key: int | list[int] = [t.id for t in types]
        sql, total_sql = _ITEMS_BY_TYPE, _TYPES_TOTAL
    elif robot_id is not None:
        key, sql, total_sql = robot_id, _ITEMS_BY_ROBOT, _ROBOT_TOTAL
    else:
        rows = await conn.fetch(_ITEMS_ALL, limit, offset, record_class=AttrRecord)
        total = rows[0]["total"] if rows else await conn.fetchval(f"SELECT {_ALL_TOTAL}")
        return rows, int(total)
    rows = await conn.fetch(sql, limit, offset, key, record_class=AttrRecord)
    # A page past the end has no row to carry the total: read it on its own.
    if rows:
        total = rows[0]["total"]
    else:
        total = await conn.fetchval(f"SELECT {total_sql.format('$1')}", key)
    return rows, int(total or 0)


async def list_dataset_items(
    conn: asyncpg.Connection, dataset_id: int, limit: int, offset: int
) -> list[AttrRecord]:
    return await conn.fetch(  # type: ignore[no-any-return]
        _ITEMS_OF_DATASET, limit, offset, dataset_id, record_class=AttrRecord
    )


_ITEM = """
SELECT i.*, d.path AS storage_path, d.version, d.owner_id,
       r.name AS robot, r.display_name AS robot_display, t.name AS task_type,
       t.display_name AS task_type_display
FROM robodata_items i
JOIN robodata_datasets d ON d.id = i.dataset_id
JOIN robodata_robots r ON r.id = i.robot_id
JOIN robodata_task_types t ON t.id = i.task_type_id
WHERE i.id = $1
"""


async def get_item(conn: asyncpg.Connection, item_id: int) -> AttrRecord | None:
    return await conn.fetchrow(_ITEM, item_id, record_class=AttrRecord)  # type: ignore[no-any-return]


# --- indexing -------------------------------------------------------------------------------

_UPSERT_DATASETS = """
INSERT INTO robodata_datasets (path, name, robot_id, task_type_id, version, fps, warnings,
                               owner_id)
SELECT d.path, d.name, d.robot_id, d.task_type_id, d.version, d.fps, d.warnings, $9
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::float8[],
            $7::jsonb[], $8::int[]) AS d(path, name, robot_id, task_type_id, version, fps,
                                         warnings, position)
ORDER BY d.position
ON CONFLICT (path) DO UPDATE SET
    name = EXCLUDED.name, version = EXCLUDED.version, fps = EXCLUDED.fps,
    warnings = EXCLUDED.warnings, indexed_at = now(),
    robot_id = EXCLUDED.robot_id, task_type_id = EXCLUDED.task_type_id,
    owner_id = coalesce(robodata_datasets.owner_id, EXCLUDED.owner_id)
RETURNING id, path, robot_id, task_type_id
"""
# The items of every dataset in a batch arrive as parallel arrays (one element per episode)
# and are upserted by (dataset, episode index), so ids of unchanged episodes survive a
# re-index.
_UPSERT_ITEMS = """
INSERT INTO robodata_items (dataset_id, robot_id, task_type_id, episode_index, total_frames,
    fps, duration, width, height, image_count, total_size_bytes, file_path, cameras, episode,
    fingerprint, camera_count, primary_camera)
SELECT e.*
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::int[], $5::int[], $6::float8[],
            $7::float8[], $8::int[], $9::int[], $10::int[], $11::bigint[], $12::text[],
            $13::jsonb[], $14::jsonb[], $15::text[], $16::int[], $17::text[]) AS e
ON CONFLICT ON CONSTRAINT uq_robodata_items_dataset_episode DO UPDATE SET
    robot_id = EXCLUDED.robot_id, task_type_id = EXCLUDED.task_type_id,
    total_frames = EXCLUDED.total_frames, fps = EXCLUDED.fps, duration = EXCLUDED.duration,
    width = EXCLUDED.width, height = EXCLUDED.height, image_count = EXCLUDED.image_count,
    total_size_bytes = EXCLUDED.total_size_bytes, file_path = EXCLUDED.file_path,
    cameras = EXCLUDED.cameras, episode = EXCLUDED.episode, fingerprint = EXCLUDED.fingerprint,
    camera_count = EXCLUDED.camera_count, primary_camera = EXCLUDED.primary_camera
"""
# Episodes a dataset of the batch no longer has: (dataset, episode) pairs not in the arrays.
_DROP_GONE = """
DELETE FROM robodata_items i WHERE i.dataset_id = ANY($1::bigint[])
AND NOT EXISTS (SELECT 1 FROM unnest($2::bigint[], $3::int[]) AS k(dataset_id, episode_index)
                WHERE k.dataset_id = i.dataset_id AND k.episode_index = i.episode_index)
"""


async def _mapped(conn: asyncpg.Connection, robot: str, task_type: str) -> tuple[int, int]:
    """The ids of a robot and one of its task types, created when new."""
    return (await _mapped_all(conn, [(robot, task_type)]))[(robot, task_type)]


_UPSERT_ROBOTS = """
INSERT INTO robodata_robots (name, display_name) SELECT n, n FROM unnest($1::text[]) AS n
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id, name
"""
_UPSERT_TYPES = """
INSERT INTO robodata_task_types (robot_id, name, display_name)
SELECT t.robot_id, t.name, t.name FROM unnest($1::bigint[], $2::text[]) AS t(robot_id, name)
ON CONFLICT ON CONSTRAINT uq_robodata_task_types_robot_name
DO UPDATE SET name = EXCLUDED.name RETURNING id, robot_id, name
"""


async def _mapped_all(
    conn: asyncpg.Connection, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, int]]:
    """The ids of (robot, task type) pairs, created when new: two statements for any number."""
    if not pairs:
        return {}
    robots = {
        r["name"]: r["id"]
        for r in await conn.fetch(_UPSERT_ROBOTS, sorted({robot for robot, _ in pairs}))
    }
    types = {
        (t["robot_id"], t["name"]): t["id"]
        for t in await conn.fetch(
            _UPSERT_TYPES, [robots[robot] for robot, _ in pairs], [task for _, task in pairs]
        )
    }
    return {(robot, task): (robots[robot], types[(robots[robot], task)]) for robot, task in pairs}


async def save_dataset(
    conn: asyncpg.Connection,
    record: DatasetRecord,
    owner_id: uuid.UUID | None,
    *,
    remap: bool,
) -> int:
    """Write one dataset and its items in one transaction; its id (see `save_datasets`)."""
    return (await save_datasets(conn, [record], owner_id, remap=remap))[0]


async def save_datasets(
    conn: asyncpg.Connection,
    records: Sequence[DatasetRecord],
    owner_id: uuid.UUID | None,
    *,
    remap: bool,
) -> list[int]:
    """Write datasets and their items in one transaction; their ids, in order.

    The statements are per batch, not per dataset (the datasets and their items each go in
    as arrays, the counts are refreshed once), so an index writes a large tree in a few
    round trips. `remap` replaces the robot and task type of a dataset already known (a
    registration); a plain scan keeps the mapping it has.
    """
    if not records:
        return []
    if len({r.path for r in records}) != len(records):
        raise ValueError("a batch names a dataset twice")
    async with conn.transaction():
        # One catalog writer at a time: robots and task types are created, recounted and
        # dropped when unused, which concurrent writers would otherwise race on.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('robodata_catalog'))")
        known = {
            row["path"]: (row["robot_id"], row["task_type_id"])
            for row in await conn.fetch(
                """SELECT path, robot_id, task_type_id FROM robodata_datasets
                   WHERE path = ANY($1::text[]) FOR UPDATE""",
                [r.path for r in records],
            )
        }
        wanted = {(r.robot, r.task_type) for r in records if remap or r.path not in known}
        pairs = await _mapped_all(conn, sorted(wanted))
        mapped = [
            known[r.path] if r.path in known and not remap else pairs[(r.robot, r.task_type)]
            for r in records
        ]
        rows = await conn.fetch(
            _UPSERT_DATASETS,
            [r.path for r in records],
            [r.name for r in records],
            [m[0] for m in mapped],
            [m[1] for m in mapped],
            [r.version for r in records],
            [r.fps for r in records],
            [msgspec.json.encode(r.warnings).decode() for r in records],
            list(range(len(records))),
            owner_id,
        )
        ids = {row["path"]: (row["id"], row["robot_id"], row["task_type_id"]) for row in rows}
        owners = [ids[r.path] for r in records for _ in r.items]
        items = [i for r in records for i in r.items]
        await conn.execute(
            _UPSERT_ITEMS,
            [o[0] for o in owners],
            [o[1] for o in owners],
            [o[2] for o in owners],
            [i.episode_index for i in items],
            [i.total_frames for i in items],
            [i.fps for i in items],
            [i.duration for i in items],
            [i.width for i in items],
            [i.height for i in items],
            [i.image_count for i in items],
            [i.total_size_bytes for i in items],
            [i.file_path for i in items],
            [msgspec.json.encode(i.cameras).decode() for i in items],
            [msgspec.json.encode(i.episode).decode() for i in items],
            [i.fingerprint for i in items],
            [len(i.cameras) for i in items],
            [i.primary_camera for i in items],
        )
        dataset_ids = [ids[r.path][0] for r in records]
        await conn.execute(
            _DROP_GONE, dataset_ids, [o[0] for o in owners], [i.episode_index for i in items]
        )
        # The robots and task types the batch wrote to or moved datasets away from.
        robots = {v[1] for v in ids.values()} | {k[0] for k in known.values()}
        types = {v[2] for v in ids.values()} | {k[1] for k in known.values()}
        await _drop_unused(conn, list(robots), list(types))
        await refresh_counts(conn, dataset_ids, list(robots), list(types))
    return [int(i) for i in dataset_ids]


async def _drop_unused(
    conn: asyncpg.Connection, robot_ids: Sequence[int], type_ids: Sequence[int]
) -> None:
    """A robot or task type no dataset maps to any more (after a remap) leaves the lists."""
    await conn.execute(
        """DELETE FROM robodata_task_types t WHERE t.id = ANY($1::bigint[])
           AND NOT EXISTS (SELECT 1 FROM robodata_datasets d WHERE d.task_type_id = t.id)""",
        list(type_ids),
    )
    await conn.execute(
        """DELETE FROM robodata_robots r WHERE r.id = ANY($1::bigint[])
           AND NOT EXISTS (SELECT 1 FROM robodata_datasets d WHERE d.robot_id = r.id)""",
        list(robot_ids),
    )


async def refresh_counts(
    conn: asyncpg.Connection,
    dataset_ids: Sequence[int],
    robot_ids: Sequence[int],
    type_ids: Sequence[int],
) -> None:
    """Recount the episodes behind these datasets, robots and task types (after a write).

    Each count is an index-only scan of the rows it names, so it stays cheap however many
    other items there are.
    """
    await conn.execute(
        """UPDATE robodata_datasets d SET episode_count =
               (SELECT count(*) FROM robodata_items i WHERE i.dataset_id = d.id)
           WHERE d.id = ANY($1::bigint[])""",
        list(dataset_ids),
    )
    await conn.execute(
        """UPDATE robodata_task_types t SET episode_count =
               (SELECT count(*) FROM robodata_items i WHERE i.task_type_id = t.id)
           WHERE t.id = ANY($1::bigint[])""",
        list(type_ids),
    )
    await conn.execute(
        """UPDATE robodata_robots r SET
               episode_count = (SELECT count(*) FROM robodata_items i WHERE i.robot_id = r.id),
               type_count = (SELECT count(*) FROM robodata_task_types t WHERE t.robot_id = r.id)
           WHERE r.id = ANY($1::bigint[])""",
        list(robot_ids),
    )


# --- index tasks ----------------------------------------------------------------------------

_NEW_TASK = """
INSERT INTO robodata_index_tasks (owner_id, path) VALUES ($1, $2) RETURNING id
"""
_TASK = """
SELECT x.id, x.job_id, x.owner_id, x.path, x.total_episodes, x.processed_episodes, x.current_path,
       x.error_message, j.status, j.progress, j.error
FROM robodata_index_tasks x LEFT JOIN jobs j ON j.id = x.job_id
WHERE x.id = $1
"""


async def new_task(conn: asyncpg.Connection, owner_id: uuid.UUID, path: str) -> int:
    return int(await conn.fetchval(_NEW_TASK, owner_id, path))


async def attach_job(conn: asyncpg.Connection, task_id: int, job_id: uuid.UUID) -> None:
    await conn.execute("UPDATE robodata_index_tasks SET job_id = $2 WHERE id = $1", task_id, job_id)


async def get_task(conn: asyncpg.Connection, task_id: int) -> AttrRecord | None:
    return await conn.fetchrow(_TASK, task_id, record_class=AttrRecord)  # type: ignore[no-any-return]


async def task_progress(
    conn: asyncpg.Connection,
    task_id: int,
    *,
    total: int | None = None,
    processed: int | None = None,
    current: str | None = None,
    errors: Sequence[str] = (),
) -> None:
    """Record where an index task is; errors that do not fail it are appended."""
    await conn.execute(
        """
        UPDATE robodata_index_tasks SET
            total_episodes = coalesce($2, total_episodes),
            processed_episodes = coalesce($3, processed_episodes),
            current_path = coalesce($4, current_path),
            error_message = CASE WHEN $5::text = '' THEN error_message
                                 ELSE concat_ws(E'\\n', error_message, $5::text) END
        WHERE id = $1
        """,
        task_id,
        total,
        processed,
        current,
        "\n".join(errors),
    )


_ITEMS_UNDER = """
SELECT i.id, i.fingerprint, i.episode_index, i.primary_camera, d.path AS storage_path
FROM robodata_items i JOIN robodata_datasets d ON d.id = i.dataset_id
WHERE d.path = $1 OR starts_with(d.path, rtrim($1, '/') || '/')
ORDER BY d.path, i.episode_index
"""


async def items_under(conn: asyncpg.Connection, path: str) -> list[AttrRecord]:
    """The items of every dataset at or below `path` (a root path), dataset by dataset."""
    return await conn.fetch(_ITEMS_UNDER, path, record_class=AttrRecord)  # type: ignore[no-any-return]


async def stale_media_batch(conn: asyncpg.Connection, limit: int) -> list[tuple[int, str]]:
    """Up to `limit` (item id, fingerprint) pairs whose cached media is stale."""
    rows = await conn.fetch(
        "SELECT item_id, fingerprint FROM robodata_stale_media ORDER BY item_id LIMIT $1", limit
    )
    return [(r["item_id"], r["fingerprint"]) for r in rows]


async def forget_stale_media(conn: asyncpg.Connection, pairs: Sequence[tuple[int, str]]) -> None:
    """These pairs' files are gone."""
    await conn.execute(
        """DELETE FROM robodata_stale_media s
           USING unnest($1::bigint[], $2::text[]) AS p(item_id, fingerprint)
           WHERE s.item_id = p.item_id AND s.fingerprint = p.fingerprint""",
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )


# --- edits ----------------------------------------------------------------------------------


async def _catalog_lock(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('robodata_catalog'))")


async def _recount_all_touched(
    conn: asyncpg.Connection, dataset_ids: Sequence[int], robots: set[int], types: set[int]
) -> None:
    await _drop_unused(conn, list(robots), list(types))
    await refresh_counts(conn, dataset_ids, list(robots), list(types))


async def remap_dataset(
    conn: asyncpg.Connection, dataset_id: int, robot: str | None, task_type: str | None
) -> int:
    """Put a dataset and its items under another robot and/or task type; items changed."""
    async with conn.transaction():
        await _catalog_lock(conn)
        row = await conn.fetchrow(
            """SELECT d.robot_id, d.task_type_id, r.name AS robot, t.name AS task_type
               FROM robodata_datasets d JOIN robodata_robots r ON r.id = d.robot_id
               JOIN robodata_task_types t ON t.id = d.task_type_id WHERE d.id = $1""",
            dataset_id,
        )
        robot_id, type_id = await _mapped(
            conn, robot or row["robot"], task_type or row["task_type"]
        )
        await conn.execute(
            "UPDATE robodata_datasets SET robot_id = $2, task_type_id = $3 WHERE id = $1",
            dataset_id,
            robot_id,
            type_id,
        )
        changed = await conn.execute(
            "UPDATE robodata_items SET robot_id = $2, task_type_id = $3 WHERE dataset_id = $1",
            dataset_id,
            robot_id,
            type_id,
        )
        await _recount_all_touched(
            conn, [dataset_id], {robot_id, row["robot_id"]}, {type_id, row["task_type_id"]}
        )
    return int(changed.split()[-1])


async def remap_item(
    conn: asyncpg.Connection, item_id: int, robot: str | None, task_type: str | None
) -> None:
    """Put one item under another robot and/or task type (its dataset keeps its own)."""
    async with conn.transaction():
        await _catalog_lock(conn)
        row = await conn.fetchrow(
            """SELECT i.dataset_id, i.robot_id, i.task_type_id, r.name AS robot,
                      t.name AS task_type
               FROM robodata_items i JOIN robodata_robots r ON r.id = i.robot_id
               JOIN robodata_task_types t ON t.id = i.task_type_id WHERE i.id = $1""",
            item_id,
        )
        robot_id, type_id = await _mapped(
            conn, robot or row["robot"], task_type or row["task_type"]
        )
        await conn.execute(
            "UPDATE robodata_items SET robot_id = $2, task_type_id = $3 WHERE id = $1",
            item_id,
            robot_id,
            type_id,
        )
        await refresh_counts(
            conn,
            [row["dataset_id"]],
            [robot_id, row["robot_id"]],
            [type_id, row["task_type_id"]],
        )


async def move_dataset(conn: asyncpg.Connection, dataset_id: int, path: str, name: str) -> None:
    """Record that a dataset's folder moved; its items keep their ids."""
    async with conn.transaction():
        old = await conn.fetchval(
            "UPDATE robodata_datasets d SET path = $2, name = $3 FROM robodata_datasets o"
            " WHERE d.id = $1 AND o.id = d.id RETURNING o.path",
            dataset_id,
            path,
            name,
        )
        await conn.execute(
            "UPDATE robodata_items SET file_path = $3 || substr(file_path, length($2) + 1)"
            " WHERE dataset_id = $1 AND starts_with(file_path, $2 || '/')",
            dataset_id,
            old,
            path,
        )


async def delete_dataset(conn: asyncpg.Connection, dataset_id: int) -> int:
    """Remove a dataset's records (never its files); how many items went with it."""
    async with conn.transaction():
        await _catalog_lock(conn)
        row = await conn.fetchrow(
            "SELECT robot_id, task_type_id FROM robodata_datasets WHERE id = $1", dataset_id
        )
        if row is None:
            return 0
        touched = await conn.fetch(
            "SELECT DISTINCT robot_id, task_type_id FROM robodata_items WHERE dataset_id = $1",
            dataset_id,
        )
        count = await conn.fetchval(
            "WITH gone AS (DELETE FROM robodata_items WHERE dataset_id = $1 RETURNING 1)"
            " SELECT count(*) FROM gone",
            dataset_id,
        )
        await conn.execute("DELETE FROM robodata_datasets WHERE id = $1", dataset_id)
        robots = {row["robot_id"], *(t["robot_id"] for t in touched)}
        types = {row["task_type_id"], *(t["task_type_id"] for t in touched)}
        await _recount_all_touched(conn, [], robots, types)
    return int(count)


async def delete_item(conn: asyncpg.Connection, item_id: int, *, renumber: bool) -> None:
    """Remove one item; with `renumber` (a v3 dataset rewritten without the episode) the
    later episodes of its dataset move down one index and keep their ids."""
    async with conn.transaction():
        await _catalog_lock(conn)
        row = await conn.fetchrow(
            "DELETE FROM robodata_items WHERE id = $1"
            " RETURNING dataset_id, episode_index, robot_id, task_type_id",
            item_id,
        )
        if row is None:
            return
        if renumber:
            # Two steps: the unique (dataset, episode) would refuse an in-place shift midway.
            await conn.execute(
                "UPDATE robodata_items SET episode_index = -episode_index"
                " WHERE dataset_id = $1 AND episode_index > $2",
                row["dataset_id"],
                row["episode_index"],
            )
            await conn.execute(
                "UPDATE robodata_items SET episode_index = -episode_index - 1"
                " WHERE dataset_id = $1 AND episode_index < 0",
                row["dataset_id"],
            )
        await refresh_counts(conn, [row["dataset_id"]], [row["robot_id"]], [row["task_type_id"]])
