"""Rerun recordings as downloads, and the static folder: names never leave their folder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.embedded import free_port
from infra.settings import Settings
from tests.integration.robodata.conftest import V21_NAME, Stack, lab, stack_with


async def test_an_rrd_is_made_once_and_downloads_by_its_url(stack: Stack) -> None:
    await stack.index(lab(stack.settings) / V21_NAME)
    item = (await stack.items())[-1]
    r = await stack.post(f"/items/{item['id']}/visualize/rrd", {"format": "rrd"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "completed" and body["duration"] == pytest.approx(8 / 30)
    assert body["filePath"].startswith("/downloads/rrd/") and body["filePath"].endswith(".rrd")
    assert body["downloadUrl"] == f"{stack.api.url}/robodata{body['filePath']}"
    download = await stack.http.get(body["downloadUrl"])
    assert download.status_code == 200 and download.content[:4] == b"RRF2"
    assert len(download.content) == body["fileSize"]
    again = await stack.post(f"/items/{item['id']}/visualize/rrd", {"format": "rrd"})
    assert again.json() == body
    jobs = await stack.http.get("/jobs", params={"kind": "robodata.media"}, headers=stack.headers)
    assert jobs.json()["total"] == 1


@pytest.mark.parametrize(
    "name", ["..%2F..%2Fetc%2Fpasswd", "%2e%2e", "x.txt", ".hidden.rrd", "nothing.rrd"]
)
async def test_download_names_never_leave_their_folder(stack: Stack, name: str) -> None:
    r = await stack.http.get(f"/robodata/downloads/rrd/{name}")
    assert r.status_code == 404 and "detail" in r.json()


async def test_static_serves_a_placeholder_and_the_configured_folder_only(
    stack: Stack,
) -> None:
    r = await stack.http.get("/robodata/static/placeholder.png")
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
    for name in ("..%2Fsecrets%2Fjwt", "missing.png", "%2e%2e"):
        r = await stack.http.get(f"/robodata/static/{name}")
        assert r.status_code == 404, name


def test_a_static_folder_serves_its_own_files(tmp_path: Path) -> None:
    from api.robodata.static import static_file_bytes

    (tmp_path / "logo.svg").write_text("<svg/>")
    (tmp_path / "inner").mkdir()
    assert static_file_bytes(str(tmp_path), "logo.svg") == (b"<svg/>", "image/svg+xml")
    assert static_file_bytes(str(tmp_path), "inner") is None
    assert static_file_bytes("", "logo.svg") is None


async def test_a_viewer_starts_is_reused_and_stops(stack: Stack) -> None:
    await stack.index(lab(stack.settings) / V21_NAME)
    item = (await stack.items())[-1]["id"]
    ports = {"ws_port": free_port(), "web_port": free_port()}
    r = await stack.post(f"/items/{item}/visualize/server", {"mode": "distant", **ports})
    assert r.status_code == 200, r.text
    started = r.json()
    assert started["status"] == "running" and not started["reused"]
    assert started["wsUrl"] == f"rerun+http://127.0.0.1:{ports['ws_port']}/proxy"
    page = await stack.http.get(started["webUrl"])
    assert page.status_code == 200
    again = (await stack.post(f"/items/{item}/visualize/server", ports)).json()
    assert (again["viewerId"], again["reused"]) == (started["viewerId"], True)
    r = await stack.http.delete(f"/robodata/items/{item}/visualize/server", headers=stack.headers)
    assert r.status_code == 200 and r.json()["status"] == "stopped"
    with pytest.raises(httpx.ConnectError):
        await stack.http.get(started["webUrl"])


@pytest.fixture
async def hasty_stack(
    database_url: str,
    server_urls: dict[str, str],
    settings: Settings,
    worker: Any,
    tmp_path: Path,
    datasets: dict[str, Path],
) -> AsyncIterator[Stack]:
    """The stack with viewers stopped after 1 s without a request."""
    hasty = {"SWITCHYARD_ROBODATA_VIEWER_IDLE_S": "1"}
    async for s in stack_with(database_url, server_urls, settings, worker, tmp_path, **hasty):
        yield s


async def test_an_idle_viewer_stops_by_itself(hasty_stack: Stack) -> None:
    stack = hasty_stack
    await stack.index(lab(stack.settings) / V21_NAME)
    item = (await stack.items())[-1]["id"]
    ports = {"ws_port": free_port(), "web_port": free_port()}
    started = (await stack.post(f"/items/{item}/visualize/server", ports)).json()
    assert (await stack.http.get(started["webUrl"])).status_code == 200
    # No request for it again: within a few idle periods it is gone without one.
    for _ in range(100):
        await asyncio.sleep(0.1)
        try:
            await stack.http.get(started["webUrl"])
        except httpx.ConnectError:
            return
    raise AssertionError("the idle viewer is still serving")


async def test_a_viewer_on_equal_ports_is_refused(stack: Stack) -> None:
    await stack.index(lab(stack.settings) / V21_NAME)
    item = (await stack.items())[-1]["id"]
    r = await stack.post(f"/items/{item}/visualize/server", {"ws_port": 9500, "web_port": 9500})
    assert (r.status_code, r.json()) == (400, {"detail": "ws_port and web_port must differ"})
    r = await stack.post(f"/items/{item}/visualize/server", {"ws_port": 80})
    assert r.status_code == 400
