"""The rigging contract's request and response bodies, word for word (extra fields are the
original backend's, which its browser client reads)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Path = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=600,
        description="A file of the session: /uploads/<session_id>/<name> or "
        "/results/<session_id>/<name>",
    ),
]
Format = Literal["glb", "fbx"]
JobType = Literal["skeleton", "skinning", "merge"]


class CsrfToken(msgspec.Struct):
    csrf_token: str


class Health(msgspec.Struct):
    status: str
    timestamp: datetime
    version: str


class Upload(msgspec.Struct):
    filename: str
    path: str
    size: int
    mime_type: str
    uploaded_at: datetime
    session_id: str


class SkeletonRequest(msgspec.Struct, kw_only=True):
    input_file: Path
    # Not in the contract: the intermediate file's format (the engine writes GLB or FBX).
    output_format: Format = "glb"


class SkinningRequest(msgspec.Struct, kw_only=True):
    input_file: Path
    output_format: Format = "glb"


class MergeRequest(msgspec.Struct, kw_only=True):
    skeleton_file: Path
    skinning_file: Path
    output_format: Format = "fbx"


class JobResults(msgspec.Struct):
    """The original's per-stage result paths (one is set, by the job's type)."""

    skeleton_file: str | None
    skin_file: str | None
    final_file: str | None


class Job(msgspec.Struct):
    job_id: str
    status: str
    type: JobType
    input_file: str
    output_file: str | None
    progress: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    # The original's extras: the session, the input's name, the stage now running and
    # per-stage results.
    session_id: str
    filename: str
    stage: str
    error_code: str | None
    results: JobResults
    skinning_file: str | None = None  # merge: its second input
    output_format: str | None = None


class JobSummary(msgspec.Struct):
    job_id: str
    status: str
    type: JobType
    progress: int
    created_at: datetime
    completed_at: datetime | None
    input_file: str
    output_file: str | None
    error: str | None


class JobPage(msgspec.Struct):
    jobs: list[JobSummary]
    total: int
    limit: int
    offset: int


class Cancelled(msgspec.Struct):
    job_id: str
    status: str
    message: str


class Message(msgspec.Struct):
    message: str


class SessionStats(msgspec.Struct):
    session_id: str
    total_jobs: int
    completed_jobs: int
    failed_jobs: int
    pending_jobs: int
    total_uploads: int
    storage_used_mb: float
    created_at: datetime
    last_activity: datetime
    running_jobs: int
    cancelled_jobs: int


class SessionDeleted(msgspec.Struct):
    message: str
    files_deleted: int
    storage_freed_mb: float


class DiskSpace(msgspec.Struct):
    total: int
    used: int
    free: int
    percent_used: float
    status: Literal["ok", "warning", "critical"]
    warning_threshold_gb: float
    critical_threshold_gb: float
