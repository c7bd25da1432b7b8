"""The TrueType font text is drawn with, shipped by a Python package so it is always there."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from domain.studio.error import FontUnavailable


def default_font_path() -> Path:
    """Noto Sans from the `fontpkg-noto-sans` package (Latin, Greek and Cyrillic)."""
    try:
        import fontpkg_noto_sans
    except ImportError as exc:
        raise FontUnavailable(
            "no font for text: install the media extra (fontpkg-noto-sans)"
        ) from exc
    path = Path(fontpkg_noto_sans.ROOT) / "files" / "NotoSans[wdth,wght].ttf"
    if not path.is_file():
        raise FontUnavailable(f"font file missing: {path}")
    return path


@lru_cache(maxsize=32)
def load_font(size: int, path: str = "", weight: str = "Bold") -> ImageFont.FreeTypeFont:
    """A font at `size` pixels; a variable font is set to the named `weight`."""
    font_path = path or str(default_font_path())
    try:
        font = ImageFont.truetype(font_path, size)
    except OSError as exc:
        raise FontUnavailable(f"cannot read font {font_path}: {exc}") from exc
    try:
        font.set_variation_by_name(weight)
    except (OSError, ValueError):
        # Not a variable font, or no such instance: its default weight will do.
        pass
    return font
