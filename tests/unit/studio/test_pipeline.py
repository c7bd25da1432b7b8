"""The whole studio pipeline offline: prompt → images → clips → final video, at no cost."""

from __future__ import annotations

from pathlib import Path

import av

from domain.studio.composition import MediaInput, TextOverlay, compose
from domain.studio.local import LocalProvider
from domain.studio.model import ClipRequest, CostLine, ImageRequest


async def test_a_new_user_can_run_the_whole_pipeline_offline(tmp_path: Path) -> None:
    provider = LocalProvider(fps=4)
    costs: list[CostLine] = []
    images = await provider.generate_images(
        ImageRequest(prompt="man buys hat", num_outputs=2, aspect_ratio="16:9"),
        on_cost=costs.append,
    )
    clips = []
    for image in images.assets:
        clip = await provider.generate_clip(
            ClipRequest(prompt="elegant hat showcase", image=image.data, seed=image.index),
            on_cost=costs.append,
        )
        path = tmp_path / f"clip-{image.index}.mp4"
        path.write_bytes(clip.assets[0].data)
        clips.append(MediaInput(path.name, str(path)))
    final = compose(
        clips,
        tmp_path / "final.mp4",
        overlays=[TextOverlay(text="Chapter 1", start_time=0.0, duration=2.0)],
    )
    assert final.duration == 10.0 and (final.width, final.height) == (1280, 720)
    with av.open(final.path) as box:
        assert sum(1 for _ in box.decode(video=0)) == final.frames == 40
    assert len(costs) == 3 and sum(c.cost for c in costs) == 0.0
    assert all(c.details["local"] for c in costs)
