"""Studio figures: composition speed at 720p, the local provider's time per image/clip, and
the five steps end to end through HTTP beside the same work done by the engine alone.

Run with `python -m bench.studio` (or `make bench`). Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from domain.studio.composition import MediaInput, TextOverlay, compose
from domain.studio.local import LocalProvider
from domain.studio.model import ClipRequest, ImageRequest
from tests.unit.studio.media import make_tone

CLIPS = 3
CLIP_SECONDS = 5
IMAGES = 4
PASSWORD = "bench-password"


async def _generate(root: Path) -> tuple[list[Path], float, float]:
    provider = LocalProvider()
    started = time.perf_counter()
    images = await provider.generate_images(
        ImageRequest(
            prompt="a hat shop at dusk, neon sign", num_outputs=IMAGES, aspect_ratio="16:9"
        )
    )
    per_image = (time.perf_counter() - started) / IMAGES
    clips = []
    started = time.perf_counter()
    for i in range(CLIPS):
        clip = await provider.generate_clip(
            ClipRequest(
                prompt="slow camera move",
                image=images.assets[i].data,
                duration=CLIP_SECONDS,
                aspect_ratio="16:9",
                seed=i,
            )
        )
        path = root / f"clip-{i}.mp4"
        path.write_bytes(clip.assets[0].data)
        clips.append(path)
    per_clip = (time.perf_counter() - started) / CLIPS
    return clips, per_image, per_clip


OVERLAYS = [
    {"text": "Chapter 1 — Ünïcødé", "start_time": 0.5, "duration": 3.0},
    {"text": "Fin", "start_time": 11.0, "duration": 3.5},
]
PROMPT, VIDEO_PROMPT = "a hat shop at dusk, neon sign", "slow camera move"


async def _engine_alone(root: Path, tone: Path) -> float:
    """The five steps' work in one process: no API, jobs, database or blob store."""
    provider = LocalProvider()
    started = time.perf_counter()
    images = await provider.generate_images(
        ImageRequest(prompt=PROMPT, num_outputs=CLIPS, aspect_ratio="16:9")
    )
    clips = []
    for i, image in enumerate(images.assets):
        clip = await provider.generate_clip(
            ClipRequest(prompt=VIDEO_PROMPT, image=image.data, duration=CLIP_SECONDS, seed=i)
        )
        path = root / f"engine-clip-{i}.mp4"
        path.write_bytes(clip.assets[0].data)
        clips.append(MediaInput(path.name, str(path)))
    await asyncio.to_thread(
        compose,
        clips,
        root / "engine-final.mp4",
        overlays=[TextOverlay(**o) for o in OVERLAYS],  # type: ignore[arg-type]
        audio=MediaInput(tone.name, str(tone)),
    )
    return time.perf_counter() - started


async def _through_http(url: str, tone: bytes) -> tuple[float, dict[str, float]]:
    """The five steps as a client runs them: login, upload the track, then each step."""
    import httpx

    steps: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=f"{url}/studio/api", timeout=600) as http:
        r = await http.post(
            "/auth/login", data={"username": "bench@example.com", "password": PASSWORD}
        )
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await http.post("/storage/upload-input", files={"file": ("music.m4a", tone)}, headers=h)
        audio = r.json()["url"]
        started = time.perf_counter()

        async def step(name: str, path: str, body: dict[str, object]) -> dict[str, Any]:
            t = time.perf_counter()
            r = await http.post(path, json=body, headers=h)
            r.raise_for_status()
            steps[name] = time.perf_counter() - t
            return r.json()  # type: ignore[no-any-return]

        images = await step(
            "generate-images", "/generate-images", {"prompt": PROMPT, "num_images": CLIPS}
        )
        sid = images["session_id"]
        await step(
            "save-approved-images",
            "/save-approved-images",
            {"session_id": sid, "approved_image_urls": [i["url"] for i in images["images"]]},
        )
        clips = await step(
            "generate-clips",
            "/generate-clips",
            {"session_id": sid, "video_prompt": VIDEO_PROMPT, "num_clips": CLIPS},
        )
        await step(
            "save-approved-clips",
            "/save-approved-clips",
            {"session_id": sid, "approved_clip_urls": [c["url"] for c in clips["clips"]]},
        )
        await step(
            "compose-final-video",
            "/compose-final-video",
            {"session_id": sid, "text_overlays": OVERLAYS, "audio_url": audio},
        )
        return time.perf_counter() - started, steps


