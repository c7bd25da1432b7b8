"""The studio on the real stack: a live API whose public URL is its own address (so the
links it signs open), a real media worker with the same settings, and users with emails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from infra.settings import Settings
from tests.conftest import LiveApi, make_settings
from tests.integration.blob.conftest import seaweed  # noqa: F401  (the SeaweedFS fixture)
from tests.replicate_standin import ReplicateStandIn

# Small clips: 4 frames a second keeps a 5 s 720p clip to 20 frames on two shared cores.
FAST = {"SWITCHYARD_STUDIO_LOCAL_FPS": "4"}


@dataclass
class Studio:
    live: LiveApi
    settings: Settings
    http: httpx.AsyncClient

    @property
    def ws_url(self) -> str:
        return self.live.ws_url


Start = Callable[..., Awaitable[Studio]]


@pytest.fixture
async def start_studio(settings: Settings, worker: Any, tmp_path: Any) -> AsyncIterator[Start]:
    """start(**env) → the studio with these extra settings and a media worker."""
    started: list[tuple[LiveApi, httpx.AsyncClient]] = []

    async def _start(**env: str) -> Studio:
        """`{url}` in a value is the API's own base URL."""
        live = LiveApi(settings)
        env = {k: v.replace("{url}", live.url) for k, v in env.items()}
        s = make_settings(
            settings.db.url,
            settings.redis.url,
            tmp_path,
            SWITCHYARD_REDIS_PREFIX=settings.redis.prefix,
            SWITCHYARD_API_PUBLIC_URL=live.url,
            **{**FAST, **env},
        )
        live.settings = s
        await worker("media", concurrency=2, s=s)
        await live.start()
        http = httpx.AsyncClient(base_url=live.url, timeout=120)
        started.append((live, http))
        return Studio(live=live, settings=s, http=http)

    yield _start
    for live, http in started:
        await http.aclose()
        await live.stop()


@pytest.fixture
async def studio(start_studio: Start) -> Studio:
    return await start_studio()


async def add_user(settings: Settings, username: str, email: str) -> None:
    from infra.cli import ensure_user

    await ensure_user(settings, username, "correct-horse", ["user"], email=email)


async def login(studio: Studio, username: str = "alice") -> dict[str, str]:
    """Headers with a bearer token for a new user `username` (email <username>@example.com)."""
    email = f"{username}@example.com"
    await add_user(studio.settings, username, email)
    r = await studio.http.post(
        "/studio/api/auth/login", data={"username": email, "password": "correct-horse"}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="session")
def standin() -> Iterator[ReplicateStandIn]:
    server = ReplicateStandIn().start()
    yield server
    server.stop()


def replicate_env(standin: ReplicateStandIn) -> dict[str, str]:
    """Settings that send generation to the stand-in through the official client."""
    return {
        "SWITCHYARD_REPLICATE_API_TOKEN": standin.token,
        "SWITCHYARD_REPLICATE_BASE_URL": standin.url,
        "SWITCHYARD_REPLICATE_POLL_INTERVAL_S": "0.05",
        "SWITCHYARD_REPLICATE_WAIT_S": "1",
    }


def decode(r: httpx.Response) -> Any:
    return msgspec.json.decode(r.content)


async def clips_approved(studio: Studio, headers: dict[str, str]) -> str:
    """A session of one image and one approved clip, ready to compose; its id."""
    http = studio.http
    r = await http.post(
        "/studio/api/generate-images", json={"prompt": "a hat", "num_images": 1}, headers=headers
    )
    assert r.status_code == 200, r.text
    sid, image = r.json()["session_id"], r.json()["images"][0]["url"]
    r = await http.post(
        "/studio/api/save-approved-images",
        json={"session_id": sid, "approved_image_urls": [image]},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    r = await http.post(
        "/studio/api/generate-clips",
        json={"session_id": sid, "video_prompt": "pan", "num_clips": 1},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    r = await http.post(
        "/studio/api/save-approved-clips",
        json={"session_id": sid, "approved_clip_urls": [r.json()["clips"][0]["url"]]},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return str(sid)


def s3_env(server: Any) -> dict[str, str]:
    """Settings that keep the studio's files in a bucket of its own on `server`."""
    import uuid

    return {
        "SWITCHYARD_BLOB_BACKEND": "s3",
        "SWITCHYARD_BLOB_S3_ENDPOINT": server.endpoint,
        "SWITCHYARD_BLOB_S3_ACCESS_KEY": server.access_key,
        "SWITCHYARD_BLOB_S3_SECRET_KEY": server.secret_key,
        "SWITCHYARD_BLOB_S3_BUCKET": f"studio-{uuid.uuid4().hex[:12]}",
    }
