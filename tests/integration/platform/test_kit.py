"""The service kit on the platform's own job kinds: a route that submits platform.sleep and
waits for it, and a contract socket that relays session events through a translator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from api.app import create_app
from api.registry import SERVICES
from api.service import Service
from infra.settings import Settings
from tests.conftest import LiveApi, create_user
from tests.integration.platform import kit_service
from tests.integration.platform.helper import wait_status


@pytest.fixture
async def kit(settings: Settings, worker: Any) -> AsyncIterator[LiveApi]:
    await worker("indexing", concurrency=4)
    live = LiveApi(settings, services=[*SERVICES, kit_service.SERVICE])
    await live.start()
    yield live
    await live.stop()


@pytest.fixture
async def http(kit: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=kit.url, timeout=30) as client:
        yield client


async def token(settings: Settings, http: httpx.AsyncClient, username: str = "alice") -> str:
    await create_user(settings, username, "correct-horse")
    r = await http.post("/auth/login", json={"username": username, "password": "correct-horse"})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


async def test_a_services_lifespan_state_reaches_its_routes(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    r = await http.get("/kit/state", headers=bearer(await token(settings, http)))
    assert r.json() == {"redis_prefix": settings.redis.prefix, "open": True}


async def test_a_waiting_route_answers_with_the_completed_job(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    h = bearer(await token(settings, http))
    r = await http.post("/kit/sleep", json={"seconds": 0.2}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["slept_s"] == 0.2
    job = (await http.get(f"/jobs/{r.json()['job_id']}", headers=h)).json()
    assert job["status"] == "completed"


async def test_a_failed_job_is_the_services_error(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    h = bearer(await token(settings, http))
    r = await http.post("/kit/sleep", json={"fail": True}, headers=h)
    # The service's table maps the job's code to 422, in the service's own error shape.
    assert r.status_code == 422, r.text
    assert r.json() == {"error": "failing permanently as asked", "code": "ASKED_TO_FAIL"}


async def test_past_the_deadline_a_504_names_the_job_which_keeps_running(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    h = bearer(await token(settings, http))
    r = await http.post("/kit/sleep", json={"seconds": 3, "deadline_s": 0.5}, headers=h)
    assert r.status_code == 504, r.text
    assert r.json()["code"] == "TIMEOUT"
    location = r.headers["location"]
    job_id = location.rsplit("/", 1)[-1]
    assert job_id in r.json()["error"]
    job = (await http.get(location, headers=h)).json()
    assert job["status"] in ("pending", "running")
    done = await wait_status(http, h, job_id, "completed", "failed", "cancelled")
    assert done["status"] == "completed"


async def test_prefer_respond_async_answers_202_with_the_job(
    settings: Settings, http: httpx.AsyncClient
) -> None:
    h = bearer(await token(settings, http))
    r = await http.post(
        "/kit/sleep", json={"seconds": 0.2}, headers={**h, "Prefer": "respond-async"}
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "platform.sleep" and job["status"] == "pending"
    assert r.headers["location"] == f"/jobs/{job['id']}"
    done = await wait_status(http, h, job["id"], "completed", "failed")
    assert done["status"] == "completed"


async def test_a_client_that_goes_away_cancels_its_job(
    settings: Settings, http: httpx.AsyncClient, kit: LiveApi
) -> None:
    h = bearer(await token(settings, http))
    async with httpx.AsyncClient(base_url=kit.url, timeout=1.0) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await impatient.post("/kit/sleep", json={"seconds": 30}, headers=h)
    jobs = (await http.get("/jobs", params={"kind": "platform.sleep"}, headers=h)).json()
    (job,) = jobs["items"]
    done = await wait_status(http, h, job["id"], "cancelled", "completed", "failed", timeout=15)
    assert done["status"] == "cancelled"


async def recv(conn: Any, timeout: float = 10) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(conn.recv(), timeout))
        if message.get("type") != "ping":
            return message  # type: ignore[no-any-return]


async def test_a_contract_socket_relays_translated_session_events(
    settings: Settings, http: httpx.AsyncClient, kit: LiveApi
) -> None:
    h = bearer(await token(settings, http))
    async with websockets.connect(f"{kit.ws_url}/kit/ws?session=open-s1") as conn:
        assert await recv(conn) == {"type": "connection", "status": "connected"}
        r = await http.post("/kit/sleep", json={"seconds": 0.2, "session": "open-s1"}, headers=h)
        assert r.status_code == 200, r.text
        frames = []
        while not frames or frames[-1]["type"] != "job_completed":
            frames.append(await recv(conn))
    # Translated: no job.created (the translator skips it), contract names, this job only.
    types = [f["type"] for f in frames]
    assert types[0] == "job_started" and "job_created" not in types
    assert {f["job_id"] for f in frames} == {r.json()["job_id"]}
    assert frames[-1]["status"] == "completed" and frames[-1]["progress"] == 100

    # Reconnecting with the last id seen replays exactly what came after it.
    middle = frames[len(frames) // 2]
    after = frames[frames.index(middle) + 1 :]
    async with websockets.connect(
        f"{kit.ws_url}/kit/ws?session=open-s1&since={middle['event_id']}"
    ) as conn:
        assert (await recv(conn))["type"] == "connection"
        replayed = [await recv(conn) for _ in after]
    assert replayed == after


async def test_a_contract_socket_refuses_a_session_the_caller_may_not_read(
    settings: Settings, http: httpx.AsyncClient, kit: LiveApi
) -> None:
    tok = await token(settings, http, "bob")
    # Anonymous: only open sessions.
    async with websockets.connect(f"{kit.ws_url}/kit/ws?session=own-bob") as conn:
        error = await recv(conn)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await conn.recv()
    assert error["code"] == "FORBIDDEN"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    # With bob's token, his own session is his; alice's is not.
    async with websockets.connect(f"{kit.ws_url}/kit/ws?session=own-bob&token={tok}") as conn:
        assert (await recv(conn))["type"] == "connection"
    async with websockets.connect(f"{kit.ws_url}/kit/ws?session=own-alice&token={tok}") as conn:
        assert (await recv(conn))["code"] == "FORBIDDEN"


def test_two_services_may_not_share_a_topic_scope(settings: Settings) -> None:
    """Else one service's authorizer would decide who reads the other's topics."""
    other = Service(
        name="other",
        prefix="/other",
        routes=[],
        errors=kit_service.ERRORS,
        topics={"session": kit_service.may_read_session},
    )
    with pytest.raises(ValueError, match="'session' is declared by two services"):
        create_app(settings, services=[kit_service.SERVICE, other])
