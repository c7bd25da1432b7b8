"""Final-video composition, checked by decoding what it writes."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from domain.studio.composition import (
    CompositionResult,
    MediaInput,
    TextOverlay,
    compose,
)
from domain.studio.error import (
    CompositionCanceled,
    InvalidRequest,
    OverlayOutOfRange,
    UnreadableInput,
)
from domain.studio.font import load_font
from tests.unit.studio.media import COLOURS

OVERLAYS = (
    TextOverlay(text="Chapter 1 — Привет, Ωμέγα", start_time=0.5, duration=1.0),
    TextOverlay(text="The end", start_time=3.0, duration=1.0, position="top"),
)
FPS = 24


def inputs(media: dict[str, Path], *names: str) -> list[MediaInput]:
    return [MediaInput(f"{n}.mp4", str(media[n])) for n in names]


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as box:
        return [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]


@pytest.fixture(scope="module")
def composed(
    media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[CompositionResult, CompositionResult, list[float]]:
    """The same clips composed with overlays and audio, and plain, to compare."""
    root = tmp_path_factory.mktemp("composed")
    seen: list[float] = []
    full = compose(
        inputs(media, "a", "b", "c"),
        root / "full.mp4",
        overlays=OVERLAYS,
        audio=MediaInput("tone.m4a", str(media["tone"])),
        progress=lambda pct, _msg: seen.append(pct),
    )
    plain = compose(inputs(media, "a", "b", "c"), root / "plain.mp4")
    return full, plain, seen


def test_clips_are_concatenated_in_order_at_one_size_and_rate(composed) -> None:
    full, _, _ = composed
    assert (full.width, full.height, full.fps) == (320, 180, FPS)
    # 1.5 s + 1.0 s (30 fps, resampled to 24) + 1.5 s
    assert full.frames == 96
    assert full.duration == pytest.approx(4.0)
    with av.open(full.path) as box:
        video = box.streams.video[0]
        assert video.codec_context.name == "h264"
        assert (video.width, video.height) == (320, 180)
        assert video.average_rate == FPS
    frames = decode(Path(full.path))
    assert len(frames) == 96
    # The middle of each clip's stretch of frames shows that clip's colour, in order.
    for frame_index, colour in ((18, COLOURS[0]), (48, COLOURS[1]), (78, COLOURS[2])):
        middle = frames[frame_index][150, 160].astype(int)
        assert np.abs(middle - np.array(colour)).max() < 25, (frame_index, middle, colour)


def test_a_clip_of_another_aspect_ratio_is_letterboxed(composed) -> None:
    frames = decode(Path(composed[0].path))
    boxed = frames[48]
    # 240x180 (4:3) inside 320x180: 40 px black bars left and right, picture in between.
    assert boxed[90, :30].max() < 30 and boxed[90, -30:].max() < 30
    assert np.abs(boxed[150, 160].astype(int) - np.array(COLOURS[1])).max() < 25
    assert frames[18][90, :30].max() > 100  # a 16:9 clip fills the frame


def test_overlay_pixels_appear_only_in_their_window(composed) -> None:
    full, plain, _ = composed
    with_text, without = decode(Path(full.path)), decode(Path(plain.path))
    changed = [
        i
        for i, (a, b) in enumerate(zip(with_text, without, strict=True))
        if np.abs(a.astype(int) - b.astype(int)).max() > 60
    ]
    first = set(range(12, 36))  # 0.5 s → 1.5 s
    last = set(range(72, 96))  # 3.0 s → 4.0 s
    assert set(changed) == first | last
    # The first overlay sits at the bottom, the second at the top.
    diff_first = np.abs(with_text[20].astype(int) - without[20].astype(int)).max(axis=2)
    rows = np.nonzero(diff_first.max(axis=1) > 60)[0]
    assert rows.min() > 90
    diff_last = np.abs(with_text[80].astype(int) - without[80].astype(int)).max(axis=2)
    rows = np.nonzero(diff_last.max(axis=1) > 60)[0]
    assert rows.max() < 90


def test_a_long_overlay_is_wrapped_inside_the_frame(media, tmp_path) -> None:
    words = "a caption far too long to fit on a single line of a small frame"
    result = compose(
        inputs(media, "a"),
        tmp_path / "out.mp4",
        overlays=[TextOverlay(text=words, start_time=0, duration=1, font_size=20)],
    )
    plain = compose(inputs(media, "a"), tmp_path / "plain.mp4")
    a = decode(Path(result.path))[5].astype(int)
    b = decode(Path(plain.path))[5].astype(int)
    touched = np.abs(a - b).max(axis=2) > 60
    columns = np.nonzero(touched.any(axis=0))[0]
    rows = np.nonzero(touched.any(axis=1))[0]
    # Drawn away from both edges, over several lines' height.
    assert columns.min() > 0 and columns.max() < 319
    assert rows.max() - rows.min() > 2 * 20


def test_the_font_draws_non_ascii_letters() -> None:
    font = load_font(48)
    # A font without these glyphs draws the same "missing glyph" box for each of them.
    masks = [bytes(font.getmask(ch)) for ch in ("Ж", "И", "Ω", "é")]
    assert len(set(masks)) == 4
    assert all(any(m) for m in masks)


def test_audio_is_mixed_in_trimmed_to_the_video_with_fades(composed) -> None:
    full = composed[0]
    assert full.audio is True
    with av.open(full.path) as box:
        assert [s.type for s in box.streams] == ["video", "audio"]
        audio = box.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert audio.sample_rate == 48_000
        samples = np.concatenate([f.to_ndarray() for f in box.decode(audio)], axis=1)
    # The tone lasts 8 s; the video 4 s. AAC adds at most a frame of padding.
    seconds = samples.shape[1] / 48_000
    assert 3.95 <= seconds <= 4.1
    rms = lambda a, b: float(np.sqrt(np.mean(samples[:, a:b] ** 2)))  # noqa: E731
    middle = rms(72_000, 120_000)
    assert middle > 0.2  # the 0.5-amplitude tone is there
    assert rms(2048, 4096) < middle / 4  # fading in
    assert rms(189_000, 191_000) < middle / 4  # fading out at the end


def _level_at(samples: np.ndarray, start_s: float, hz: float) -> float:
    """Amplitude of the `hz` component over 0.5 s of the left channel from `start_s`."""
    window = samples[0, int(start_s * 48_000) : int((start_s + 0.5) * 48_000)]
    spectrum = np.abs(np.fft.rfft(window)) / (len(window) / 2)
    return float(spectrum[round(hz * 0.5)])


def test_the_clips_own_sound_is_kept_and_mixed_with_the_added_track(media, tmp_path) -> None:
    result = compose(
        inputs(media, "voiced", "c"),
        tmp_path / "out.mp4",
        audio=MediaInput("tone.m4a", str(media["tone"])),
    )
    with av.open(result.path) as box:
        samples = np.concatenate([f.to_ndarray() for f in box.decode(audio=0)], axis=1)
    # While the voiced clip plays: its 1 kHz tone and the 440 Hz track, both.
    assert _level_at(samples, 0.6, 1000) > 0.2
    assert _level_at(samples, 0.6, 440) > 0.2
    # During the silent clip that follows, only the added track.
    assert _level_at(samples, 2.0, 1000) < 0.02
    assert _level_at(samples, 2.0, 440) > 0.2
    # Without an added track the clip's sound is still there.
    alone = compose(inputs(media, "voiced", "c"), tmp_path / "alone.mp4")
    assert alone.audio is True


def test_the_file_starts_with_its_index_so_it_plays_while_downloading(composed) -> None:
    data = Path(composed[0].path).read_bytes()
    atoms = []
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        atoms.append(data[offset + 4 : offset + 8].decode("latin-1"))
        if size < 8:
            break
        offset += size
    assert atoms.index("moov") < atoms.index("mdat")


def test_progress_is_reported_for_every_frame(composed) -> None:
    full, _, seen = composed
    assert len(seen) == full.frames
    assert seen == sorted(seen) and seen[-1] == 100.0


def test_an_overlay_past_the_end_is_refused_naming_it(media, tmp_path) -> None:
    late = TextOverlay(text="Too late", start_time=3.5, duration=2.0)
    with pytest.raises(OverlayOutOfRange, match=r"'Too late'.*outside the video's 0–2\.500 s"):
        compose(inputs(media, "a", "b"), tmp_path / "out.mp4", overlays=[late])
    with pytest.raises(OverlayOutOfRange):
        compose(
            inputs(media, "a"),
            tmp_path / "out.mp4",
            overlays=[TextOverlay(text="x", start_time=-1, duration=1)],
        )
    assert not (tmp_path / "out.mp4").exists()


def test_an_unreadable_clip_is_named_in_the_error(media, tmp_path) -> None:
    with pytest.raises(UnreadableInput, match=r"^clip-7\.mp4: ") as info:
        compose(
            [*inputs(media, "a"), MediaInput("clip-7.mp4", str(media["broken"]))],
            tmp_path / "out.mp4",
        )
    assert info.value.name == "clip-7.mp4"
    with pytest.raises(UnreadableInput, match=r"missing\.mp4"):
        compose([MediaInput("missing.mp4", str(tmp_path / "nope.mp4"))], tmp_path / "o.mp4")


def test_unreadable_audio_is_named_in_the_error(media, tmp_path) -> None:
    with pytest.raises(UnreadableInput, match=r"song\.mp3: has no audio stream"):
        compose(
            inputs(media, "a"), tmp_path / "out.mp4", audio=MediaInput("song.mp3", str(media["a"]))
        )
    with pytest.raises(UnreadableInput, match=r"junk\.wav"):
        compose(
            inputs(media, "a"),
            tmp_path / "out.mp4",
            audio=MediaInput("junk.wav", str(media["broken"])),
        )


def test_nothing_to_compose_is_refused(tmp_path) -> None:
    with pytest.raises(InvalidRequest, match="no clips"):
        compose([], tmp_path / "out.mp4")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"width": 8}, "width and height"),
        ({"height": 10_000}, "width and height"),
        ({"crf": 60}, "crf"),
        ({"preset": "placebo-ish"}, "preset"),
        ({"fps": 240}, "frame rate"),
        ({"audio_volume": -1.0}, "negative"),
    ],
)
def test_bad_output_options_are_refused(media, tmp_path, options, message) -> None:
    from domain.studio.composition import CompositionOptions

    with pytest.raises(InvalidRequest, match=message):
        compose(inputs(media, "a"), tmp_path / "out.mp4", options=CompositionOptions(**options))


def test_a_canceled_composition_leaves_the_previous_video_untouched(media, tmp_path) -> None:
    output = tmp_path / "final.mp4"
    output.write_bytes(b"previous final video")
    calls = 0

    def cancelled() -> bool:
        nonlocal calls
        calls += 1
        return calls > 10

    with pytest.raises(CompositionCanceled):
        compose(inputs(media, "a", "c"), output, cancelled=cancelled)
    assert output.read_bytes() == b"previous final video"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final.mp4"]


def test_output_size_and_rate_can_be_chosen(media, tmp_path) -> None:
    from domain.studio.composition import CompositionOptions

    result = compose(
        inputs(media, "b"),
        tmp_path / "out.mp4",
        options=CompositionOptions(width=640, height=360, fps=12),
    )
    assert (result.width, result.height, result.frames) == (640, 360, 12)
    frames = decode(Path(result.path))
    assert len(frames) == 12 and frames[0].shape == (360, 640, 3)
