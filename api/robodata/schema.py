"""The robodata contract's request and response Structs: camelCase responses, snake_case
bodies, as the original backend writes them (see shared/contracts/ORIGINALS.md)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from domain.robodata.catalog import DatasetInfo, EpisodeInfo, RobotInfo, TaskInfo

# Long enough for any real path, short enough that no body is a memory problem.
PathText = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class RobodataDetail(msgspec.Struct):
    """Every error: `{"detail": "..."}`."""

    detail: str


class RobodataUser(msgspec.Struct):
    id: int
    username: str
    displayName: str
    roles: list[str]


class RobodataTokens(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    user: RobodataUser
    token_type: str = "bearer"


class Robot(msgspec.Struct):
    id: int
    name: str
    displayName: str
    description: str
    typeCount: int
    episodeCount: int


class Robots(msgspec.Struct):
    robots: list[Robot]


class TaskType(msgspec.Struct):
    id: int
    name: str
    displayName: str
    episodeCount: int
    robot: str


class TaskTypes(msgspec.Struct):
    taskTypes: list[TaskType]


class DatasetSummary(msgspec.Struct):
    id: str
    name: str
    path: str
    robot: str
    taskType: str
    episodeCount: int
    version: str


class Datasets(msgspec.Struct):
    datasets: list[DatasetSummary]


class ItemSummary(msgspec.Struct):
    id: int
    episodeId: str
    robot: str
    taskType: str
    storagePath: str
    datasetId: str
    thumbnailUrl: str | None
    totalFrames: int
    duration: float
    fps: float
    resolution: str
    cameraCount: int


class ItemPage(msgspec.Struct):
    items: list[ItemSummary]
    total: int
    page: int
    pageSize: int


class Named(msgspec.Struct):
    id: int
    name: str
    displayName: str


class CameraView(msgspec.Struct):
    cameraKey: str
    displayName: str
    frameCount: int
    width: int
    height: int
    codec: str | None
    thumbnailUrl: str
    streamUrl: str


class ItemDetail(msgspec.Struct):
    id: int
    episodeId: str
    robot: Named
    taskType: Named
    filePath: str
    storagePath: str
    datasetId: str
    totalFrames: int
    fps: float
    duration: float
    width: int
    height: int
    imageCount: int
    totalSizeBytes: int
    cameraCount: int
    cameras: list[CameraView]
    thumbnailUrl: str | None
    timeseriesUrl: str


class Timeseries(msgspec.Struct):
    timestamps: list[float]
    action: list[list[float]]
    state: list[list[float]]
    actionNames: list[str]
    stateNames: list[str]
    totalPoints: int
    downsampled: bool


class ScanRequest(msgspec.Struct, forbid_unknown_fields=True):
    path: PathText


class ScanStarted(msgspec.Struct):
    taskId: int
    status: str
    message: str
    # The job doing the work: its progress streams on `/ws` (topic `job:<jobId>`).
    jobId: str


class IndexStatus(msgspec.Struct):
    taskId: int
    status: Literal["pending", "running", "completed", "failed"]
    progress: int
    totalEpisodes: int
    processedEpisodes: int
    currentPath: str
    errorMessage: str | None
    jobId: str | None


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    path: PathText
    dataset_name: Name | None = None
    robot: Name | None = None
    task_type: Name | None = None
    materialize_assets: bool = False
    overwrite_assets: bool = False


class RegisterResponse(msgspec.Struct):
    taskId: int
    status: str
    message: str
    mappedRobot: str
    mappedTaskType: str
    jobId: str


class RobodataDatasetUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    robot: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    task_type: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    storage_path: Annotated[str, msgspec.Meta(max_length=4096)] | None = None


class DatasetUpdated(msgspec.Struct):
    success: bool
    message: str
    updatedCount: int
    robot: str
    taskType: str
    storagePath: str


class ItemUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    episode_id: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    robot: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    task_type: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    file_path: Annotated[str, msgspec.Meta(max_length=4096)] | None = None
    storage_path: Annotated[str, msgspec.Meta(max_length=4096)] | None = None


class ItemChanged(msgspec.Struct):
    success: bool
    message: str
    itemId: int


class DatasetDeleted(msgspec.Struct):
    success: bool
    message: str
    deletedCount: int


class ParseRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    dataset_path: PathText
    dataset_name: Name | None = None
    materialize_assets: bool = False
    overwrite_assets: bool = False


class ParseResponse(msgspec.Struct):
    success: bool
    message: str
    dataset_info: DatasetInfo
    robot_info: RobotInfo
    tasks: list[TaskInfo]
    episodes: list[EpisodeInfo]


class CreateRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    dataset_path: PathText
    dataset_name: Name | None = None
    robot: Name | None = None
    task_type: Name | None = None
    index_now: bool = True
    materialize_assets: bool = False
    overwrite_assets: bool = False


class Parsed(msgspec.Struct):
    dataset_name: str
    dataset_info: DatasetInfo
    robot_info: RobotInfo
    tasks: list[TaskInfo]
    episode_count: int


class CreateResponse(msgspec.Struct):
    success: bool
    message: str
    taskId: int | None
    status: Literal["running", "parsed"]
    datasetName: str
    mappedRobot: str
    mappedTaskType: str
    parsed: Parsed
    # The index job (progress on `/ws`), and where an uploaded archive was unpacked.
    jobId: str | None = None
    datasetPath: str | None = None


class RrdRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    format: Literal["rrd"] = "rrd"


class RrdResponse(msgspec.Struct):
    status: str
    downloadUrl: str
    filePath: str
    fileSize: int
    duration: float


class ViewerRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    mode: Literal["distant", "local"] = "distant"
    ws_port: Annotated[int, msgspec.Meta(ge=1024, le=65535)] = 9087
    web_port: Annotated[int, msgspec.Meta(ge=1024, le=65535)] = 9090


class ViewerResponse(msgspec.Struct):
    status: str
    wsUrl: str | None = None
    webUrl: str | None = None
    instructions: str | None = None
    viewerId: str | None = None
    reused: bool = False
