"""The studio contract's request and response Structs, word for word (extra fields noted)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from domain.studio.model import MAX_PROMPT_CHARS

Prompt = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PROMPT_CHARS)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]


class Detail(msgspec.Struct):
    """Every error: `{"detail": "..."}`."""

    detail: str


class Root(msgspec.Struct):
    status: str
    service: str
    version: str


class HealthServices(msgspec.Struct):
    orchestrator: str
    websocket: str
    # Extra: the media pool's live workers, which run every step.
    media_workers: int


class Health(msgspec.Struct):
    status: str
    database: str
    services: HealthServices


class LoginForm(msgspec.Struct):
    """The OAuth2 password form; `username` is the email (a platform username works too)."""

    username: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class Token(msgspec.Struct):
    access_token: str
    token_type: str = "bearer"


class ExchangeRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]


class Me(msgspec.Struct):
    id: int
    email: str
    created_at: datetime


class GenerateImages(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    prompt: Prompt
    num_images: Annotated[int, msgspec.Meta(ge=1, le=4)] = 4
    aspect_ratio: str = "16:9"


class ImageOut(msgspec.Struct):
    url: str
    index: int


class ImagesGenerated(msgspec.Struct):
    session_id: str
    status: str
    images: list[ImageOut]


class SaveApprovedImages(msgspec.Struct, forbid_unknown_fields=True):
    session_id: Annotated[str, msgspec.Meta(max_length=64)]
    approved_image_urls: Annotated[list[Url], msgspec.Meta(min_length=1, max_length=100)]


class SaveApprovedClips(msgspec.Struct, forbid_unknown_fields=True):
    session_id: Annotated[str, msgspec.Meta(max_length=64)]
    approved_clip_urls: Annotated[list[Url], msgspec.Meta(min_length=1, max_length=100)]


class Approved(msgspec.Struct):
    status: str
    session_id: str
    approved_count: int


class GenerateClips(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    session_id: Annotated[str, msgspec.Meta(max_length=64)]
    video_prompt: Prompt
    num_clips: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    # The clip models make 5 or 10 s clips; other values are rounded to the nearer one.
    duration: Annotated[float, msgspec.Meta(gt=0, le=10)] = 5.0


class ClipOut(msgspec.Struct):
    url: str
    index: int
    duration: float


class ClipsGenerated(msgspec.Struct):
    session_id: str
    status: str
    clips: list[ClipOut]


class TextOverlay(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    start_time: Annotated[float, msgspec.Meta(ge=0, le=3600)]
    duration: Annotated[float, msgspec.Meta(gt=0, le=3600)]


class ComposeFinal(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    session_id: Annotated[str, msgspec.Meta(max_length=64)]
    text_overlays: Annotated[list[TextOverlay], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )
    audio_url: Url | None = None


class FinalVideo(msgspec.Struct):
    session_id: str
    status: str
    video_url: str


class AssetView(msgspec.Struct):
    id: int
    type: str
    url: str
    approved: bool
    order_index: int | None
    created_at: datetime


class SessionView(msgspec.Struct):
    id: str
    status: str
    prompt: str
    video_prompt: str | None
    final_video_url: str | None
    created_at: datetime
    completed_at: datetime | None
    assets: list[AssetView]
    # Extra: why the last step failed, and a signed, short-lived URL of the session's socket.
    error: str | None = None
    ws_url: str | None = None


class CostLineView(msgspec.Struct):
    service: str
    cost: float
    tokens_used: int | None
    details: dict[str, Any]


class Costs(msgspec.Struct):
    session_id: str
    total_cost: float
    breakdown: list[CostLineView]


class Uploaded(msgspec.Struct):
    url: str
    key: str
    size: int
    content_type: str
    original_filename: str


class PromptConfig(msgspec.Struct, forbid_unknown_fields=True):
    config_data: dict[str, Any]
    session_id: Annotated[
        str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    ]


class PromptConfigSaved(msgspec.Struct):
    status: str
    key: str
    session_id: str


class FileView(msgspec.Struct):
    key: str
    size: int
    last_modified: datetime
    content_type: str
    presigned_url: str


class FileList(msgspec.Struct):
    files: list[FileView]
    total: int
    limit: int
    offset: int


class Presigned(msgspec.Struct):
    presigned_url: str
    expires_in: int


class Deleted(msgspec.Struct):
    status: str
    message: str
    key: str
