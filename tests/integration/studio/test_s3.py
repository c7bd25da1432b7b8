"""The studio on S3 (SeaweedFS): generated files and uploads behind presigned URLs that work,
expire, and are matched back to their files by key."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import av
from PIL import Image

from tests.integration.studio.conftest import Start, clips_approved, login, s3_env
from tests.unit.studio.media import make_tone


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


async def test_presigned_urls_work_and_expire_on_s3(start_studio: Start, seaweed: Any) -> None:
    studio = await start_studio(**s3_env(seaweed))
    h = await login(studio)
    r = await studio.http.post(
        "/studio/api/storage/upload-input", files={"file": ("a.png", _png())}, headers=h
    )
    assert r.status_code == 200, r.text
    key = r.json()["key"]
    assert r.json()["url"].startswith(seaweed.endpoint)
    r = await studio.http.get(
        f"/studio/api/storage/files/{key}/presigned-url", params={"expires_in": 2}, headers=h
    )
    link = r.json()["presigned_url"]
    assert (await studio.http.get(link)).content == _png()
    await asyncio.sleep(3.5)
    assert (await studio.http.get(link)).status_code == 403

    # Generated images land in the bucket; their presigned links name them for approval.
    r = await studio.http.post(
        "/studio/api/generate-images", json={"prompt": "s3", "num_images": 2}, headers=h
    )
    assert r.status_code == 200, r.text
    sid, images = r.json()["session_id"], r.json()["images"]
    assert (await studio.http.get(images[0]["url"])).content.startswith(b"\x89PNG")
    r = await studio.http.post(
        "/studio/api/save-approved-images",
        json={"session_id": sid, "approved_image_urls": [images[1]["url"]]},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["approved_count"] == 1, r.text
    r = await studio.http.get(
        "/studio/api/storage/files", params={"folder": "output", "asset_type": "images"}, headers=h
    )
    files = r.json()["files"]
    assert len(files) == 2
    assert (await studio.http.get(files[0]["presigned_url"])).status_code == 200


async def test_a_presigned_s3_link_to_the_callers_track_is_read_from_the_bucket(
    start_studio: Start, seaweed: Any, tmp_path: Path
) -> None:
    studio = await start_studio(**s3_env(seaweed))
    alice = await login(studio, "alice")
    bob = await login(studio, "bob")
    tone = make_tone(tmp_path / "t.m4a", seconds=6).read_bytes()
    links = {}
    for name, h in (("alice", alice), ("bob", bob)):
        r = await studio.http.post(
            "/studio/api/storage/upload-input", files={"file": ("t.m4a", tone)}, headers=h
        )
        links[name] = r.json()["url"]
    sid = await clips_approved(studio, alice)
    compose = "/studio/api/compose-final-video"
    r = await studio.http.post(
        compose, json={"session_id": sid, "audio_url": links["bob"]}, headers=alice
    )
    assert r.status_code == 403, r.text
    r = await studio.http.post(
        compose, json={"session_id": sid, "audio_url": links["alice"]}, headers=alice
    )
    assert r.status_code == 200, r.text
    final = await studio.http.get(r.json()["video_url"])
    with av.open(io.BytesIO(final.content)) as box:
        assert len(box.streams.audio) == 1
