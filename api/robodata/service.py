"""Robodata operations on the catalog: dependencies (a connection, links) as arguments,
nothing here knows HTTP or commits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import msgspec

from api.error import NotFound
from api.robodata.schema import (
    CameraView,
    DatasetSummary,
    IndexStatus,
    ItemDetail,
    ItemPage,
    ItemSummary,
    Named,
    Robot,
    TaskType,
)
from domain.robodata.catalog import dataset_id, dataset_path, episode_id, primary_camera
from domain.robodata.error import CameraNotFoundError
from infra.db import robodata as repo
from infra.db.driver import AttrRecord
from infra.security import Principal

# (item id, path under /robodata/items/{id}, query) → an absolute link a client can open.
Link = Callable[[int, str, dict[str, str]], str]

MAX_PAGE = 10_000_000


class Paging(msgspec.Struct, frozen=True):
    """A page as the original clamps it: page ≥ 1, page_size within 1..max."""

    page: int
    size: int

    @classmethod
    def clamp(cls, page: int, size: int | None, default: int, most: int) -> Paging:
        wanted = default if size is None else size
        return cls(page=min(max(page, 1), MAX_PAGE), size=min(max(wanted, 1), most))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def _cameras(row: AttrRecord) -> list[dict[str, Any]]:
    value = row.cameras
    return msgspec.json.decode(value) if isinstance(value, str) else list(value)


def robot_view(row: AttrRecord) -> Robot:
    return Robot(
        id=row.id,
        name=row.name,
        displayName=row.display_name or row.name,
        description=row.description,
        typeCount=row.type_count,
        episodeCount=row.episode_count,
    )


def task_type_view(row: AttrRecord) -> TaskType:
    return TaskType(
        id=row.id,
        name=row.name,
        displayName=row.display_name or row.name,
        episodeCount=row.episode_count,
        robot=row.robot,
    )


def dataset_view(row: AttrRecord) -> DatasetSummary:
    return DatasetSummary(
        id=dataset_id(row.path),
        name=row.name,
        path=row.path,
        robot=row.robot,
        taskType=row.task_type,
        episodeCount=row.episode_count,
        version=row.version,
    )


def item_summary(row: AttrRecord, link: Link) -> ItemSummary:
    primary = row.primary_camera
    return ItemSummary(
        id=row.id,
        episodeId=episode_id(row.episode_index),
        robot=row.robot,
        taskType=row.task_type,
        storagePath=row.storage_path,
        datasetId=dataset_id(row.storage_path),
        thumbnailUrl=link(row.id, "thumbnail", {"camera": primary}) if primary else None,
        totalFrames=row.total_frames,
        duration=row.duration,
        fps=row.fps,
        resolution=f"{row.width}x{row.height}",
        cameraCount=row.camera_count,
    )


async def robot_id(conn: asyncpg.Connection, name: str) -> int:
    found = await repo.robot_by_name(conn, name)
    if found is None:
        raise NotFound("Robot not found")
    return int(found.id)


async def dataset_of(conn: asyncpg.Connection, identifier: str) -> AttrRecord:
    """The dataset a base64 id names: 400 for a bad id, 404 for an unknown dataset."""
    row = await repo.dataset_by_path(conn, dataset_path(identifier))
    if row is None:
        raise NotFound("Dataset not found")
    return row


async def items_page(
    conn: asyncpg.Connection, robot: str | None, task_type: str | None, paging: Paging, link: Link
) -> ItemPage:
    rows, total = await repo.list_items(conn, robot, task_type, paging.size, paging.offset)
    return ItemPage(
        items=[item_summary(r, link) for r in rows],
        total=total,
        page=paging.page,
        pageSize=paging.size,
    )


async def dataset_items_page(
    conn: asyncpg.Connection, identifier: str, paging: Paging, link: Link
) -> ItemPage:
    dataset = await dataset_of(conn, identifier)
    rows = await repo.list_dataset_items(conn, dataset.id, paging.size, paging.offset)
    return ItemPage(
        items=[item_summary(r, link) for r in rows],
        total=dataset.episode_count,
        page=paging.page,
        pageSize=paging.size,
    )


async def item_row(conn: asyncpg.Connection, item_id: int) -> AttrRecord:
    row = await repo.get_item(conn, item_id)
    if row is None:
        raise NotFound("Item not found")
    return row


def camera_key(row: AttrRecord, camera: str | None) -> str:
    """The camera a request names (its full key or last part), the primary one when None."""
    keys: list[str] = [str(c["key"]) for c in _cameras(row)]
    if camera is None:
        primary = primary_camera(keys)
        if primary is None:
            raise CameraNotFoundError("Camera not found")
        return primary
    for key in keys:
        if camera in (key, key.rsplit(".", 1)[-1]):
            return key
    raise CameraNotFoundError("Camera not found")


def item_detail(row: AttrRecord, link: Link) -> ItemDetail:
    cameras = _cameras(row)
    primary = primary_camera([c["key"] for c in cameras])
    return ItemDetail(
        id=row.id,
        episodeId=episode_id(row.episode_index),
        robot=Named(id=row.robot_id, name=row.robot, displayName=row.robot_display or row.robot),
        taskType=Named(
            id=row.task_type_id,
            name=row.task_type,
            displayName=row.task_type_display or row.task_type,
        ),
        filePath=row.file_path,
        storagePath=row.storage_path,
        datasetId=dataset_id(row.storage_path),
        totalFrames=row.total_frames,
        fps=row.fps,
        duration=row.duration,
        width=row.width,
        height=row.height,
        imageCount=row.image_count,
        totalSizeBytes=row.total_size_bytes,
        cameraCount=len(cameras),
        cameras=[
            CameraView(
                cameraKey=c["key"],
                displayName=c["key"].rsplit(".", 1)[-1],
                frameCount=c["frames"],
                width=c["width"],
                height=c["height"],
                codec=c.get("codec"),
                thumbnailUrl=link(row.id, "thumbnail", {"camera": c["key"]}),
                streamUrl=link(row.id, "stream", {"camera": c["key"]}),
            )
            for c in cameras
        ],
        thumbnailUrl=link(row.id, "thumbnail", {"camera": primary}) if primary else None,
        timeseriesUrl=link(row.id, "timeseries", {}),
    )


_STATUS = {"pending": "pending", "running": "running", "completed": "completed"}


async def index_status(conn: asyncpg.Connection, task_id: int, caller: Principal) -> IndexStatus:
    """An index task its owner (or an admin) asked about; others get the same 404."""
    row = await repo.get_task(conn, task_id)
    if row is None or (not caller.is_admin and str(row.owner_id) != caller.id):
        raise NotFound("Index task not found")
    status = _STATUS.get(row.status or "pending", "failed")
    error = row.error_message
    if status == "failed" and row.error:
        failure = msgspec.json.decode(row.error) if isinstance(row.error, str) else row.error
        error = "\n".join(x for x in (error, failure.get("detail")) if x)
    return IndexStatus(
        taskId=row.id,
        status=status,  # type: ignore[arg-type]
        progress=100 if status == "completed" else int(row.progress or 0),
        totalEpisodes=row.total_episodes,
        processedEpisodes=row.processed_episodes,
        currentPath=row.current_path,
        errorMessage=error,
        jobId=str(row.job_id) if row.job_id else None,
    )