def http_section(root: Path, tone: Path) -> None:
    """`switchyard api` and one media worker, as processes, against the engine alone."""
    from bench.harness import free_port, stack
    from infra.cli import ensure_user
    from infra.settings import load_settings

    port = free_port()
    with stack(SWITCHYARD_API_PUBLIC_URL=f"http://127.0.0.1:{port}") as sy_stack:
        asyncio.run(
            ensure_user(
                load_settings(sy_stack.env), "bench", PASSWORD, ["user"], email="bench@example.com"
            )
        )
        sy_stack.fleet.api(port, 1)
        sy_stack.fleet.spawn("media", "worker", "--pool", "media", "--concurrency", "1")
        time.sleep(3)
        rounds = []
        # Round 1 is cold for the worker (its first jobs import PyAV, load the font);
        # each round runs the engine alone right before the HTTP run, on the same load.
        for _ in range(2):
            engine = asyncio.run(_engine_alone(root, tone))
            total, steps = asyncio.run(_through_http(f"http://127.0.0.1:{port}", tone.read_bytes()))
            rounds.append((engine, total, steps))
    print(
        f"five steps, {CLIPS} images -> {CLIPS} x {CLIP_SECONDS} s 720p clips -> final with "
        f"2 overlays + audio, local provider (load average {os.getloadavg()[0]:.1f}):"
    )
    for label, (engine, total, steps) in zip(("cold worker", "warm worker"), rounds, strict=True):
        print(
            f"  {label}: engine alone {engine:6.2f} s, through HTTP (API + media worker) "
            f"{total:6.2f} s = {100 * (total / engine - 1):+.1f}% [target <= +10%]"
        )
        print("    per step: " + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items()))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-studio-") as tmp:
        root = Path(tmp)
        clips, per_image, per_clip = asyncio.run(_generate(root))
        tone = make_tone(root / "music.m4a", seconds=CLIPS * CLIP_SECONDS + 5)
        overlays = [
            TextOverlay(text="Chapter 1 — Ünïcødé", start_time=0.5, duration=3.0),
            TextOverlay(text="Fin", start_time=11.0, duration=3.5, position="top"),
        ]
        load_before = os.getloadavg()[0]
        cpu = time.process_time()
        started = time.perf_counter()
        result = compose(
            [MediaInput(p.name, str(p)) for p in clips],
            root / "final.mp4",
            overlays=overlays,
            audio=MediaInput(tone.name, str(tone)),
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        size = (root / "final.mp4").stat().st_size
    print(
        f"composition: {CLIPS} clips x {CLIP_SECONDS} s at {result.width}x{result.height} "
        f"{result.fps:g} fps, 2 overlays + audio: {result.duration:.1f} s of video in "
        f"{elapsed:.2f} s = {result.duration / elapsed:.2f}x real time "
        f"({result.frames / elapsed:.0f} frames/s, {size / 1e6:.1f} MB)  [target >= 2x]"
    )
    # The machine is shared: wall time depends on what else runs. CPU seconds do not, and
    # duration / CPU seconds is the speed on one free core (a floor for two free cores).
    print(
        f"composition: {cpu:.2f} CPU s = {result.duration / cpu:.2f}x real time per free core; "
        f"load average {load_before:.1f} on {os.cpu_count()} cores during the run"
    )
    print(f"local provider: {per_image * 1000:.0f} ms per 1344x768 image")
    print(f"local provider: {per_clip:.2f} s per {CLIP_SECONDS} s 1280x720 clip")
    with tempfile.TemporaryDirectory(prefix="bench-studio-http-") as tmp:
        root = Path(tmp)
        http_section(root, make_tone(root / "music.m4a", seconds=CLIPS * CLIP_SECONDS + 5))


if __name__ == "__main__":
    main()
