import io

import numpy as np
import pytest
from PIL import Image

from domain.inspection.error import InvalidImageError
from domain.inspection.image import as_rgb, aspect_size, decode_image, normalise_contrast


def _encode(arr: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def test_png_round_trips_exactly() -> None:
    arr = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(decode_image(_encode(arr, "PNG")), arr)


def test_gray_and_rgba_become_rgb() -> None:
    gray = np.full((8, 9), 77, dtype=np.uint8)
    out = decode_image(_encode(gray, "PNG"))
    assert out.shape == (8, 9, 3) and (out == 77).all()
    rgba = np.zeros((4, 5, 4), dtype=np.uint8)
    assert as_rgb(rgba).shape == (4, 5, 3)


def test_jpeg_decodes() -> None:
    arr = np.full((16, 16, 3), 128, dtype=np.uint8)
    assert decode_image(_encode(arr, "JPEG")).shape == (16, 16, 3)


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n truncated"])
def test_non_image_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidImageError):
        decode_image(data)


def test_bad_arrays_are_refused() -> None:
    with pytest.raises(InvalidImageError, match="uint8"):
        as_rgb(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(InvalidImageError, match="shape"):
        as_rgb(np.zeros((4, 4, 2), dtype=np.uint8))


def test_aspect_size_keeps_the_crops_own_shape() -> None:
    # Own resolution, rounded to the grid: a tall crop stays tall.
    assert aspect_size(510, 220, 16) == (512, 224)
    # Scaled to about 448² of area with the aspect ratio kept (1:2.5 stays about 1:2.5).
    h, w = aspect_size(200, 500, 16, side=448)
    assert (h, w) == (288, 704) and abs(h * w - 448**2) < 0.02 * 448**2
    assert aspect_size(448, 448, 16, side=448) == (448, 448)
    # Never below two patches a side, so the grid always has a neighbourhood.
    assert aspect_size(10, 900, 16) == (32, 896)
    with pytest.raises(InvalidImageError):
        aspect_size(0, 100, 16)


def test_normalise_contrast_gives_dark_and_bright_shots_one_exposure() -> None:
    rng = np.random.default_rng(0)
    texture = rng.normal(0, 1, (32, 48, 1)).repeat(3, axis=2)
    dark = np.clip(60 + 10 * texture, 0, 255).astype(np.uint8)
    bright = np.clip(170 + 30 * texture, 0, 255).astype(np.uint8)
    a, b = normalise_contrast(dark), normalise_contrast(bright)
    assert abs(a.mean() - 118) < 1 and abs(a.std() - 48) < 1
    # The same texture under two exposures comes out the same, to rounding.
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 3
    # A flat crop is not blown up into noise.
    assert (normalise_contrast(np.full((4, 4, 3), 90, np.uint8)) == 118).all()
