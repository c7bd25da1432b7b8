"""Episode video: probing, segment stream-copy, H.264 transcode and first-frame thumbnails."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Literal

import av
import msgspec
from PIL import Image

from domain.robodata.error import MediaError
from domain.robodata.model import Dataset, EpisodeVideo, VideoProbe
from domain.robodata.parser import codec_family
from domain.robodata.path import inside

Progress = Callable[[float, str], None]
RESOLUTIONS: dict[str, int] = {"360p": 360, "480p": 480, "720p": 720, "1080p": 1080}
# Codecs every mainstream browser plays in MP4; others are transcoded to H.264.
BROWSER_CODECS = frozenset({"h264"})
BROWSER_PIX_FMTS = frozenset({"yuv420p", "yuvj420p"})
Output = str | Path | IO[bytes]


class Clip(msgspec.Struct, frozen=True):
    """An episode's video as written: how it was made and what it holds."""

    mode: Literal["copy", "transcode"]
    codec: str
    width: int
    height: int
    frames: int
    duration: float


class NotKeyframeAlignedError(MediaError):
    """The segment does not start on a keyframe, so it cannot be stream-copied."""


def probe(path: Path) -> VideoProbe:
    """Read codec, size, pixel format, rate, duration and frame count from a video file."""
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            ctx = stream.codec_context
            duration: float | None = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            rate = stream.average_rate or stream.guessed_rate
            return VideoProbe(
                codec=codec_family(ctx.name),
                width=ctx.width,
                height=ctx.height,
                pix_fmt=ctx.pix_fmt,
                fps=float(rate) if rate else None,
                duration=duration,
                frames=stream.frames or None,
            )
    except av.FFmpegError as exc:
        raise MediaError(f"{path.name} is not a readable video: {exc}") from exc


def _video_stream(
    container: av.container.InputContainer, path: Path
) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise MediaError(f"{path.name} has no video stream")
    return container.streams.video[0]


def locate(dataset: Dataset, episode_index: int, camera: str | None) -> tuple[Path, EpisodeVideo]:
    """Find the file and time range of one episode's camera footage."""
    key = dataset.camera(camera).key
    episode = dataset.episode(episode_index)
    video = episode.videos.get(key)
    if video is None:
        raise MediaError(f"episode {episode_index} has no video for camera {key}")
    path = inside(dataset.root, video.path)
    if not path.is_file():
        raise MediaError(f"video file {video.path} of episode {episode_index} is missing")
    return path, video


def target_size(width: int, height: int, resolution: str | None) -> tuple[int, int]:
    """Size for a resolution profile, keeping aspect, never upscaling, even for 4:2:0."""
    if resolution is None:
        return width - width % 2, height - height % 2
    if resolution not in RESOLUTIONS:
        raise MediaError(f"resolution must be one of {', '.join(RESOLUTIONS)}, not {resolution!r}")
    new_height = min(RESOLUTIONS[resolution], height)
    new_width = round(width * new_height / height)
    return max(2, new_width - new_width % 2), max(2, new_height - new_height % 2)


def export_clip(
    dataset: Dataset,
    episode_index: int,
    camera: str | None,
    output: Output,
    *,
    resolution: str | None = None,
    playable_codecs: frozenset[str] = BROWSER_CODECS,
    preset: str = "ultrafast",
    crf: int = 23,
    progress: Progress | None = None,
) -> Clip:
    """Write one episode's camera video as progressive MP4: stream copy if playable, else H.264."""
    path, video = locate(dataset, episode_index, camera)
    source = probe(path)
    size = target_size(source.width, source.height, resolution)
    playable = source.codec in playable_codecs and source.pix_fmt in BROWSER_PIX_FMTS
    if playable and size == (source.width, source.height):
        try:
            clip = copy_segment(path, video.from_timestamp, video.to_timestamp, output)
        except NotKeyframeAlignedError:
            pass
        else:
            if progress:
                progress(100.0, f"copied {clip.frames} frames")
            return clip
    return transcode_segment(
        path,
        video.from_timestamp,
        video.to_timestamp,
        output,
        size=size,
        preset=preset,
        crf=crf,
        progress=progress,
    )


