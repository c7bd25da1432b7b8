"""Robodata job kinds: index scans and registrations (`indexing`), episode media (`media`)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from workers.catalog.kind import JobKind


class IndexPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """robodata.index: parse every dataset below `path` into the catalog for index task
    `task_id`; with `robot` and `task_type` (a registration) the dataset is mapped to them."""

    task_id: int
    path: str
    robot: str | None = None
    task_type: str | None = None


class MediaPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """robodata.media: make one episode's thumbnail, stream or timeseries and store it in the
    blob store under `key` (the cache the API serves from)."""

    item_id: int
    what: Literal["thumbnail", "stream", "timeseries"]
    key: str
    camera: str | None = None
    resolution: str | None = None
    frame: Annotated[int, msgspec.Meta(ge=0)] = 0
    max_points: Annotated[int, msgspec.Meta(ge=2, le=100_000)] = 500


KINDS = (
    JobKind(
        name="robodata.index",
        pool="indexing",
        payload=IndexPayload,
        handler="workers.robodata:index",
        timeout_s=3600,
        max_tries=2,
    ),
    JobKind(
        name="robodata.media",
        pool="media",
        payload=MediaPayload,
        handler="workers.robodata:media",
        timeout_s=600,
        max_tries=2,
        # Concurrent requests share one job: one client going away must not cancel it.
        cancellable=False,
    ),
)
