import io
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from domain.robodata.error import CameraNotFoundError, EpisodeNotFoundError, MediaError
from domain.robodata.parser import parse_dataset
from domain.robodata.video import export_clip, probe, thumbnail
from tests.robodata_factory import FRONT, WRIST, DatasetSpec, episode_colour, write_dataset


@pytest.fixture(scope="session")
def large_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = DatasetSpec(lengths=(6, 5), episodes_per_file=2, width=640, height=480)
    return write_dataset(tmp_path_factory.mktemp("large") / "so101_big_2000-01-01", spec)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _colour(pixels: np.ndarray) -> np.ndarray:
    # The bottom-right corner is never crossed by the moving white square.
    return pixels[-4:, -4:].reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize("episode", [0, 1, 2, 3])
def test_h264_segment_is_stream_copied_out_of_the_shared_file(
    v3_root: Path, tmp_path: Path, episode: int
) -> None:
    dataset = parse_dataset(v3_root)
    target = tmp_path / "clip.mp4"

    clip = export_clip(dataset, episode, FRONT, target)

    frames = _frames(target)
    assert clip.mode == "copy" and clip.codec == "h264"
    assert len(frames) == clip.frames == dataset.episode(episode).length
    assert np.allclose(_colour(frames[0]), episode_colour(episode), atol=12)
    assert np.allclose(_colour(frames[-1]), episode_colour(episode), atol=12)


def test_av1_is_decoded_and_transcoded_to_h264(v3_root: Path, tmp_path: Path) -> None:
    dataset = parse_dataset(v3_root)
    target = tmp_path / "clip.mp4"
    reports: list[float] = []

    clip = export_clip(dataset, 2, WRIST, target, progress=lambda p, _: reports.append(p))

    assert clip.mode == "transcode"
    probed = probe(target)
    assert (probed.codec, probed.pix_fmt, probed.width, probed.height) == (
        "h264",
        "yuv420p",
        64,
        48,
    )
    frames = _frames(target)
    assert len(frames) == 15
    assert np.allclose(_colour(frames[7]), episode_colour(2), atol=12)
    assert reports[-1] == 100.0


def test_mp4_has_its_index_first_so_a_prefix_plays(v3_root: Path, tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    export_clip(parse_dataset(v3_root), 2, WRIST, target)
    data = target.read_bytes()

    assert data.index(b"moov") < data.index(b"mdat")
    # A player that has fetched only a prefix (a range request) can start decoding; with the
    # index at the end it could not even open the file.
    with av.open(io.BytesIO(data[:-100])) as container:
        stream = container.streams.video[0]
        packet = next(p for p in container.demux(stream) if p.size)
        frames = [*stream.codec_context.decode(packet), *stream.codec_context.decode(None)]
    assert frames and frames[0].width == 64


def test_requested_sizes_scale_down_but_never_up(large_root: Path, tmp_path: Path) -> None:
    dataset = parse_dataset(large_root)

    down = export_clip(dataset, 1, FRONT, tmp_path / "down.mp4", resolution="360p")
    same = export_clip(dataset, 1, FRONT, tmp_path / "same.mp4", resolution="1080p")

    assert (down.mode, down.width, down.height) == ("transcode", 480, 360)
    assert probe(tmp_path / "down.mp4").height == 360
    assert len(_frames(tmp_path / "down.mp4")) == 5
    assert (same.mode, same.width, same.height) == ("copy", 640, 480)


def test_av1_at_a_profile_height_is_transcoded_at_that_height(
    large_root: Path, tmp_path: Path
) -> None:
    clip = export_clip(parse_dataset(large_root), 0, WRIST, tmp_path / "c.mp4", resolution="480p")

    probed = probe(tmp_path / "c.mp4")
    assert (clip.mode, probed.codec, probed.width, probed.height) == ("transcode", "h264", 640, 480)
    assert probed.frames == 6


def test_a_segment_not_starting_on_a_keyframe_is_transcoded(
    unaligned_root: Path, tmp_path: Path
) -> None:
    dataset = parse_dataset(unaligned_root)

    clip = export_clip(dataset, 1, FRONT, tmp_path / "c.mp4")

    frames = _frames(tmp_path / "c.mp4")
    assert clip.mode == "transcode" and len(frames) == 9
    assert np.allclose(_colour(frames[0]), episode_colour(1), atol=12)


def test_thumbnail_is_the_first_frame_of_the_episode_as_jpeg(v3_root: Path) -> None:
    dataset = parse_dataset(v3_root)

    for camera in (FRONT, WRIST):
        data = thumbnail(dataset, 1, camera)
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and image.size == (64, 48)
        assert np.allclose(_colour(np.asarray(image)), episode_colour(1), atol=12)


def test_thumbnail_can_be_made_smaller(large_root: Path) -> None:
    data = thumbnail(parse_dataset(large_root), 1, None, max_width=160)

    assert Image.open(io.BytesIO(data)).size == (160, 120)


def test_bad_requests_get_clear_errors(v3_root: Path, tmp_path: Path) -> None:
    dataset = parse_dataset(v3_root)

    with pytest.raises(MediaError, match="resolution must be one of"):
        export_clip(dataset, 0, FRONT, tmp_path / "x.mp4", resolution="4k")
    with pytest.raises(CameraNotFoundError, match=r"observation\.images\.top"):
        thumbnail(dataset, 0, "observation.images.top")
    with pytest.raises(EpisodeNotFoundError):
        thumbnail(dataset, 42, FRONT)


def test_a_corrupt_video_is_a_clear_error_and_leaves_no_output(
    v3_root: Path, copy_of: Callable[[Path], Path], tmp_path: Path
) -> None:
    root = copy_of(v3_root)
    video = root / f"videos/{WRIST}/chunk-000/file-000.mp4"
    video.write_bytes(video.read_bytes()[:200])
    dataset = parse_dataset(root)
    out = tmp_path / "out"
    out.mkdir()

    assert any("cannot be probed" in w for w in dataset.warnings)
    with pytest.raises(MediaError, match=r"file-000\.mp4"):
        export_clip(dataset, 0, WRIST, out / "clip.mp4")
    with pytest.raises(MediaError):
        thumbnail(dataset, 0, WRIST)
    assert list(out.iterdir()) == []
