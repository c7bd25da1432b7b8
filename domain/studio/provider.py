"""The one interface every generation provider (Replicate, local) implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from domain.studio.model import (
    ClipRequest,
    CostLine,
    Generation,
    ImageRequest,
    Progress,
    ProviderName,
)

CostSink = Callable[[CostLine], None]
"""Receives the cost line of every prediction once it ends, however it ends (also when the
caller is canceled, when no result is returned to carry it)."""


class Provider(Protocol):
    """Images from a prompt, and a clip from an image."""

    @property
    def name(self) -> ProviderName:
        """Which provider made a result ("replicate" or "local")."""
        ...

    async def generate_images(
        self,
        request: ImageRequest,
        *,
        progress: Progress | None = None,
        on_cost: CostSink | None = None,
    ) -> Generation:
        """Generate `request.num_outputs` images and return them downloaded."""
        ...

    async def generate_clip(
        self,
        request: ClipRequest,
        *,
        progress: Progress | None = None,
        on_cost: CostSink | None = None,
    ) -> Generation:
        """Generate one clip from the request's start image and return it downloaded."""
        ...
