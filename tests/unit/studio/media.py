"""Small synthetic media for studio tests and the benchmark, made with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

# Distinct, saturated colours so a test can tell from a decoded frame which clip it shows.
COLOURS: tuple[tuple[int, int, int], ...] = ((200, 40, 40), (40, 180, 60), (50, 70, 210))


def make_clip(
    path: Path,
    *,
    seconds: float,
    size: tuple[int, int] = (320, 180),
    fps: int = 24,
    colour: tuple[int, int, int] = COLOURS[0],
    tone_hz: float | None = None,
) -> Path:
    """An H.264 clip of one colour with a moving bright bar (so frames differ), with an
    AAC sine tone of its own when `tone_hz` is given."""
    width, height = size
    base = np.empty((height, width, 3), np.uint8)
    base[:] = colour
    with av.open(str(path), "w") as box:
        stream = box.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # Every stream must exist before the first packet is written.
        sound = box.add_stream("aac", rate=48_000, layout="mono") if tone_hz else None
        frames = round(seconds * fps)
        bar = max(2, width // 16)
        for i in range(frames):
            image = base.copy()
            x = (i * 7) % max(1, width - bar)
            image[: height // 8, x : x + bar] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            box.mux(stream.encode(frame))
        box.mux(stream.encode(None))
        if sound is not None and tone_hz is not None:
            _write_tone(box, sound, seconds, tone_hz)
    return path


def _write_tone(
    box: av.container.OutputContainer, stream: av.AudioStream, seconds: float, hz: float
) -> None:
    rate = stream.codec_context.sample_rate
    size = 1024
    total = int(seconds * rate)
    t = np.arange(total, dtype=np.float32) / rate
    samples = (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    for start in range(0, total, size):
        chunk = np.ascontiguousarray(samples[None, start : start + size])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        box.mux(stream.encode(frame))
    box.mux(stream.encode(None))


def make_tone(path: Path, *, seconds: float, hz: float = 440.0, rate: int = 44_100) -> Path:
    """A mono sine tone of amplitude 0.5, AAC in .m4a (a format users upload)."""
    with av.open(str(path), "w") as box:
        _write_tone(box, box.add_stream("aac", rate=rate, layout="mono"), seconds, hz)
    return path
