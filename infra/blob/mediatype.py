"""Content types sniffed from an object's first bytes, then from its key's extension."""

from __future__ import annotations

import mimetypes

SNIFF_BYTES = 512
DEFAULT = "application/octet-stream"

# Signatures at offset 0, most specific first. Formats the services actually store lead.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"glTF", "model/gltf-binary"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
    (b"PAR1", "application/vnd.apache.parquet"),
    (b"RRF2", "application/x-rerun"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"fLaC", "audio/flac"),
    (b"Kaydara FBX Binary", "application/octet-stream"),
)


def sniff_content_type(head: bytes, key: str = "") -> str:
    """The content type of an object starting with `head` and named `key`."""
    for magic, media in _MAGIC:
        if head.startswith(magic):
            return media
    if head[:4] == b"RIFF" and len(head) >= 12:
        kind = head[8:12]
        if kind == b"WEBP":
            return "image/webp"
        if kind == b"WAVE":
            return "audio/wav"
        if kind == b"AVI ":
            return "video/x-msvideo"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith(b"qt"):
            return "video/quicktime"
        if brand in (b"avif", b"avis"):
            return "image/avif"
        return "video/mp4"
    guessed, _ = mimetypes.guess_type(key.rsplit("/", 1)[-1], strict=False)
    if guessed:
        return guessed
    if head and _is_text(head):
        stripped = head.lstrip()
        if stripped[:1] in (b"{", b"["):
            return "application/json"
        return "text/plain; charset=utf-8"
    return DEFAULT


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sniff window may cut a multi-byte character in half at its end.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
