"""Requests and results of the studio engine: what goes in and what leaves it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import msgspec

from domain.studio.error import InvalidRequest

Progress = Callable[[float, str], None]
"""Progress callback: percent done (0–100) and a message."""

CancelCheck = Callable[[], bool]
"""Cooperative cancel flag for work running in a thread: True means stop now."""

# Output sizes for each aspect ratio, as flux-schnell (about one megapixel) and gen4-turbo
# (720p class) produce them, so local results have the same shapes as Replicate's.
IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "21:9": (1536, 640),
    "9:21": (640, 1536),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "4:3": (1152, 896),
    "3:4": (896, 1152),
}
CLIP_SIZES: dict[str, tuple[int, int]] = {
    "16:9": (1280, 720),
    "9:16": (720, 1280),
    "4:3": (1104, 832),
    "3:4": (832, 1104),
    "1:1": (960, 960),
    "21:9": (1584, 672),
}
CLIP_DURATIONS: tuple[int, ...] = (5, 10)
MAX_IMAGES = 4
MAX_PROMPT_CHARS = 2000

ProviderName = Literal["replicate", "local"]


def _check_prompt(prompt: str) -> None:
    if not prompt.strip():
        raise InvalidRequest("prompt is empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"prompt is longer than {MAX_PROMPT_CHARS} characters")


class ImageRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Images from a prompt (flux-schnell's inputs)."""

    prompt: str
    num_outputs: int = 1
    aspect_ratio: str = "1:1"
    seed: int | None = None
    output_format: Literal["png", "webp", "jpg"] = "png"

    def __post_init__(self) -> None:
        _check_prompt(self.prompt)
        if not 1 <= self.num_outputs <= MAX_IMAGES:
            raise InvalidRequest(f"num_outputs must be 1 to {MAX_IMAGES}, got {self.num_outputs}")
        if self.aspect_ratio not in IMAGE_SIZES:
            raise InvalidRequest(
                f"aspect_ratio {self.aspect_ratio!r} is not one of {', '.join(IMAGE_SIZES)}"
            )


class ClipRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A clip from an image and a prompt (gen4-turbo's inputs)."""

    prompt: str
    # The start image's bytes; providers that take a URL use `image_url` when it is set.
    image: bytes
    image_url: str = ""
    duration: int = 5
    aspect_ratio: str = "16:9"
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_prompt(self.prompt)
        if not self.image and not self.image_url:
            raise InvalidRequest("a clip needs a start image")
        if self.duration not in CLIP_DURATIONS:
            raise InvalidRequest(f"duration must be 5 or 10 seconds, got {self.duration}")
        if self.aspect_ratio not in CLIP_SIZES:
            raise InvalidRequest(
                f"aspect_ratio {self.aspect_ratio!r} is not one of {', '.join(CLIP_SIZES)}"
            )


class CostLine(msgspec.Struct, frozen=True):
    """One line of a session's cost breakdown, shaped as the contract shows it."""

    service: str
    cost: float
    tokens_used: int | None
    details: dict[str, Any]


class Asset(msgspec.Struct, frozen=True, kw_only=True):
    """One generated file, downloaded: Replicate deletes its outputs after an hour."""

    index: int
    data: bytes
    content_type: str
    # Where the provider served it from (empty for local results); informative only.
    source_url: str = ""


class Generation(msgspec.Struct, frozen=True, kw_only=True):
    """The result of one prediction: its files, where they came from and what they cost."""

    assets: list[Asset]
    provider: ProviderName
    local: bool
    model: str
    prediction_id: str
    cost: CostLine
    # Seconds of video per asset, for clips.
    duration: float | None = None
