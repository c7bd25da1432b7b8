"""The docs pages in a real headless Chromium that can reach nothing but this machine."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from infra.embedded import free_port
from tests.conftest import LiveApi

pytestmark = pytest.mark.slow

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
# The unpkg URL Litestar's own Swagger page loads; it must not load here.
CDN_SCRIPT = "https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"


@pytest.fixture
def base_url(api: LiveApi) -> str:
    """The real platform app, with every declared service, on a real uvicorn server."""
    return api.url


async def dump_dom(url: str, profile: Path) -> str:
    """The DOM of `url` after its scripts ran, in a Chromium whose only network is loopback."""
    if CHROMIUM is None:
        pytest.skip("no chromium binary installed (apt-get install -y chromium)")
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # the test may run as root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        # Every name but 127.0.0.1 fails to resolve, and anything that skips resolution goes
        # to a proxy port where nothing listens: a CDN URL cannot load whatever the network.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--proxy-server=http://127.0.0.1:{free_port()}",
        "--proxy-bypass-list=127.0.0.1",
        # Virtual time waits for pending fetches, so the spec is loaded and rendered.
        "--virtual-time-budget=15000",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


def listed_paths(dom: str) -> set[str]:
    """The route paths Swagger UI rendered as operations."""
    return set(re.findall(r'class="opblock-summary-path"[^>]*data-path="([^"]+)"', dom))


async def test_the_browser_cannot_reach_a_cdn(tmp_path: Path) -> None:
    page = tmp_path / "cdn.html"
    mark = "document.getElementById('s').textContent"
    page.write_text(
        f'<p id="s">pending</p><script src="{CDN_SCRIPT}"'
        f" onload=\"{mark}='cdn-loaded'\" onerror=\"{mark}='cdn-blocked'\"></script>"
    )
    dom = await dump_dom(page.as_uri(), tmp_path / "profile")
    assert "cdn-blocked" in dom, dom


async def test_platform_docs_list_every_route_offline(base_url: str, tmp_path: Path) -> None:
    dom = await dump_dom(f"{base_url}/docs", tmp_path / "profile")
    paths = listed_paths(dom)
    assert {"/jobs", "/jobs/{job_id}", "/auth/login", "/inventory/api/v1/repositories"} <= paths, (
        dom[-3000:]
    )


async def test_service_docs_list_only_their_routes_offline(base_url: str, tmp_path: Path) -> None:
    dom = await dump_dom(f"{base_url}/inventory/docs", tmp_path / "profile")
    paths = listed_paths(dom)
    assert "/inventory/api/v1/repositories" in paths, dom[-3000:]
    assert all(p.startswith("/inventory/") for p in paths), sorted(paths)
    assert "/jobs" not in dom
