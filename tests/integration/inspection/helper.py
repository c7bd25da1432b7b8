"""Generated ROI crops and the contract's form fields, shared by the inspection tests."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image
from redis.asyncio import Redis

from domain.inspection.synthetic import make_sample
from infra.blob.factory import make_blob_store
from infra.settings import Settings

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


async def seed_model(http: Any, *, recipe: str | None = None, mm_per_px: str = "0.1") -> float:
    """Store 3 OK and 1 NG sample, fit and calibrate from them; the threshold."""
    extra = {"recipe_id": recipe} if recipe else {}
    for label, crops in (("ok", [ok_crop(i) for i in range(3)]), ("ng", [ng_crop(90)])):
        r = await http.post(
            f"/datasets/{label}/upload", data=ids(**extra), files=files("images", crops)
        )
        assert r.status_code == 200, r.text
    r = await http.post("/fit_ok", data=ids(mm_per_px=mm_per_px, use_dataset="true", **extra))
    assert r.status_code == 200, r.text
    r = await http.post("/calibrate_dataset", json=ids(**extra))
    assert r.status_code == 200, r.text
    return float(r.json()["threshold"])


async def infer(http: Any, crop: bytes, headers: dict[str, str] | None = None, **data: Any) -> Any:
    return await http.post(
        "/infer",
        data=ids(**{"mm_per_px": "0.1", **data}),
        files={"image": ("roi.png", crop, "image/png")},
        headers=headers or {},
    )


async def incoming(settings: Settings) -> list[str]:
    """Uploads still waiting for a job, in the blob store and in Redis (none once every
    request has ended)."""
    store = make_blob_store(settings)
    await store.open()
    try:
        waiting = [entry.key async for entry in store.iter("inspection/incoming/")]
    finally:
        await store.close()
    redis = Redis.from_url(settings.redis.url)
    try:
        match = f"{settings.redis.prefix}:inspection:incoming:*"
        waiting += [key.decode() async for key in redis.scan_iter(match=match)]
    finally:
        await redis.aclose()
    return waiting
