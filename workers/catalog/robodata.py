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
    # Then make the episodes' default media ahead (a robodata.materialize job), remaking
    # what is cached already with `overwrite_assets`.
    materialize_assets: bool = False
    overwrite_assets: bool = False


class EditPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """robodata.edit: change a dataset on disk through the engine's atomic edits, then make
    its records follow: `update` moves/renames it and maps it to `robot` / `task_type`;
    `delete` removes episode `item_id` (a v3 dataset's later episodes keep their ids).
    `force_local`: a local change that cannot be made fails the job; otherwise only the
    records change and the message says why the files did not."""

    action: Literal["update", "delete"]
    dataset_id: int
    item_id: int | None = None
    robot: str | None = None
    task_type: str | None = None
    storage_path: str | None = None
    force_local: bool = True


class MaterializePayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """robodata.materialize: make the media a browser shows first of every episode of the
    datasets at or below `path` (the primary camera's thumbnail and stream) into the cache;
    `overwrite` remakes what is cached already."""

    path: str
    overwrite: bool = False


class SweepPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """robodata.sweep: delete the cached media that catalog writes made stale (after a
    records-only delete in the API; index and edit jobs sweep as they finish)."""


class ParsePayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """robodata.parse: the parse-lerobot preview of the dataset at `path`, named `name`."""

    path: str
    name: str | None = None


class UnpackPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """robodata.unpack: import the uploaded archive stored under `archive_key` into the new
    folder `target` (inside the roots), refusing traversal, outside links and bombs."""

    archive_key: str
    target: str


Port = Annotated[int, msgspec.Meta(ge=1024, le=65535)]


class ViewerPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """robodata.viewer: serve the recording stored under `rrd_key` in a Rerun web viewer of
    this worker (the running one for it when there is one), or stop that viewer."""

    action: Literal["start", "stop"] = "start"
    rrd_key: str
    ws_port: Port = 9087
    web_port: Port = 9090


class MediaPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """robodata.media: make one episode's thumbnail, stream, timeseries or Rerun `.rrd` and
    store it in the blob store under `key` (the cache the API serves from)."""

    item_id: int
    what: Literal["thumbnail", "stream", "timeseries", "rrd"]
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
        warm="workers.robodata:warm",
    ),
    JobKind(
        name="robodata.edit",
        pool="indexing",
        payload=EditPayload,
        handler="workers.robodata:edit",
        timeout_s=3600,
        # A rewrite half done is finished or undone by the engine; running it twice is not
        # safe (a second delete would remove the next episode), so it is never retried.
        max_tries=1,
        cancellable=False,
    ),
    JobKind(
        name="robodata.materialize",
        pool="media",
        payload=MaterializePayload,
        handler="workers.robodata:materialize",
        timeout_s=3600,
        max_tries=2,
    ),
    JobKind(
        name="robodata.sweep",
        pool="indexing",
        payload=SweepPayload,
        handler="workers.robodata:sweep",
        timeout_s=3600,
        max_tries=3,
    ),
    JobKind(
        name="robodata.parse",
        pool="indexing",
        payload=ParsePayload,
        handler="workers.robodata:parse",
        timeout_s=600,
        max_tries=2,
    ),
    JobKind(
        name="robodata.unpack",
        pool="indexing",
        payload=UnpackPayload,
        handler="workers.robodata:unpack",
        timeout_s=3600,
        max_tries=2,
    ),
    JobKind(
        name="robodata.viewer",
        pool="media",
        payload=ViewerPayload,
        handler="workers.robodata:viewer",
        timeout_s=120,
        max_tries=1,
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