@contextmanager
def _open_output(output: Output) -> Iterator[av.container.OutputContainer]:
    """Open an MP4 for writing; a file path is written aside and renamed only when complete."""
    if not isinstance(output, str | Path):
        with av.open(output, "w", format="mp4") as container:
            yield container
        return
    target = Path(output)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        # faststart puts the index first so a browser can play while downloading and seek
        # by range; it rewrites the file in a second pass, so in-memory outputs skip it.
        with av.open(
            str(partial), "w", format="mp4", options={"movflags": "+faststart"}
        ) as container:
            yield container
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _half_frame(stream: av.video.stream.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or 30
    return 0.5 / float(rate)


def copy_segment(source: Path, start: float, end: float, output: Output) -> Clip:
    """Stream-copy the packets of `[start, end)` into an MP4; the first must be a keyframe."""
    try:
        with av.open(str(source)) as container:
            stream = _video_stream(container, source)
            tb = stream.time_base
            if tb is None:
                raise MediaError(f"{source.name} has no time base")
            half = _half_frame(stream)
            packets = list(_segment_packets(container, stream, start, end, half))
            if not packets:
                raise MediaError(f"{source.name} has no frames between {start:.3f}s and {end:.3f}s")
            if not packets[0].is_keyframe:
                raise NotKeyframeAlignedError(
                    f"segment at {start:.3f}s does not start on a keyframe"
                )
            shift = min(p.pts for p in packets if p.pts is not None)
            with _open_output(output) as out:
                out_stream = out.add_stream_from_template(stream, opaque=True)
                for packet in packets:
                    if packet.pts is not None:
                        packet.pts -= shift
                    if packet.dts is not None:
                        packet.dts -= shift
                    packet.stream = out_stream
                    out.mux(packet)
            ctx = stream.codec_context
            return Clip(
                mode="copy",
                codec=codec_family(ctx.name),
                width=ctx.width,
                height=ctx.height,
                frames=len(packets),
                duration=len(packets) * 2 * half,
            )
    except av.FFmpegError as exc:
        raise MediaError(f"cannot copy segment of {source.name}: {exc}") from exc


def _segment_packets(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    start: float,
    end: float,
    half: float,
) -> Iterator[av.Packet[Any]]:
    tb = stream.time_base
    assert tb is not None
    container.seek(max(0, int((start - half) / tb)), stream=stream, backward=True)
    for packet in container.demux(stream):
        if packet.pts is None or packet.size == 0:
            continue
        if packet.dts is not None and float(packet.dts * tb) >= end - half:
            break
        if float(packet.pts * tb) >= start - half and float(packet.pts * tb) < end - half:
            yield packet


def decode_segment(
    source: Path, start: float, end: float, *, threaded: bool = True
) -> Generator[av.VideoFrame, None, None]:
    """Decode the frames of `[start, end)` (AV1 through libdav1d when it is available)."""
    with av.open(str(source)) as container:
        stream = _video_stream(container, source)
        if threaded:
            stream.thread_type = "AUTO"
        else:
            # Frame threads buffer several packets before the first picture comes out and
            # cost a pool start-up: a loss when only one frame is wanted.
            stream.codec_context.thread_count = 1
        half = _half_frame(stream)
        tb = stream.time_base
        assert tb is not None
        container.seek(max(0, int((start - half) / tb)), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.time is None or frame.time < start - half:
                continue
            if frame.time >= end - half:
                break
            yield frame


def transcode_segment(
    source: Path,
    start: float,
    end: float,
    output: Output,
    *,
    size: tuple[int, int] | None = None,
    preset: str = "ultrafast",
    crf: int = 23,
    progress: Progress | None = None,
) -> Clip:
    """Re-encode `[start, end)` of a video to H.264 (libx264, yuv420p) at `size`."""
    info = probe(source)
    width, height = size or target_size(info.width, info.height, None)
    rate = Fraction(info.fps or 30).limit_denominator(1001)
    expected = max(1, round((end - start) * float(rate)))
    frames = 0
    try:
        with _open_output(output) as out:
            stream = out.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": preset, "crf": str(crf)}
            stream.codec_context.thread_count = 0
            for frame in decode_segment(source, start, end):
                scaled = frame.reformat(width=width, height=height, format="yuv420p")
                scaled.pts = frames
                scaled.time_base = Fraction(1, 1) / rate
                for packet in stream.encode(scaled):
                    out.mux(packet)
                frames += 1
                if progress and frames % 30 == 0:
                    progress(min(99.0, 100.0 * frames / expected), f"encoded {frames} frames")
            for packet in stream.encode(None):
                out.mux(packet)
    except av.FFmpegError as exc:
        raise MediaError(f"cannot transcode {source.name}: {exc}") from exc
    if frames == 0:
        raise MediaError(f"{source.name} has no frames between {start:.3f}s and {end:.3f}s")
    if progress:
        progress(100.0, f"encoded {frames} frames")
    return Clip(
        mode="transcode",
        codec="h264",
        width=width,
        height=height,
        frames=frames,
        duration=frames / float(rate),
    )


def thumbnail(
    dataset: Dataset,
    episode_index: int,
    camera: str | None,
    *,
    frame_index: int = 0,
    max_width: int | None = None,
    quality: int = 85,
) -> bytes:
    """JPEG bytes of one frame (the first by default) of one episode's camera footage."""
    path, video = locate(dataset, episode_index, camera)
    # A frame past the end shows the last one rather than nothing.
    length = dataset.episode(episode_index).length
    start = video.from_timestamp + max(0, min(frame_index, length - 1)) / dataset.info.fps
    frames = decode_segment(path, start, video.to_timestamp, threaded=False)
    try:
        frame = next(frames, None)
    except av.FFmpegError as exc:
        raise MediaError(f"cannot decode {video.path}: {exc}") from exc
    finally:
        frames.close()
    if frame is None:
        raise MediaError(f"episode {episode_index} has no frames in {video.path}")
    width, height = frame.width, frame.height
    if max_width is not None and width > max_width:
        width, height = max_width, max(1, round(height * max_width / width))
    # swscale converts and shrinks in one pass, cheaper than converting then resizing in PIL.
    image = Image.fromarray(frame.reformat(width=width, height=height, format="rgb24").to_ndarray())
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
