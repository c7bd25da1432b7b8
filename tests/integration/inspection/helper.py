"""Generated ROI crops and the contract's form fields, shared by the inspection tests."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from domain.inspection.synthetic import make_sample

SIZE = (96, 96)
ROLE, ROI = "Inspection", "inspection-1"


def png(image: np.ndarray[Any, Any]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def ok_crop(seed: int) -> bytes:
    return png(make_sample("texture", None, SIZE, seed=seed).image)


def ng_crop(seed: int) -> bytes:
    """A crop with a dark blob well inside it (a defect nobody can miss)."""
    image = make_sample("texture", None, SIZE, seed=seed).image.copy()
    image[30:60, 34:64] = 20
    return png(image)


def files(name: str, crops: list[bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(name, (f"crop{i}.png", data, "image/png")) for i, data in enumerate(crops)]


def ids(**extra: Any) -> dict[str, Any]:
    return {"role_id": ROLE, "roi_id": ROI, **extra}
