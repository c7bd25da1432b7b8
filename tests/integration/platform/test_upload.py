"""Uploads through a real uvicorn server: limits, content types, safe names, malformed bodies."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.upload import safe_filename, stored_name
from infra.blob.local import LocalBlobStore
from tests.integration.platform.upload_app import (
    APP_BODY_LIMIT,
    SMALL,
    RssPeak,
    form_headers,
    local_store,
    multipart_body,
    serve,
    server_process,
    streamed_file,
)

MB = 1_000_000


def png(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny, grey) PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def zip_archive() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("payload.sh", "echo owned\n")
    return buf.getvalue()


ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalBlobStore]:
    blob_store = local_store(tmp_path / "blobs")
    await blob_store.open()
    yield blob_store
    await blob_store.close()


@pytest.fixture
async def client(store: LocalBlobStore) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(store) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield http


async def post_form(
    client: httpx.AsyncClient, path: str, *parts: tuple[str, str | None, bytes], declared: str = ""
) -> httpx.Response:
    body = multipart_body(*parts, declared=declared)
    return await client.post(path, content=body, headers=form_headers())


async def keys(store: LocalBlobStore, prefix: str = "") -> list[str]:
    return [entry.key async for entry in store.iter(prefix)]


def leftovers(store: LocalBlobStore) -> list[Path]:
    """Files in the store's in-flight directory: an aborted upload must leave none."""
    return list((store.root / "tmp").iterdir())


async def test_an_upload_exactly_at_the_limit_is_stored_byte_for_byte(
    client: httpx.AsyncClient, store: LocalBlobStore
) -> None:
    data = bytes(range(256)) * (SMALL.max_bytes // 256)
    assert len(data) == SMALL.max_bytes
    r = await post_form(client, "/small", ("file", "blob.bin", data))
    assert r.status_code == 201, r.text
    (stored,) = r.json()["files"]
    assert stored["size"] == SMALL.max_bytes
    assert stored["filename"] == "blob.bin"
    assert stored["content_type"] == "application/octet-stream"
    assert len(stored["sha256"]) == 64
    assert await store.read(stored["key"]) == data
    assert await keys(store) == [stored["key"]]


async def test_one_byte_over_the_limit_is_413_and_nothing_is_stored(
    client: httpx.AsyncClient, store: LocalBlobStore
) -> None:
    data = b"\x01" * (SMALL.max_bytes + 1)
    r = await post_form(client, "/small", ("file", "blob.bin", data))
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "TOO_LARGE"
    assert r.json()["detail"] == f"'blob.bin' exceeds the limit of {SMALL.max_bytes} bytes"
    assert await keys(store, "small/") == []
    assert leftovers(store) == []


async def test_a_body_over_the_routes_cap_is_refused_before_it_is_read(
    client: httpx.AsyncClient, store: LocalBlobStore
) -> None:
    assert SMALL.body_limit < APP_BODY_LIMIT  # this route's own cap applies, not the app's
    data = b"\x01" * (SMALL.body_limit + 1)
    r = await post_form(client, "/small", ("file", "blob.bin", data))
    assert r.status_code == 413
    assert r.json()["detail"] == f"request body exceeds the limit of {SMALL.body_limit} bytes"
    assert await keys(store) == []


async def test_a_route_can_take_more_than_the_apps_body_cap(
    client: httpx.AsyncClient, store: LocalBlobStore
) -> None:
    model = b"glTF\x02\x00\x00\x00" + b"\x00" * (2 * APP_BODY_LIMIT)
    r = await post_form(client, "/models", ("file", "robot.vrm", model))
    assert r.status_code == 201, r.text
    (stored,) = r.json()["files"]
    assert stored["content_type"] == "model/gltf-binary"
    assert stored["key"].startswith("models/session-1/")
    assert stored["key"].endswith("/robot.vrm")  # .vrm is a true name for glTF binary
    assert (await store.head(stored["key"])).size == len(model)


@pytest.mark.parametrize("fake", [zip_archive(), ELF], ids=["zip", "elf"])
async def test_a_file_that_lies_about_being_an_image_is_415(
    client: httpx.AsyncClient, store: LocalBlobStore, fake: bytes
) -> None:
    r = await post_form(client, "/images", ("images", "evil.png", fake), declared="image/png")
    assert r.status_code == 415, r.text
    body = r.json()
    assert body["code"] == "UNSUPPORTED_MEDIA_TYPE"
    found = "application/zip" if fake.startswith(b"PK") else "application/x-executable"
    assert found in body["detail"] and "image/png" in body["detail"]
    assert await keys(store) == []


async def test_a_real_png_with_a_misleading_name_is_stored_as_png(
    client: httpx.AsyncClient, store: LocalBlobStore
) -> None:
    image = png()
    r = await post_form(client, "/images", ("images", "photo.txt", image), declared="text/plain")
    assert r.status_code == 201, r.text
    (stored,) = r.json()["files"]
    assert stored["content_type"] == "image/png"
    assert stored["filename"] == "photo.txt"  # shown to people as they named it
    assert stored["key"].endswith("/photo.png")  # stored under a name true to its bytes
    assert (await store.head(stored["key"])).content_type == "image/png"
    assert await store.read(stored["key"]) == image


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("C:\\Users\\me\\robot.obj", "robot.obj"),
        ("evil\x00.sh.bin", "evil.sh.bin"),
        ("..", "upload"),
        ("a" * 1000 + ".bin", "a" * 116 + ".bin"),
    ],
)
async def test_a_hostile_filename_never_becomes_a_path(
    client: httpx.AsyncClient, store: LocalBlobStore, tmp_path: Path, name: str, shown: str
) -> None:
    r = await post_form(client, "/small", ("file", name, b"hello"))
    assert r.status_code == 201, r.text
    (stored,) = r.json()["files"]
    assert stored["filename"] == shown
    prefix, folder, leaf = stored["key"].split("/")
    assert prefix == "small" and len(folder) == 32 and leaf not in (".", "..")
    assert len(leaf.encode()) <= 120
    path = (store.root / "objects" / stored["key"]).resolve()
    assert path.is_relative_to(store.root / "objects") and path.read_bytes() == b"hello"
    outside = [p for p in tmp_path.rglob("*") if not p.is_relative_to(store.root)]  # noqa: ASYNC240
    assert outside == []


