"""Studio fixtures: the Replicate stand-in and synthetic media, built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.replicate_standin import ReplicateStandIn
from tests.unit.studio.media import COLOURS, make_clip, make_tone


@pytest.fixture(scope="session")
def standin() -> Iterator[ReplicateStandIn]:
    server = ReplicateStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def replicate_server(standin: ReplicateStandIn) -> ReplicateStandIn:
    """The stand-in with a fresh plan and counters for this test."""
    standin.reset()
    return standin


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three short clips of different colours (the second 4:3 at 30 fps) and a tone."""
    root = tmp_path_factory.mktemp("studio-media")
    broken = root / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not really a video" * 20)
    return {
        "a": make_clip(root / "a.mp4", seconds=1.5, size=(320, 180), fps=24, colour=COLOURS[0]),
        "b": make_clip(root / "b.mp4", seconds=1.0, size=(240, 180), fps=30, colour=COLOURS[1]),
        "c": make_clip(root / "c.mp4", seconds=1.5, size=(320, 180), fps=24, colour=COLOURS[2]),
        "voiced": make_clip(
            root / "voiced.mp4", seconds=1.5, size=(320, 180), colour=COLOURS[0], tone_hz=1000.0
        ),
        "tone": make_tone(root / "tone.m4a", seconds=8.0),
        "broken": broken,
    }
