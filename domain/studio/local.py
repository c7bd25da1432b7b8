"""The local provider: deterministic images and camera-motion clips, offline and free.

It is the default when no Replicate token is configured, so a new user can run the whole
studio pipeline without an account. Every result is marked local and costs 0.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import tempfile
import textwrap
from pathlib import Path
from typing import Literal

import av
import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

from domain.studio.cost import local_cost_line
from domain.studio.error import InvalidRequest
from domain.studio.font import load_font
from domain.studio.model import (
    CLIP_SIZES,
    IMAGE_SIZES,
    Asset,
    ClipRequest,
    Generation,
    ImageRequest,
    Progress,
)
from domain.studio.provider import CostSink

IMAGE_MODEL = "local/shapes"
CLIP_MODEL = "local/camera-motion"
_CONTENT_TYPES = {"png": "image/png", "webp": "image/webp", "jpg": "image/jpeg"}
Motion = Literal["zoom-in", "zoom-out", "pan-left", "pan-right"]
_MOTIONS: tuple[Motion, ...] = ("zoom-in", "zoom-out", "pan-left", "pan-right")
# How far the camera travels: the widest view shows this much more than the closest one.
_ZOOM = 1.25


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _default_seed(prompt: str) -> int:
    return int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "big")


def draw_image(prompt: str, seed: int, size: tuple[int, int]) -> Image.Image:
    """An image that depends only on the prompt, the seed and the size."""
    width, height = size
    rng = _rng(prompt, seed)
    top, bottom = rng.integers(0, 256, size=(2, 3))
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    rows = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    canvas = Image.fromarray(np.ascontiguousarray(np.broadcast_to(rows, (height, width, 3))))
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(int(rng.integers(6, 13))):
        x0, x1 = sorted(rng.integers(-width // 4, width + width // 4, size=2).tolist())
        y0, y1 = sorted(rng.integers(-height // 4, height + height // 4, size=2).tolist())
        fill = (*rng.integers(0, 256, size=3).tolist(), int(rng.integers(90, 220)))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1 + 1, y1 + 1), fill=fill)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
    canvas = Image.alpha_composite(canvas.convert("RGBA"), layer)
    # The prompt is written on the picture so a user can tell the results apart offline.
    font = load_font(max(14, height // 24))
    lines = textwrap.wrap(prompt, width=max(16, width // (int(font.size) // 2 + 1)))[:3]
    text = "\n".join(lines)
    caption = Image.new("RGBA", size, (0, 0, 0, 0))
    band = ImageDraw.Draw(caption)
    box = band.multiline_textbbox((0, 0), text, font=font)
    pad = int(font.size) // 2
    y = height - (box[3] - box[1]) - 3 * pad
    band.rectangle((0, y - pad, width, height), fill=(0, 0, 0, 150))
    band.multiline_text((pad, y), text, font=font, fill=(255, 255, 255, 255))
    return Image.alpha_composite(canvas, caption).convert("RGB")


def encode_image(image: Image.Image, output_format: str) -> bytes:
    """Encode an image the way the request asked for."""
    buf = io.BytesIO()
    if output_format == "jpg":
        image.save(buf, format="JPEG", quality=90)
    elif output_format == "webp":
        image.save(buf, format="WEBP", quality=90)
    else:
        image.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def _cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale and center-crop `image` to fill `size` exactly."""
    width, height = size
    scale = max(width / image.width, height / image.height)
    scaled = image.resize(
        (max(width, round(image.width * scale)), max(height, round(image.height * scale))),
        Image.Resampling.BILINEAR,
    )
    left = (scaled.width - width) // 2
    top = (scaled.height - height) // 2
    return scaled.crop((left, top, left + width, top + height))


