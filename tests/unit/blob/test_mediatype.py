"""Content types sniffed from the bytes first, the key's extension second."""

from __future__ import annotations

import pytest

from infra.blob.mediatype import FBX, base_type, sniff_content_type

BMP = b"BM" + (70).to_bytes(4, "little") + b"\x00" * 4 + (54).to_bytes(4, "little")
BMP += (40).to_bytes(4, "little") + b"\x00" * 12
OBJ = (
    b"# Blender 4.1\nmtllib cube.mtl\no Cube\nv 1.0 1.0 -1.0\nv 1.0 -1.0 -1.0\nvn 0 1 0\nf 1 2 3\n"
)
GLTF = b'{\n  "asset": {"version": "2.0", "generator": "x"},\n  "scenes": []\n}'


@pytest.mark.parametrize(
    ("head", "key", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "upload.bin", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "x", "image/jpeg"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00", "clip", "video/mp4"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "", "image/webp"),
        (b"glTF\x02\x00\x00\x00", "model", "model/gltf-binary"),
        (b"PAR1\x15\x04", "table", "application/vnd.apache.parquet"),
        (b"\x00\x01\x02\x03", "report.pdf", "application/pdf"),
        (b'{"a": 1}', "noext", "application/json"),
        (b"plain words \xc3", "notes", "text/plain; charset=utf-8"),
        (b"\x00\x01\x02\x03", "blob", "application/octet-stream"),
        (BMP, "", "image/bmp"),
        (b"II*\x00\x08\x00\x00\x00", "", "image/tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "", "image/tiff"),
        (b"Kaydara FBX Binary  \x00\x1a\x00", "", FBX),
        (b"; FBX 7.4.0 project file\nFBXHeaderExtension:  {\n", "", FBX),
        (OBJ, "", "model/obj"),
        (b"\xef\xbb\xbfv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "", "model/obj"),
        (GLTF, "", "model/gltf+json"),
        (b'{"accessors": [{"bufferView": 0}]', "", "model/gltf+json"),
        (b"\x7fELF\x02\x01\x01\x00", "", "application/x-executable"),
    ],
)
def test_sniffed_types(head: bytes, key: str, expected: str) -> None:
    assert sniff_content_type(head, key) == expected


def test_magic_bytes_win_over_a_misleading_extension() -> None:
    assert sniff_content_type(b"\x89PNG\r\n\x1a\nrest", "photo.txt") == "image/png"


@pytest.mark.parametrize(
    "text",
    [
        b"BM is how this note starts, not a bitmap header at all",
        b"v is for vendetta\nand this is prose\n",  # a 'v' line that is no vertex
        b"# comments only\n# no geometry\n",
        b"v 1 2 3\nthis line is not OBJ\n",
        b'{"name": "asset", "assets": {}}',  # mentions asset, but not as glTF's key
    ],
)
def test_text_that_only_looks_like_a_format_stays_text(text: bytes) -> None:
    assert base_type(sniff_content_type(text)) in ("text/plain", "application/json")


def test_a_sniff_window_that_ends_mid_line_still_finds_obj() -> None:
    head = (b"v 0.125 0.5 -1.0\n" * 40)[:512]
    assert sniff_content_type(head) == "model/obj"


def test_base_type_drops_parameters() -> None:
    assert base_type("Text/Plain; charset=utf-8") == "text/plain"
