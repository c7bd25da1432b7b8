"""The whole studio pipeline through HTTP on a real media worker: login, the five steps,
the session, its costs and a final video PyAV opens, with the local provider and with the
official Replicate client against the stand-in."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import pytest

from tests.integration.studio.conftest import Start, Studio, login, replicate_env
from tests.replicate_standin import Plan, ReplicateStandIn
from tests.unit.studio.media import make_tone


async def _upload_tone(studio: Studio, headers: dict[str, str], tmp_path: Path) -> str:
    tone = make_tone(tmp_path / "music.m4a", seconds=12)
    r = await studio.http.post(
        "/studio/api/storage/upload-input",
        files={"file": ("music.m4a", tone.read_bytes(), "audio/mp4")},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["url"])


async def _run_pipeline(
    studio: Studio,
    headers: dict[str, str],
    *,
    overlays: list[dict[str, Any]],
    audio_url: str,
) -> tuple[str, dict[str, Any]]:
    http = studio.http
    r = await http.post(
        "/studio/api/generate-images",
        json={"prompt": "man buys hat", "num_images": 2},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    sid = body["session_id"]
    assert body["status"] == "completed" and [i["index"] for i in body["images"]] == [0, 1]
    # The images were copied into our store: their links open without a token.
    image = await http.get(body["images"][0]["url"])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

    # Approve the second image first: clips follow the approved order.
    urls = [body["images"][1]["url"], body["images"][0]["url"]]
    r = await http.post(
        "/studio/api/save-approved-images",
        json={"session_id": sid, "approved_image_urls": urls},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "success", "session_id": sid, "approved_count": 2}

    r = await http.post(
        "/studio/api/generate-clips",
        json={"session_id": sid, "video_prompt": "slow pan", "num_clips": 2},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    clips = r.json()["clips"]
    assert [c["index"] for c in clips] == [0, 1] and all(c["duration"] == 5 for c in clips)

    r = await http.post(
        "/studio/api/save-approved-clips",
        json={"session_id": sid, "approved_clip_urls": [c["url"] for c in clips]},
        headers=headers,
    )
    assert r.status_code == 200, r.text

    r = await http.post(
        "/studio/api/compose-final-video",
        json={"session_id": sid, "text_overlays": overlays, "audio_url": audio_url},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    final = r.json()
    assert final["status"] == "completed" and final["session_id"] == sid
    return sid, final


def _probe(data: bytes) -> tuple[float, int]:
    """(video seconds, audio streams) of an MP4."""
    with av.open(io.BytesIO(data)) as box:
        video = box.streams.video[0]
        assert video.duration is not None and video.time_base is not None
        return float(video.duration * video.time_base), len(box.streams.audio)


async def test_the_whole_pipeline_with_the_local_provider(studio: Studio, tmp_path: Path) -> None:
    headers = await login(studio)
    audio = await _upload_tone(studio, headers, tmp_path)
    overlays = [
        {"text": "Chapter 1", "start_time": 0.0, "duration": 2.0},
        {"text": "The end", "start_time": 7.0, "duration": 3.0},
    ]
    sid, final = await _run_pipeline(studio, headers, overlays=overlays, audio_url=audio)

    video = await studio.http.get(final["video_url"])
    assert video.status_code == 200
    seconds, audio_streams = _probe(video.content)
    # Two 5 s clips: the overlays' 10 s timeline, with the uploaded track as its sound.
    assert seconds == pytest.approx(10.0, abs=0.3) and audio_streams == 1

    r = await studio.http.get(f"/studio/api/sessions/{sid}", headers=headers)
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["status"] == "completed" and session["prompt"] == "man buys hat"
    assert session["video_prompt"] == "slow pan" and session["completed_at"]
    kinds = sorted(a["type"] for a in session["assets"])
    assert kinds == ["clip", "clip", "final_video", "image", "image"]
    approved = sorted((a["order_index"], a["type"]) for a in session["assets"] if a["approved"])
    assert approved == [(0, "clip"), (0, "image"), (1, "clip"), (1, "image")]
    assert (await studio.http.get(session["final_video_url"])).content == video.content

    r = await studio.http.get(f"/studio/api/sessions/{sid}/costs", headers=headers)
    costs = r.json()
    # The local provider is free and says so, one line per prediction.
    assert costs["total_cost"] == 0.0 and costs["session_id"] == sid
    assert [c["service"] for c in costs["breakdown"]] == ["local", "local", "local"]
    assert costs["breakdown"][0]["details"]["num_images"] == 2

    listed = (await studio.http.get("/studio/api/sessions/", headers=headers)).json()
    assert [s["id"] for s in listed] == [sid]


async def test_the_whole_pipeline_through_replicate(
    start_studio: Start, standin: ReplicateStandIn, tmp_path: Path
) -> None:
    standin.reset()
    studio = await start_studio(**replicate_env(standin))
    headers = await login(studio)
    audio = await _upload_tone(studio, headers, tmp_path)
    # The stand-in's clips are 1 s long whatever was asked.
    overlays = [{"text": "Hello", "start_time": 0.0, "duration": 1.5}]
    sid, final = await _run_pipeline(studio, headers, overlays=overlays, audio_url=audio)
    assert standin.count("create") == 3  # one flux prediction, two gen4 clips

    seconds, audio_streams = _probe((await studio.http.get(final["video_url"])).content)
    assert seconds == pytest.approx(2.0, abs=0.2) and audio_streams == 1

    costs = (await studio.http.get(f"/studio/api/sessions/{sid}/costs", headers=headers)).json()
    services = [(c["service"], c["details"]["model"]) for c in costs["breakdown"]]
    assert services == [
        ("replicate_flux", "flux-schnell"),
        ("replicate_luma", "gen-4-turbo"),
        ("replicate_luma", "gen-4-turbo"),
    ]
    # The price table: $0.003 an image, $0.05 a second of clip.
    assert costs["total_cost"] == pytest.approx(2 * 0.003 + 2 * 5 * 0.05)


async def test_replicate_webhooks_end_predictions_without_polling(
    start_studio: Start, standin: ReplicateStandIn
) -> None:
    standin.reset(Plan(run_s=0.5))
    studio = await start_studio(
        **{**replicate_env(standin), "SWITCHYARD_REPLICATE_WAIT_S": "0"},
        SWITCHYARD_REPLICATE_WEBHOOK_URL="{url}/studio/api/replicate/webhook",
        SWITCHYARD_REPLICATE_WEBHOOK_SECRET=standin.secret,
        # Only a webhook can end a prediction before this fallback poll.
        SWITCHYARD_REPLICATE_WEBHOOK_FALLBACK_POLL_S="600",
        SWITCHYARD_STUDIO_STEP_DEADLINE_S="60",
    )
    headers = await login(studio)
    r = await studio.http.post(
        "/studio/api/generate-images", json={"prompt": "hooked", "num_images": 1}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert standin.count("get") == 0
    assert [status for _, status in standin.webhook_attempts] == [200]

    # A delivery that is not signed with the secret is refused and relayed to no one.
    r = await studio.http.post(
        "/studio/api/replicate/webhook",
        content=b'{"id": "x", "status": "succeeded"}',
        headers={"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
    )
    assert r.status_code == 403


async def test_a_failed_prediction_is_a_502_its_cost_line_kept(
    start_studio: Start, standin: ReplicateStandIn
) -> None:
    standin.reset()
    studio = await start_studio(**replicate_env(standin))
    headers = await login(studio)
    r = await studio.http.post(
        "/studio/api/generate-images", json={"prompt": "p", "num_images": 1}, headers=headers
    )
    sid, image = r.json()["session_id"], r.json()["images"][0]["url"]
    r = await studio.http.post(
        "/studio/api/save-approved-images",
        json={"session_id": sid, "approved_image_urls": [image]},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    standin.reset(Plan(outcome="fail"))
    r = await studio.http.post(
        "/studio/api/generate-clips",
        json={"session_id": sid, "video_prompt": "pan", "num_clips": 1},
        headers=headers,
    )
    assert r.status_code == 502 and "CUDA out of memory" in r.json()["detail"], r.text
    session = (await studio.http.get(f"/studio/api/sessions/{sid}", headers=headers)).json()
    assert session["status"] == "images_approved"
    costs = (await studio.http.get(f"/studio/api/sessions/{sid}/costs", headers=headers)).json()
    failed = costs["breakdown"][-1]
    assert failed["service"] == "replicate_luma" and failed["details"]["status"] == "failed"
