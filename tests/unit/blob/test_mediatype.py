"""Content types sniffed from the bytes first, the key's extension second."""

from __future__ import annotations

import pytest

from infra.blob.mediatype import sniff_content_type


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
    ],
)
def test_sniffed_types(head: bytes, key: str, expected: str) -> None:
    assert sniff_content_type(head, key) == expected


def test_magic_bytes_win_over_a_misleading_extension() -> None:
    assert sniff_content_type(b"\x89PNG\r\n\x1a\nrest", "photo.txt") == "image/png"
