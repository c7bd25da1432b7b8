"""`audio_url` cannot make the server reach our own network: loopback, private, link-local
and reserved addresses are refused, by name or literal, also behind a redirect; the caller's
own stored files are read from the store, another user's are refused."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.integration.studio.conftest import Start, Studio, clips_approved, login
from tests.unit.studio.media import make_tone

COMPOSE = "/studio/api/compose-final-video"


async def _compose(studio: Studio, h: dict[str, str], sid: str, audio_url: str) -> Any:
    return await studio.http.post(
        COMPOSE, json={"session_id": sid, "audio_url": audio_url}, headers=h
    )


async def test_internal_addresses_are_refused(studio: Studio) -> None:
    h = await login(studio)
    sid = await clips_approved(studio, h)
    for url in (
        "https://127.0.0.1/music.mp3",
        "https://localhost:8443/music.mp3",
        "https://10.1.2.3/music.mp3",
        "https://192.168.0.10/music.mp3",
        "https://[::1]/music.mp3",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/x",
        "https://100.64.0.1/x",
        "http://example.com/music.mp3",
        "file:///etc/passwd",
        "gopher://example.com/",
        "https://user:pw@example.com/x",
    ):
        r = await _compose(studio, h, sid, url)
        assert r.status_code == 400, (url, r.text)
        assert set(r.json()) == {"detail"}
    r = await studio.http.get(f"/studio/api/sessions/{sid}", headers=h)
    assert r.json()["status"] == "clips_approved"


async def test_another_users_stored_file_is_refused(studio: Studio, tmp_path: Path) -> None:
    alice = await login(studio, "alice")
    bob = await login(studio, "bob")
    tone = make_tone(tmp_path / "t.m4a", seconds=2)
    r = await studio.http.post(
        "/studio/api/storage/upload-input",
        files={"file": ("t.m4a", tone.read_bytes())},
        headers=bob,
    )
    bobs_url, bobs_key = r.json()["url"], r.json()["key"]
    sid = await clips_approved(studio, alice)
    for url in (bobs_url, bobs_key):
        r = await _compose(studio, alice, sid, url)
        assert r.status_code == 403, r.text


class _Redirector(BaseHTTPRequestHandler):
    """/tone serves audio; /to?u=<url> redirects there (a public host gone rogue)."""

    tone = b""

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/to?u="):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/to?u="))
            self.end_headers()
        elif self.path == "/tone":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.tone)))
            self.end_headers()
            self.wfile.write(self.tone)
        else:
            self.send_response(404)
            self.end_headers()


@contextlib.contextmanager
def _redirector(tone: bytes) -> Iterator[str]:
    _Redirector.tone = tone
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_redirects_to_internal_addresses_are_refused(
    start_studio: Start, tmp_path: Path
) -> None:
    # The operator allows one host of its own (here on loopback, plain http): the rest of
    # loopback and every other internal range stay out, also behind its redirects.
    studio = await start_studio(
        SWITCHYARD_STUDIO_FETCH_ALLOW_NETWORKS="127.0.0.1/32",
        SWITCHYARD_STUDIO_FETCH_ALLOW_HTTP="true",
    )
    h = await login(studio)
    sid = await clips_approved(studio, h)
    tone = make_tone(tmp_path / "t.m4a", seconds=6).read_bytes()
    with _redirector(tone) as base:
        port = base.rsplit(":", 1)[1]
        for target in (
            f"http://127.0.0.2:{port}/tone",
            f"http://localhost.localdomain.invalid:{port}/tone",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "file:///etc/passwd",
        ):
            r = await _compose(studio, h, sid, f"{base}/to?u={target}")
            assert r.status_code == 400, (target, r.text)
        # The allowed host itself, directly and through its own redirect, is fetched.
        r = await _compose(studio, h, sid, f"{base}/to?u={base}/tone")
        assert r.status_code == 200, r.text


async def test_a_fetch_over_the_size_limit_is_refused(start_studio: Start, tmp_path: Path) -> None:
    studio = await start_studio(
        SWITCHYARD_STUDIO_FETCH_ALLOW_NETWORKS="127.0.0.1/32",
        SWITCHYARD_STUDIO_FETCH_ALLOW_HTTP="true",
        SWITCHYARD_STUDIO_FETCH_MAX_BYTES="1000",
    )
    h = await login(studio)
    sid = await clips_approved(studio, h)
    with _redirector(make_tone(tmp_path / "t.m4a", seconds=6).read_bytes()) as base:
        r = await _compose(studio, h, sid, f"{base}/tone")
    assert r.status_code == 400 and "larger than" in r.json()["detail"]
