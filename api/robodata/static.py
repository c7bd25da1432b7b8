"""Static assets: a folder the operator names, and a built-in placeholder image."""

from __future__ import annotations

import io
import mimetypes
from functools import lru_cache
from pathlib import Path

PLACEHOLDER_NAME = "placeholder.png"


@lru_cache(maxsize=1)
def placeholder() -> bytes:
    """A 320×240 grey PNG with a darker frame, drawn once per process."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 240), (200, 200, 200))
    ImageDraw.Draw(image).rectangle((8, 8, 311, 231), outline=(120, 120, 120), width=4)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def static_file_bytes(folder: str, name: str) -> tuple[bytes, str] | None:
    """A file of the static folder (a plain name, no link out of it) or the placeholder."""
    if folder:
        base = Path(folder).resolve()
        path = (base / name).resolve()
        if path.parent == base and path.is_file():
            return path.read_bytes(), mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name == PLACEHOLDER_NAME:
        return placeholder(), "image/png"
    return None