def test_safe_names_keep_only_the_last_component_and_printable_text() -> None:
    assert safe_filename("dir/sub\\x\u202egnp.exe") == "xgnp.exe"  # bidi override dropped
    assert safe_filename("  .hidden  ") == "hidden"
    assert safe_filename("CON.txt") == "_CON.txt"
    assert safe_filename(None) == "upload"
    assert stored_name("scan.JPEG", "image/jpeg") == "scan.jpeg"
    assert stored_name("scan.png", "image/jpeg") == "scan.jpg"


async def test_two_files_in_one_request_are_both_stored(
    client: httpx.AsyncClient, store: LocalBlobStore
) -> None:
    a, b = png(2, 2), png(3, 1)
    r = await post_form(
        client,
        "/images",
        ("roi", None, b'{"x": 1}'),
        ("images", "a.png", a),
        ("images", "b.png", b),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["fields"] == {"roi": '{"x": 1}'}
    assert [f["filename"] for f in body["files"]] == ["a.png", "b.png"]
    assert [await store.read(f["key"]) for f in body["files"]] == [a, b]


async def test_a_bad_file_after_a_good_one_leaves_neither(
    client: httpx.AsyncClient, store: LocalBlobStore
) -> None:
    r = await post_form(client, "/images", ("images", "ok.png", png()), ("images", "x.png", ELF))
    assert r.status_code == 415
    assert await keys(store) == []


@pytest.mark.parametrize(
    ("body", "headers", "status", "words"),
    [
        (b"--x\r\n", {"content-type": "multipart/form-data"}, 400, "boundary"),
        (b"{}", {"content-type": "application/json"}, 415, "multipart/form-data"),
        (multipart_body(("file", "a.bin", b"abc" * 100))[:-40], form_headers(), 400, "malformed"),
        (b"no boundary anywhere in here", form_headers(), 400, "malformed"),
        (multipart_body(("note", None, b"just text")), form_headers(), 400, "file"),
        (multipart_body(("other", "a.bin", b"abc")), form_headers(), 400, "'other'"),
        (
            multipart_body(*[("file", f"{i}.bin", b"x") for i in range(3)]),
            form_headers(),
            400,
            "at most 2",
        ),
        (
            multipart_body(
                ("note", None, b"n" * (SMALL.max_fields_bytes + 1)), ("file", "a", b"x")
            ),
            form_headers(),
            413,
            "form fields exceed",
        ),
    ],
    ids=[
        "no-boundary",
        "not-multipart",
        "truncated",
        "garbage",
        "no-file",
        "wrong-field",
        "too-many-files",
        "fields-too-large",
    ],
)
async def test_a_malformed_request_is_a_clear_error(
    client: httpx.AsyncClient,
    store: LocalBlobStore,
    body: bytes,
    headers: dict[str, str],
    status: int,
    words: str,
) -> None:
    r = await client.post("/small", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    assert await keys(store) == []
    assert leftovers(store) == []


@pytest.mark.slow
async def test_a_large_upload_streams_through_the_server_without_being_buffered(
    tmp_path: Path,
) -> None:
    size = 24 * MB
    head = b"glTF\x02\x00\x00\x00"
    with server_process(tmp_path / "blobs") as (url, process):
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            # Warm the server (imports, first allocations) so the baseline is its steady state.
            warm = await http.post(
                "/models", content=streamed_file("file", "w.glb", head, MB), headers=form_headers()
            )
            assert warm.status_code == 201, warm.text
            baseline = process.memory_info().rss
            async with RssPeak(process) as rss:
                r = await http.post(
                    "/models",
                    content=streamed_file("file", "big.glb", head, size),
                    headers=form_headers(),
                )
    assert r.status_code == 201, r.text
    stored: dict[str, Any] = r.json()["files"][0]
    assert stored["size"] == size
    rise = rss.peak - baseline
    # Buffering the body would cost at least its size; streaming costs a few chunk buffers.
    assert rise < size // 2, f"server RSS rose {rise / MB:.1f} MB for a {size / MB:.0f} MB upload"
