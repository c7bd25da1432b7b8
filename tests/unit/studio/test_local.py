"""The local provider: deterministic images and camera-motion clips, offline and free."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image

from domain.studio.error import InvalidRequest
from domain.studio.local import LocalProvider
from domain.studio.model import ClipRequest, Generation, ImageRequest


@pytest.fixture(scope="module")
async def clip() -> Generation:
    provider = LocalProvider(fps=12)
    images = await provider.generate_images(ImageRequest(prompt="a red hat", aspect_ratio="16:9"))
    return await provider.generate_clip(
        ClipRequest(prompt="slow push in", image=images.assets[0].data, seed=0)
    )


async def test_images_depend_only_on_prompt_and_seed() -> None:
    provider = LocalProvider()
    request = ImageRequest(prompt="man buys hat", num_outputs=3, aspect_ratio="16:9", seed=7)
    first = await provider.generate_images(request)
    again = await provider.generate_images(request)
    other_seed = await provider.generate_images(
        ImageRequest(prompt="man buys hat", num_outputs=1, aspect_ratio="16:9", seed=8)
    )
    other_prompt = await provider.generate_images(
        ImageRequest(prompt="woman buys hat", num_outputs=1, aspect_ratio="16:9", seed=7)
    )
    assert [a.data for a in first.assets] == [a.data for a in again.assets]
    assert len({a.data for a in first.assets}) == 3
    # Image i of a batch is the image of seed + i.
    assert first.assets[1].data == other_seed.assets[0].data
    assert other_prompt.assets[0].data != first.assets[0].data


async def test_images_have_the_requested_shape_and_format() -> None:
    result = await LocalProvider().generate_images(
        ImageRequest(prompt="tall", num_outputs=2, aspect_ratio="9:16", output_format="webp")
    )
    assert [a.index for a in result.assets] == [0, 1]
    for asset in result.assets:
        image = Image.open(io.BytesIO(asset.data))
        assert image.format == "WEBP"
        assert image.size == (768, 1344)
        assert asset.content_type == "image/webp"


async def test_local_results_are_marked_local_and_free() -> None:
    seen = []
    result = await LocalProvider().generate_images(
        ImageRequest(prompt="p", num_outputs=2), on_cost=seen.append
    )
    assert result.local is True
    assert result.provider == "local"
    assert result.cost.cost == 0.0
    assert result.cost.details["local"] is True
    assert result.cost.details["num_images"] == 2
    assert seen == [result.cost]


def test_clip_is_an_h264_video_of_the_requested_length_and_size(clip: Generation) -> None:
    assert clip.local is True and clip.cost.cost == 0.0
    assert clip.duration == 5.0
    assert clip.assets[0].content_type == "video/mp4"
    with av.open(io.BytesIO(clip.assets[0].data)) as box:
        stream = box.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.width, stream.height) == (1280, 720)
        frames = [f.to_ndarray(format="gray") for f in box.decode(stream)]
    assert len(frames) == 60
    assert stream.duration is not None and stream.time_base is not None
    assert float(stream.duration * stream.time_base) == pytest.approx(5.0, abs=0.1)


def test_clip_camera_moves(clip: Generation) -> None:
    with av.open(io.BytesIO(clip.assets[0].data)) as box:
        frames = [f.to_ndarray(format="gray").astype(np.int16) for f in box.decode(video=0)]
    # A still image would give identical frames; a moving camera changes every part.
    assert np.abs(frames[0] - frames[-1]).mean() > 2.0
    assert np.abs(frames[29] - frames[30]).mean() > 0.05


async def test_clip_progress_is_reported_per_frame() -> None:
    seen: list[float] = []
    image = (await LocalProvider().generate_images(ImageRequest(prompt="x"))).assets[0].data
    await LocalProvider(fps=4).generate_clip(
        ClipRequest(prompt="x", image=image, aspect_ratio="1:1"),
        progress=lambda pct, _msg: seen.append(pct),
    )
    assert len(seen) == 20
    assert seen == sorted(seen) and seen[-1] == 100.0


async def test_clip_from_an_unreadable_image_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequest, match="start image is not a readable image"):
        await LocalProvider().generate_clip(ClipRequest(prompt="x", image=b"GIF89a broken"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_outputs": 0}, "num_outputs must be 1 to 4"),
        ({"num_outputs": 5}, "num_outputs must be 1 to 4"),
        ({"aspect_ratio": "7:3"}, "aspect_ratio '7:3'"),
        ({"prompt": "   "}, "prompt is empty"),
    ],
)
def test_bad_image_requests_are_refused(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"prompt": "ok"} | kwargs
    with pytest.raises(InvalidRequest, match=message):
        ImageRequest(**args)  # type: ignore[arg-type]


def test_bad_clip_requests_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="duration must be 5 or 10"):
        ClipRequest(prompt="x", image=b"x", duration=8)
    with pytest.raises(InvalidRequest, match="start image"):
        ClipRequest(prompt="x", image=b"")
