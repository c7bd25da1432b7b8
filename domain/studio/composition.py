"""Final-video composition: approved clips in order, text overlays and an audio track.

Frames stay in YUV 4:2:0 from decoder to encoder: letterboxing and overlays are done on the
planes, so a frame with nothing drawn on it costs one scale and one encode, which is what
keeps composition well ahead of real time on two cores.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import msgspec
import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

from domain.studio.error import (
    CompositionCanceled,
    CompositionError,
    InvalidRequest,
    OverlayOutOfRange,
    UnreadableInput,
)
from domain.studio.font import load_font
from domain.studio.model import CancelCheck, Progress

AUDIO_RATE = 48_000
# Black in limited-range YUV, what letterbox bars are filled with.
_BLACK_Y, _BLACK_C = 16, 128
MAX_FPS = 60


class MediaInput(msgspec.Struct, frozen=True):
    """A local file to compose from; `name` is how errors refer to it (e.g. its URL)."""

    name: str
    path: str


class TextOverlay(msgspec.Struct, frozen=True, kw_only=True):
    """Text shown from `start_time` for `duration` seconds (the contract's fields)."""

    text: str
    start_time: float
    duration: float
    position: Literal["bottom", "center", "top"] = "bottom"
    # Pixel height of the text; 0 picks one twelfth of the frame height.
    font_size: int = 0
    color: str = "#ffffff"


class CompositionOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How the final video is encoded; zeros mean "as the first clip"."""

    width: int = 0
    height: int = 0
    fps: float = 0.0
    crf: int = 23
    preset: str = "veryfast"
    # Diamond motion search with light subpixel refinement: about a quarter less CPU than
    # veryfast's own (hex, subme 2) for ~3% larger files, which keeps composition above
    # twice real time on a busy two-core machine. Empty uses the preset as it is.
    x264_params: str = "me=dia:subme=1"
    audio_fade_in: float = 0.5
    audio_fade_out: float = 1.0
    audio_volume: float = 1.0
    audio_bitrate: int = 160_000
    font_path: str = ""


class CompositionResult(msgspec.Struct, frozen=True, kw_only=True):
    """What was written."""

    path: str
    duration: float
    width: int
    height: int
    fps: float
    frames: int
    clips: int
    audio: bool


class _Clip(msgspec.Struct, frozen=True):
    name: str
    path: str
    width: int
    height: int
    fps: Fraction
    duration: float
    has_audio: bool


def _open(inp: MediaInput) -> av.container.InputContainer:
    try:
        return av.open(inp.path)
    except (av.FFmpegError, OSError) as exc:
        raise UnreadableInput(inp.name, f"cannot be opened as media ({exc})") from exc


def _probe(inp: MediaInput) -> _Clip:
    with _open(inp) as box:
        if not box.streams.video:
            raise UnreadableInput(inp.name, "has no video stream")
        stream = box.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif box.duration is not None:
            duration = box.duration / 1_000_000
        else:
            duration = 0.0
        rate = stream.average_rate or stream.guessed_rate
        if duration <= 0 or not rate or not stream.width:
            raise UnreadableInput(inp.name, "has no readable duration, frame rate or size")
        return _Clip(
            inp.name,
            inp.path,
            stream.width,
            stream.height,
            Fraction(rate),
            duration,
            bool(box.streams.audio),
        )


def _even(n: float) -> int:
    return max(2, round(n / 2) * 2)


def _fit(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """Letterbox: the scaled size and (even) offset of a source inside the output frame."""
    scale = min(dst_w / src_w, dst_h / src_h)
    w, h = min(dst_w, _even(src_w * scale)), min(dst_h, _even(src_h * scale))
    return w, h, ((dst_w - w) // 4) * 2, ((dst_h - h) // 4) * 2


class _Overlay:
    """One overlay pre-rendered into premultiplied Y, U, V planes and their alphas."""

    def __init__(
        self, spec: TextOverlay, width: int, height: int, fps: Fraction, font_path: str
    ) -> None:
        self.first = round(spec.start_time * fps)
        self.last = round((spec.start_time + spec.duration) * fps)  # exclusive
        size = spec.font_size or max(12, height // 12)
        font = load_font(size, font_path)
        stroke = max(1, size // 14)
        text = _wrap(spec.text, font, width * 0.9)
        box = ImageDraw.Draw(Image.new("L", (1, 1))).multiline_textbbox(
            (0, 0), text, font=font, stroke_width=stroke, align="center"
        )
        tw, th = min(width, _even(box[2] - box[0] + 2)), min(height, _even(box[3] - box[1] + 2))
        try:
            fill = ImageColor.getrgb(spec.color)
        except ValueError as exc:
            raise InvalidRequest(f"overlay colour {spec.color!r} is not a colour") from exc
        image = Image.new("RGBA", (tw, th), (0, 0, 0, 0))
        ImageDraw.Draw(image).multiline_text(
            (-box[0] + 1, -box[1] + 1),
            text,
            font=font,
            fill=fill,
            stroke_width=stroke,
            stroke_fill=(0, 0, 0),
            align="center",
        )
        self.x = ((width - tw) // 4) * 2
        margin = _even(height / 18)
        self.y = {
            "top": margin,
            "center": ((height - th) // 4) * 2,
            "bottom": height - th - margin,
        }[spec.position]
        self.y = max(0, min(self.y, height - th))
        rgba = np.asarray(image, dtype=np.float32) / 255.0
        r, g, b, a = rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3]
        # BT.601 limited range: what swscale assumes for untagged yuv420p.
        y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
        u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
        v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
        self.alpha = a
        self.y_pm = y * a
        a2 = _half(a)
        self.alpha2 = a2
        # Chroma is averaged premultiplied, so glyph edges do not bleed colour.
        self.u_pm, self.v_pm = _half(u * a), _half(v * a)
        self.h, self.w = th, tw

    def active(self, frame: int) -> bool:
        return self.first <= frame < self.last

    def draw(self, yp: np.ndarray, up: np.ndarray, vp: np.ndarray) -> None:
        ys, xs = slice(self.y, self.y + self.h), slice(self.x, self.x + self.w)
        cs = slice(self.y // 2, (self.y + self.h) // 2)
        cx = slice(self.x // 2, (self.x + self.w) // 2)
        _blend(yp[ys, xs], self.alpha, self.y_pm)
        _blend(up[cs, cx], self.alpha2, self.u_pm)
        _blend(vp[cs, cx], self.alpha2, self.v_pm)


def _blend(region: np.ndarray, alpha: np.ndarray, premultiplied: np.ndarray) -> None:
    """Alpha-blend in place; only the overlay's box is touched, never the whole frame."""
    mixed = region * (1 - alpha) + premultiplied
    region[...] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> str:
    """Break lines between words so a long overlay stays inside the frame."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and font.getlength(candidate) > max_width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return "\n".join(lines)


def _half(plane: np.ndarray) -> np.ndarray:
    h, w = plane.shape
    halved: np.ndarray = plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    return halved


def _planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copies of a yuv420p frame's planes, without the line padding."""
    out = []
    for plane in frame.planes:
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
        out.append(rows[:, : plane.width].copy())
    return out[0], out[1], out[2]


def _timed(
    frames: Iterator[av.VideoFrame], rate: Fraction
) -> Iterator[tuple[float, av.VideoFrame]]:
    """Frames with their presentation time; streams without timestamps count frames."""
    for index, frame in enumerate(frames):
        yield (frame.time if frame.time is not None else index / float(rate)), frame


def _source_frames(
    clip: _Clip, count: int, fps: Fraction, size: tuple[int, int]
) -> Iterator[av.VideoFrame]:
    """`count` frames at `fps` from the clip, scaled to `size`: frames are repeated or
    dropped by timestamp, and the last one is held if the clip ends early."""
    try:
        with av.open(clip.path) as box:
            stream = box.streams.video[0]
            stream.thread_type = "AUTO"
            decoded = _timed(box.decode(stream), clip.fps)
            current: av.VideoFrame | None = None
            scaled: av.VideoFrame | None = None
            upcoming = next(decoded, None)
            origin = upcoming[0] if upcoming is not None else 0.0
            half_frame = 0.5 / float(fps)
            for k in range(count):
                t = k / float(fps)
                while upcoming is not None and (
                    current is None or upcoming[0] - origin <= t + half_frame
                ):
                    current, scaled = upcoming[1], None
                    upcoming = next(decoded, None)
                if current is None:
                    raise UnreadableInput(clip.name, "has no decodable video frames")
                if scaled is None:
                    scaled = current.reformat(
                        size[0], size[1], format="yuv420p", interpolation="BILINEAR"
                    )
                yield scaled
    except av.FFmpegError as exc:
        raise UnreadableInput(clip.name, f"video cannot be decoded ({exc})") from exc


def _decode_audio(inp: MediaInput, limit: int) -> np.ndarray:
    """At most `limit` samples of the input's first audio stream, float32 stereo at 48 kHz."""
    chunks: list[np.ndarray] = []
    have = 0
    with _open(inp) as box:
        if not box.streams.audio:
            raise UnreadableInput(inp.name, "has no audio stream")
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        try:
            for frame in box.decode(box.streams.audio[0]):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    have += out.samples
                if have >= limit:
                    break
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except av.FFmpegError as exc:
            raise UnreadableInput(inp.name, f"audio cannot be decoded ({exc})") from exc
    if not chunks:
        raise UnreadableInput(inp.name, "has no decodable audio")
    decoded: np.ndarray = np.concatenate(chunks, axis=1)[:, :limit].astype(np.float32)
    return decoded


def _music(inp: MediaInput, limit: int, options: CompositionOptions) -> np.ndarray:
    """The added track, trimmed to the video, at its volume, faded in and out."""
    samples = _decode_audio(inp, limit) * np.float32(options.audio_volume)
    n = samples.shape[1]
    fade_in = min(n, int(options.audio_fade_in * AUDIO_RATE))
    if fade_in:
        samples[:, :fade_in] *= np.linspace(0.0, 1.0, fade_in, dtype=np.float32)
    fade_out = min(n, int(options.audio_fade_out * AUDIO_RATE))
    if fade_out:
        samples[:, n - fade_out :] *= np.linspace(1.0, 0.0, fade_out, dtype=np.float32)
    return samples


def _soundtrack(
    infos: list[_Clip],
    counts: list[int],
    fps: Fraction,
    music: MediaInput | None,
    options: CompositionOptions,
) -> np.ndarray | None:
    """The clips' own sound, each at its place on the timeline, mixed with the added track."""
    total = round(sum(counts) / fps * AUDIO_RATE)
    track = _music(music, total, options) if music is not None else None
    if not any(c.has_audio for c in infos):
        return track
    mix = np.zeros((2, total), np.float32)
    start = 0
    for clip, count in zip(infos, counts, strict=True):
        if clip.has_audio:
            offset = round(start / fps * AUDIO_RATE)
            length = min(round(count / fps * AUDIO_RATE), total - offset)
            sound = _decode_audio(MediaInput(clip.name, clip.path), length)
            mix[:, offset : offset + sound.shape[1]] += sound
        start += count
    if track is not None:
        mix[:, : track.shape[1]] += track
    mixed: np.ndarray = np.clip(mix, -1.0, 1.0)
    return mixed


_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")
MAX_SIDE = 4096


def _check_options(options: CompositionOptions) -> None:
    for side in (options.width, options.height):
        if side and not 16 <= side <= MAX_SIDE:
            raise InvalidRequest(f"output width and height must be 16 to {MAX_SIDE}, got {side}")
    if not 0 <= options.crf <= 51:
        raise InvalidRequest(f"crf must be 0 to 51, got {options.crf}")
    if options.preset not in _PRESETS:
        raise InvalidRequest(f"preset must be one of {', '.join(_PRESETS)}")
    if options.audio_volume < 0 or options.audio_fade_in < 0 or options.audio_fade_out < 0:
        raise InvalidRequest("audio volume and fades cannot be negative")


def _check_overlays(overlays: Sequence[TextOverlay], total: float) -> None:
    for i, ov in enumerate(overlays):
        label = f"text overlay {i} ({ov.text[:40]!r})"
        if not ov.text.strip():
            raise InvalidRequest(f"text overlay {i} has no text")
        end = ov.start_time + ov.duration
        if ov.start_time < 0 or ov.duration <= 0 or end > total + 1e-3:
            raise OverlayOutOfRange(
                f"{label} runs from {ov.start_time:g} s to {end:g} s, "
                f"outside the video's 0–{total:.3f} s"
            )


def compose(
    clips: Sequence[MediaInput],
    output: Path,
    *,
    overlays: Sequence[TextOverlay] = (),
    audio: MediaInput | None = None,
    options: CompositionOptions | None = None,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> CompositionResult:
    """Write the final H.264 + AAC MP4 (index first, so it plays while downloading)."""
    options = options or CompositionOptions()
    if not clips:
        raise InvalidRequest("no clips to compose")
    _check_options(options)
    infos = [_probe(c) for c in clips]
    width = _even(options.width or infos[0].width)
    height = _even(options.height or infos[0].height)
    fps = Fraction(options.fps).limit_denominator(1001) if options.fps else infos[0].fps
    if not 0 < fps <= MAX_FPS:
        raise InvalidRequest(f"frame rate must be above 0 and at most {MAX_FPS}, got {fps}")
    counts = [max(1, round(c.duration * fps)) for c in infos]
    total_frames = sum(counts)
    total = total_frames / float(fps)
    _check_overlays(overlays, total)
    drawn = [_Overlay(o, width, height, fps, options.font_path) for o in overlays]
    track = _soundtrack(infos, counts, fps, audio, options)

    output.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed at the end, so a failed or canceled run never leaves a
    # half-written file where a previous good one was.
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial.mp4")
    try:
        try:
            _encode(
                infos,
                counts,
                drawn,
                track,
                partial,
                width,
                height,
                fps,
                options,
                progress,
                cancelled,
            )
        except av.FFmpegError as exc:
            raise CompositionError(f"encoding the final video failed: {exc}") from exc
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return CompositionResult(
        path=str(output),
        duration=total,
        width=width,
        height=height,
        fps=float(fps),
        frames=total_frames,
        clips=len(infos),
        audio=track is not None,
    )


def _encode(
    infos: list[_Clip],
    counts: list[int],
    overlays: list[_Overlay],
    track: np.ndarray | None,
    path: Path,
    width: int,
    height: int,
    fps: Fraction,
    options: CompositionOptions,
    progress: Progress | None,
    cancelled: CancelCheck | None,
) -> None:
    total_frames = sum(counts)
    with av.open(str(path), "w", container_options={"movflags": "+faststart"}) as box:
        settings = {"crf": str(options.crf), "preset": options.preset}
        if options.x264_params:
            settings["x264-params"] = options.x264_params
        video = box.add_stream("libx264", rate=fps, options=settings)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.thread_count = 0
        sound = None
        if track is not None:
            sound = box.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            sound.bit_rate = options.audio_bitrate
        tick = 1 / fps
        sent = 0  # audio samples handed to the encoder so far
        index = 0
        for clip, count in zip(infos, counts, strict=True):
            fit_w, fit_h, ox, oy = _fit(clip.width, clip.height, width, height)
            boxed = (fit_w, fit_h) != (width, height)
            for frame in _source_frames(clip, count, fps, (fit_w, fit_h)):
                if cancelled is not None and cancelled():
                    raise CompositionCanceled("composition canceled")
                live = [o for o in overlays if o.active(index)]
                if boxed or live:
                    frame = _paint(frame, live, width, height, fit_w, fit_h, ox, oy)
                # Decoded frames carry their source's time base; ours counts output frames.
                frame.pts, frame.time_base = index, tick
                box.mux(video.encode(frame))
                index += 1
                if sound is not None and track is not None:
                    # Keep audio level with the video so the file interleaves as it grows.
                    until = min(track.shape[1], round(index / float(fps) * AUDIO_RATE))
                    sent = _send_audio(box, sound, track, sent, until)
                if progress is not None:
                    progress(100.0 * index / total_frames, f"frame {index}/{total_frames}")
        box.mux(video.encode(None))
        if sound is not None and track is not None:
            _send_audio(box, sound, track, sent, track.shape[1])
            box.mux(sound.encode(None))
    if index != total_frames:
        raise CompositionError(f"wrote {index} frames, expected {total_frames}")


def _paint(
    frame: av.VideoFrame,
    overlays: list[_Overlay],
    width: int,
    height: int,
    fit_w: int,
    fit_h: int,
    ox: int,
    oy: int,
) -> av.VideoFrame:
    sy, su, sv = _planes(frame)
    if (fit_w, fit_h) == (width, height):
        yp, up, vp = sy, su, sv
    else:
        yp = np.full((height, width), _BLACK_Y, np.uint8)
        up = np.full((height // 2, width // 2), _BLACK_C, np.uint8)
        vp = np.full((height // 2, width // 2), _BLACK_C, np.uint8)
        yp[oy : oy + fit_h, ox : ox + fit_w] = sy
        up[oy // 2 : (oy + fit_h) // 2, ox // 2 : (ox + fit_w) // 2] = su
        vp[oy // 2 : (oy + fit_h) // 2, ox // 2 : (ox + fit_w) // 2] = sv
    for overlay in overlays:
        overlay.draw(yp, up, vp)
    packed = np.concatenate([yp.ravel(), up.ravel(), vp.ravel()])
    return av.VideoFrame.from_ndarray(packed.reshape(height * 3 // 2, width), format="yuv420p")


def _send_audio(
    box: av.container.OutputContainer,
    stream: av.AudioStream,
    track: np.ndarray,
    sent: int,
    until: int,
) -> int:
    """Encode whole AAC frames of the track from `sent` up to `until`; the tail goes last."""
    size = stream.codec_context.frame_size or 1024
    last = until == track.shape[1]
    while sent + size <= until or (last and sent < until):
        chunk = np.ascontiguousarray(track[:, sent : min(sent + size, until)])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = sent
        box.mux(stream.encode(frame))
        sent += chunk.shape[1]
    return sent
