"""The studio's job kinds: the five steps of prompt → images → clips → final video.

Each runs on the `media` pool (PyAV, the Replicate client). The API checks a step's order
before submitting; the handler checks it again with a conditional UPDATE, which decides. A
payload names only a session: whose it is (and so where its files go) comes from the
database and the job's owner, since anyone may submit any kind through `/jobs`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from workers.catalog.kind import JobKind

SessionId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class GenerateImagesPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    session_id: SessionId
    prompt: str
    num_images: Annotated[int, msgspec.Meta(ge=1, le=4)] = 4
    aspect_ratio: str = "16:9"


class ApprovePayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    session_id: SessionId
    kind: Literal["image", "clip"]
    # The approved assets, in the order the user gave them.
    asset_ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=100)]


class GenerateClipsPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    session_id: SessionId
    video_prompt: str
    num_clips: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    duration: Literal[5, 10] = 5


class Overlay(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    text: str
    start_time: float
    duration: float


class ComposePayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    session_id: SessionId
    text_overlays: list[Overlay] = msgspec.field(default_factory=list)
    # The caller's own stored file, or a public https URL (checked again where fetched).
    audio_key: str | None = None
    audio_url: str | None = None


class WebhookDelivery(msgspec.Struct, frozen=True):
    """A Replicate webhook the API verified, relayed to the media workers as it came."""

    headers: dict[str, str]
    body: bytes


def webhook_channel(redis_prefix: str) -> str:
    """The Redis channel the API publishes Replicate webhooks on for the media workers."""
    return f"{redis_prefix}:studio:replicate-webhooks"


def _kind(name: str, payload: type[msgspec.Struct], timeout_s: float, tries: int) -> JobKind:
    return JobKind(
        name=f"studio.{name}",
        pool="media",
        payload=payload,
        handler=f"workers.studio:{name}",
        timeout_s=timeout_s,
        # A generation that runs again pays its provider again: one retry, for a worker lost.
        max_tries=tries,
        backoff_s=2.0,
    )


KINDS = (
    _kind("generate_images", GenerateImagesPayload, 900, 2),
    _kind("approve", ApprovePayload, 60, 3),
    _kind("generate_clips", GenerateClipsPayload, 3600, 2),
    _kind("compose", ComposePayload, 3600, 3),
)