def _window(motion: Motion, t: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The part of the enlarged base picture in view at `t` (0 → 1): x, y, w, h."""
    big_w, big_h = round(width * _ZOOM), round(height * _ZOOM)
    # Ease in and out, as a camera operator would.
    e = t * t * (3 - 2 * t)
    if motion in ("zoom-in", "zoom-out"):
        s = (1 - e) if motion == "zoom-in" else e
        w = round(width + (big_w - width) * s)
        h = round(height + (big_h - height) * s)
        return (big_w - w) // 2, (big_h - h) // 2, w, h
    x_span = big_w - width
    x = round(x_span * (e if motion == "pan-right" else 1 - e))
    return x, (big_h - height) // 2, width, height


def render_clip(
    image_bytes: bytes,
    *,
    size: tuple[int, int],
    duration: float,
    fps: int,
    motion: Motion,
    progress: Progress | None = None,
) -> bytes:
    """An H.264 MP4 of a camera moving over the image."""
    try:
        source = Image.open(io.BytesIO(image_bytes))
        source.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InvalidRequest(f"start image is not a readable image: {exc}") from exc
    width, height = size
    base = np.asarray(_cover(source.convert("RGB"), (round(width * _ZOOM), round(height * _ZOOM))))
    frames = max(1, round(duration * fps))
    # faststart rewrites the file to put the index first, which needs a real file.
    with tempfile.TemporaryDirectory(prefix="studio-clip-") as tmp:
        path = Path(tmp) / "clip.mp4"
        _encode_motion(base, path, size, frames, fps, motion, progress)
        return path.read_bytes()


def _encode_motion(
    base: np.ndarray,
    path: Path,
    size: tuple[int, int],
    frames: int,
    fps: int,
    motion: Motion,
    progress: Progress | None,
) -> None:
    width, height = size
    with av.open(str(path), "w", container_options={"movflags": "+faststart"}) as box:
        stream = box.add_stream(
            "libx264",
            rate=fps,
            options={"crf": "20", "preset": "veryfast", "x264-params": "me=dia:subme=1"},
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            x, y, w, h = _window(motion, i / max(1, frames - 1), width, height)
            crop = np.ascontiguousarray(base[y : y + h, x : x + w])
            frame = av.VideoFrame.from_ndarray(crop, format="rgb24").reformat(
                width, height, format="yuv420p", interpolation="BILINEAR"
            )
            frame.pts = i
            box.mux(stream.encode(frame))
            if progress is not None:
                progress(100.0 * (i + 1) / frames, f"frame {i + 1}/{frames}")
        box.mux(stream.encode(None))


class LocalProvider:
    """Offline provider: same inputs as Replicate's models, drawn and encoded here."""

    name: Literal["local"] = "local"

    def __init__(self, *, fps: int = 24) -> None:
        self.fps = fps

    async def generate_images(
        self,
        request: ImageRequest,
        *,
        progress: Progress | None = None,
        on_cost: CostSink | None = None,
    ) -> Generation:
        """Draw `num_outputs` images from the prompt and seed (seed + i for image i)."""
        seed = _default_seed(request.prompt) if request.seed is None else request.seed
        size = IMAGE_SIZES[request.aspect_ratio]
        assets = []
        for i in range(request.num_outputs):
            image = await asyncio.to_thread(draw_image, request.prompt, seed + i, size)
            data = await asyncio.to_thread(encode_image, image, request.output_format)
            assets.append(
                Asset(index=i, data=data, content_type=_CONTENT_TYPES[request.output_format])
            )
            if progress is not None:
                progress(100.0 * (i + 1) / request.num_outputs, f"image {i + 1}")
        cost = local_cost_line("image", IMAGE_MODEL, len(assets))
        if on_cost is not None:
            on_cost(cost)
        return Generation(
            assets=assets,
            provider="local",
            local=True,
            model=IMAGE_MODEL,
            prediction_id=f"local-{seed}",
            cost=cost,
        )

    async def generate_clip(
        self,
        request: ClipRequest,
        *,
        progress: Progress | None = None,
        on_cost: CostSink | None = None,
    ) -> Generation:
        """Move a camera over the start image for `duration` seconds."""
        if not request.image:
            raise InvalidRequest("the local provider needs the start image's bytes")
        seed = _default_seed(request.prompt) if request.seed is None else request.seed
        motion = _MOTIONS[seed % len(_MOTIONS)]
        data = await asyncio.to_thread(
            render_clip,
            request.image,
            size=CLIP_SIZES[request.aspect_ratio],
            duration=float(request.duration),
            fps=self.fps,
            motion=motion,
            progress=progress,
        )
        cost = local_cost_line("clip", CLIP_MODEL, float(request.duration))
        if on_cost is not None:
            on_cost(cost)
        return Generation(
            assets=[Asset(index=0, data=data, content_type="video/mp4")],
            provider="local",
            local=True,
            model=CLIP_MODEL,
            prediction_id=f"local-{seed}-{motion}",
            cost=cost,
            duration=float(request.duration),
        )
