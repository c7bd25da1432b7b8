"""Decoding ROI images from client bytes into RGB arrays."""

from __future__ import annotations

import io
import warnings

import numpy as np
import numpy.typing as npt
from PIL import Image

from domain.inspection.error import InvalidImageError

RGBImage = npt.NDArray[np.uint8]
# Larger than any ROI a camera crop gives, small enough that a hostile file cannot exhaust memory.
MAX_PIXELS = 64_000_000


def decode_image(data: bytes) -> RGBImage:
    """Decode image bytes (PNG, JPEG, BMP, TIFF, ...) into an H×W×3 uint8 RGB array."""
    if not data:
        raise InvalidImageError("image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise InvalidImageError(f"image of {img.width}×{img.height} is too large")
                rgb = img.convert("RGB")
                rgb.load()
    except InvalidImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Warning) as exc:
        raise InvalidImageError(f"not a readable image: {exc}") from exc
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def as_rgb(image: bytes | npt.NDArray[np.generic]) -> RGBImage:
    """Accept encoded bytes, an H×W gray or H×W×3/4 array, and return H×W×3 uint8 RGB."""
    if isinstance(image, bytes | bytearray | memoryview):
        return decode_image(bytes(image))
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise InvalidImageError(f"image array must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidImageError(f"image array must be H×W×3, got shape {arr.shape}")
    return np.ascontiguousarray(arr[:, :, :3])


def resize_image(image: RGBImage, size: tuple[int, int]) -> RGBImage:
    """Resize an RGB array to `(height, width)` with bilinear filtering."""
    height, width = size
    if image.shape[0] == height and image.shape[1] == width:
        return image
    resized = Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def aspect_size(height: int, width: int, multiple: int, side: int | None = None) -> tuple[int, int]:
    """The size to process a crop at: its own aspect ratio, sides multiples of `multiple`.

    With `side`, the area is scaled to about `side`²; without, the crop keeps its own
    resolution. Squashing a 1:2.5 crop into a square changes the texture's scale along one
    axis only, so normal grain no longer looks like the grain the memory holds.
    """
    if height <= 0 or width <= 0 or multiple <= 0:
        raise InvalidImageError(f"cannot size a {width}×{height} crop to multiples of {multiple}")
    scale = 1.0 if side is None else side / (height * width) ** 0.5
    return (
        max(2, round(height * scale / multiple)) * multiple,
        max(2, round(width * scale / multiple)) * multiple,
    )


def normalise_contrast(image: RGBImage, mean: float = 118.0, std: float = 48.0) -> RGBImage:
    """The crop's grey levels shifted and scaled to a fixed mean and spread.

    Crops of one surface come lighter or darker, flatter or harsher with the lamp and the
    exposure; the memory then has to hold every lighting. Fixed statistics leave it the texture.
    """
    # The result depends on a pixel's value only, so the statistics come from the histogram and
    # the mapping is one 256-entry table: a few ms for a 448² ROI instead of float passes.
    counts = np.bincount(image.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    total = counts.sum()
    centre = float((counts * levels).sum() / total)
    spread = float(np.sqrt((counts * (levels - centre) ** 2).sum() / total))
    table = np.clip((levels - centre) * (std / max(spread, 1.0)) + mean + 0.5, 0, 255)
    out: RGBImage = table.astype(np.uint8)[image]
    return out


def encode_png(gray: npt.NDArray[np.uint8]) -> bytes:
    """Encode a 2-D uint8 array as a grayscale PNG."""
    buf = io.BytesIO()
    # The fastest zlib level: heatmaps are smooth, so it costs little size and saves ms per ROI.
    Image.fromarray(np.ascontiguousarray(gray, dtype=np.uint8)).save(
        buf, format="PNG", compress_level=1
    )
    return buf.getvalue()
