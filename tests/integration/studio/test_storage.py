"""Storage through HTTP: uploads typed by content and size-limited, keys always under the
caller's own `users/<id>/`, escapes refused with a 4xx and nothing touched."""

from __future__ import annotations

import io

from PIL import Image

from tests.integration.studio.conftest import Start, Studio, login


def _png(size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (10, 200, 30)).save(buf, format="PNG")
    return buf.getvalue()


async def _me(studio: Studio, headers: dict[str, str]) -> int:
    return int((await studio.http.get("/studio/api/auth/me", headers=headers)).json()["id"])


async def _upload(studio: Studio, headers: dict[str, str], name: str, data: bytes) -> dict:  # type: ignore[type-arg]
    r = await studio.http.post(
        "/studio/api/storage/upload-input", files={"file": (name, data)}, headers=headers
    )
    return {"status": r.status_code, **r.json()}


async def test_uploads_are_typed_by_their_bytes(studio: Studio) -> None:
    h = await login(studio)
    n = await _me(studio, h)
    stored = await _upload(studio, h, "photo.txt", _png())
    assert stored["status"] == 200
    assert stored["content_type"] == "image/png" and stored["original_filename"] == "photo.txt"
    assert stored["key"].startswith(f"users/{n}/input/") and stored["key"].endswith(".png")
    assert (await studio.http.get(stored["url"])).content == _png()
    refused = await _upload(studio, h, "photo.png", b"#!/bin/sh\necho not an image\n")
    assert refused["status"] == 415


async def test_an_upload_over_the_limit_is_refused_and_not_kept(start_studio: Start) -> None:
    studio = await start_studio(SWITCHYARD_STUDIO_MAX_UPLOAD_BYTES="1000")
    h = await login(studio)
    big = _png() + bytes(2000)  # a PNG with trailing bytes, over the limit
    assert (await _upload(studio, h, "big.png", big))["status"] == 413
    r = await studio.http.get("/studio/api/storage/files", params={"folder": "input"}, headers=h)
    assert r.json()["total"] == 0


async def test_prompt_config_and_listing(studio: Studio) -> None:
    h = await login(studio)
    n = await _me(studio, h)
    r = await studio.http.post(
        "/studio/api/storage/upload-prompt-config",
        json={"config_data": {"prompt": "man buys hat", "num_images": 4}, "session_id": "abc"},
        headers=h,
    )
    assert r.json() == {
        "status": "success",
        "key": f"users/{n}/input/prompt-abc.json",
        "session_id": "abc",
    }
    await _upload(studio, h, "a.png", _png())
    r = await studio.http.get(
        "/studio/api/storage/files", params={"folder": "input", "limit": 1}, headers=h
    )
    page = r.json()
    assert page["total"] == 2 and page["limit"] == 1 and len(page["files"]) == 1
    listed = await studio.http.get(
        "/studio/api/storage/files", params={"folder": "input", "offset": 1}, headers=h
    )
    files = page["files"] + listed.json()["files"]
    config = next(f for f in files if f["key"].endswith("prompt-abc.json"))
    assert config["content_type"] == "application/json"
    assert (await studio.http.get(config["presigned_url"])).json()["prompt"] == "man buys hat"

    await studio.http.post(
        "/studio/api/generate-images", json={"prompt": "x", "num_images": 1}, headers=h
    )
    r = await studio.http.get(
        "/studio/api/storage/files", params={"folder": "output", "asset_type": "images"}, headers=h
    )
    assert r.json()["total"] == 1 and r.json()["files"][0]["content_type"] == "image/png"
    for params in (
        {"folder": "secrets"},
        {"folder": "output", "asset_type": "passwords"},
        {"folder": "input", "asset_type": "images"},
        {},
    ):
        r = await studio.http.get("/studio/api/storage/files", params=params, headers=h)
        assert r.status_code == 400, (params, r.text)


async def test_keys_outside_the_callers_folder_are_refused(studio: Studio) -> None:
    alice = await login(studio, "alice")
    bob = await login(studio, "bob")
    a, b = await _me(studio, alice), await _me(studio, bob)
    bobs = await _upload(studio, bob, "b.png", _png())
    base = "/studio/api/storage/files/"
    # Alice asks for Bob's file by its key, plainly and through escapes from her own folder.
    refused = {
        f"{bobs['key']}/presigned-url": 403,
        f"users/{a}/%2E%2E/%2E%2E/{bobs['key']}/presigned-url": 400,
        f"users/{a}/input/..%2F..%2F{b}/x/presigned-url": 400,
        f"users%2F{b}%2Finput%2Fx/presigned-url": 403,
        f"users/{a}/x%00y/presigned-url": 400,
        "etc/passwd/presigned-url": 403,
    }
    for path, status in refused.items():
        r = await studio.http.get(base + path, headers=alice)
        assert r.status_code == status, (path, r.text)
        assert set(r.json()) == {"detail"}
    r = await studio.http.delete(base + bobs["key"], headers=alice)
    assert r.status_code == 403
    # Bob's file is untouched and his.
    r = await studio.http.get(base + bobs["key"] + "/presigned-url", headers=bob)
    assert r.status_code == 200 and (await studio.http.get(r.json()["presigned_url"])).content


async def test_presigned_urls_are_bounded_and_delete_removes(studio: Studio) -> None:
    h = await login(studio)
    key = (await _upload(studio, h, "a.png", _png()))["key"]
    url = f"/studio/api/storage/files/{key}/presigned-url"
    for bad in (0, -5, 10**9):
        r = await studio.http.get(url, params={"expires_in": bad}, headers=h)
        assert r.status_code == 400, r.text
    r = await studio.http.get(url, params={"expires_in": 60}, headers=h)
    assert r.json()["expires_in"] == 60
    assert (await studio.http.get(r.json()["presigned_url"])).content == _png()

    r = await studio.http.delete(f"/studio/api/storage/files/{key}", headers=h)
    assert r.json() == {"status": "success", "message": "File deleted successfully", "key": key}
    assert (
        await studio.http.delete(f"/studio/api/storage/files/{key}", headers=h)
    ).status_code == 404
    assert (await studio.http.get(url, headers=h)).status_code == 404
