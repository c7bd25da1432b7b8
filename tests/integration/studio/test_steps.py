"""Steps out of order answer 409 and change nothing; approved URLs must name the session's
own assets (matched by key, so a fresh link to the same file works and a foreign one fails)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.studio.conftest import Studio, clips_approved, login


async def _images(studio: Studio, headers: dict[str, str], n: int = 1) -> dict[str, Any]:
    r = await studio.http.post(
        "/studio/api/generate-images", json={"prompt": "a hat", "num_images": n}, headers=headers
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _status(studio: Studio, headers: dict[str, str], sid: str) -> str:
    r = await studio.http.get(f"/studio/api/sessions/{sid}", headers=headers)
    return str(r.json()["status"])


async def test_steps_called_out_of_order_are_refused(studio: Studio) -> None:
    h = await login(studio)
    sid = (await _images(studio, h))["session_id"]
    calls = [
        ("/studio/api/generate-clips", {"session_id": sid, "video_prompt": "pan"}),
        ("/studio/api/save-approved-clips", {"session_id": sid, "approved_clip_urls": ["x"]}),
        ("/studio/api/compose-final-video", {"session_id": sid}),
    ]
    for path, body in calls:
        r = await studio.http.post(path, json=body, headers=h)
        assert r.status_code == 409, (path, r.text)
        assert "reviewing_images" in r.json()["detail"]
    assert await _status(studio, h, sid) == "reviewing_images"


async def test_approved_urls_are_matched_by_the_file_they_name(studio: Studio) -> None:
    alice = await login(studio, "alice")
    mine = await _images(studio, alice, 2)
    sid = mine["session_id"]
    other = await _images(studio, alice)
    bob = await login(studio, "bob")
    bobs = await _images(studio, bob)
    url = "/studio/api/save-approved-images"
    for foreign in (other["images"][0]["url"], bobs["images"][0]["url"], "https://x.test/a.png"):
        r = await studio.http.post(
            url, json={"session_id": sid, "approved_image_urls": [foreign]}, headers=alice
        )
        assert r.status_code == 400, r.text
    assert await _status(studio, alice, sid) == "reviewing_images"
    # Bob cannot approve on Alice's session, even with her own links.
    r = await studio.http.post(
        url,
        json={"session_id": sid, "approved_image_urls": [mine["images"][0]["url"]]},
        headers=bob,
    )
    assert r.status_code == 404

    # A link with another signature and expiry (here an expired one) names the same file.
    fresh = mine["images"][1]["url"].split("?")[0] + "?exp=1&sig=stale"
    r = await studio.http.post(
        url, json={"session_id": sid, "approved_image_urls": [fresh]}, headers=alice
    )
    assert r.status_code == 200 and r.json()["approved_count"] == 1
    assert await _status(studio, alice, sid) == "images_approved"


async def test_a_step_can_answer_with_its_job(studio: Studio) -> None:
    h = await login(studio)
    r = await studio.http.post(
        "/studio/api/generate-images",
        json={"prompt": "later", "num_images": 1},
        headers={**h, "Prefer": "respond-async"},
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "studio.generate_images"
    sid = job["payload"]["session_id"]
    for _ in range(200):
        done = (await studio.http.get(f"/jobs/{job['id']}", headers=h)).json()
        if done["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    assert done["status"] == "completed"
    assert await _status(studio, h, sid) == "reviewing_images"


async def test_bad_step_input_is_a_clear_400(studio: Studio) -> None:
    h = await login(studio)
    for body in (
        {"prompt": "x", "aspect_ratio": "7:3"},
        {"prompt": "x", "num_images": 9},
        {"prompt": ""},
        {"num_images": 1},
    ):
        r = await studio.http.post("/studio/api/generate-images", json=body, headers=h)
        assert r.status_code == 400, (body, r.text)
        assert set(r.json()) == {"detail"}


async def test_a_failed_step_leaves_the_session_where_it_was(studio: Studio) -> None:
    h = await login(studio)
    sid = await clips_approved(studio, h)
    # One 5 s clip: an overlay at 8 s is outside the video; the job fails, nothing is lost.
    r = await studio.http.post(
        "/studio/api/compose-final-video",
        json={
            "session_id": sid,
            "text_overlays": [{"text": "late", "start_time": 8.0, "duration": 1.0}],
        },
        headers=h,
    )
    assert r.status_code == 400 and "outside the video" in r.json()["detail"], r.text
    session = (await studio.http.get(f"/studio/api/sessions/{sid}", headers=h)).json()
    assert session["status"] == "clips_approved" and "outside" in session["error"]
    r = await studio.http.post(
        "/studio/api/compose-final-video",
        json={
            "session_id": sid,
            "text_overlays": [{"text": "on time", "start_time": 1.0, "duration": 1.0}],
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    session = (await studio.http.get(f"/studio/api/sessions/{sid}", headers=h)).json()
    assert session["status"] == "completed" and session["error"] is None


async def test_a_step_job_submitted_directly_cannot_touch_another_users_session(
    studio: Studio,
) -> None:
    alice = await login(studio, "alice")
    bob = await login(studio, "bob")
    sid = await clips_approved(studio, alice)
    # Bob names Alice's session (and his own track) in jobs he tries to submit through /jobs:
    # a service's kinds are submitted only by its routes.
    for kind, payload in (
        ("studio.compose", {"session_id": sid}),
        ("studio.approve", {"session_id": sid, "kind": "clip", "asset_ids": [1]}),
        ("studio.generate_clips", {"session_id": sid, "video_prompt": "mine now"}),
    ):
        r = await studio.http.post("/jobs", json={"kind": kind, "payload": payload}, headers=bob)
        assert (r.status_code, r.json()["code"]) == (400, "NOT_PUBLIC"), r.text
    session = (await studio.http.get(f"/studio/api/sessions/{sid}", headers=alice)).json()
    assert session["status"] == "clips_approved" and session["video_prompt"] == "pan"
    assert next(a for a in session["assets"] if a["type"] == "clip")["approved"]
