"""Content types sniffed from an object's first bytes, then from its key's extension."""

from __future__ import annotations

import mimetypes
import re

SNIFF_BYTES = 512
DEFAULT = "application/octet-stream"
FBX = "application/vnd.autodesk.fbx"  # not IANA-registered; the name Autodesk tools use

# Signatures at offset 0, most specific first. Formats the services actually store lead.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"%PDF-", "application/pdf"),
    (b"glTF", "model/gltf-binary"),  # .glb and .vrm (a glTF binary with VRM extensions)
    (b"Kaydara FBX Binary", FBX),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
    (b"PAR1", "application/vnd.apache.parquet"),
    (b"RRF2", "application/x-rerun"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\x7fELF", "application/x-executable"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"fLaC", "audio/flac"),
)

# BITMAPINFOHEADER sizes (core, v1..v5): "BM" alone is too short a signature to trust.
_BMP_DIB_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
# Keys only a glTF document starts with; "asset" is required by the spec and names it.
_GLTF_ASSET = re.compile(rb'"asset"\s*:\s*\{')
_GLTF_FIRST_KEY = re.compile(rb'\{\s*"(accessors|bufferViews|extensionsUsed|extensionsRequired)"')
# Wavefront OBJ statements (geometry, grouping, materials, free-form).
_OBJ_KEYWORDS = frozenset(
    b"v vt vn vp f l p o g s mg mtllib usemtl cstype deg bmat step curv curv2 surf parm trim "
    b"hole scrv sp end con bevel c_interp d_interp lod shadow_obj trace_obj ctech stech".split()
)
_UTF8_BOM = b"\xef\xbb\xbf"


def sniff_content_type(head: bytes, key: str = "") -> str:
    """The content type of an object starting with `head` and named `key`."""
    for magic, media in _MAGIC:
        if head.startswith(magic):
            return media
    if _is_bmp(head):
        return "image/bmp"
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
        return _text_type(head.removeprefix(_UTF8_BOM).lstrip())
    return DEFAULT


def base_type(content_type: str) -> str:
    """`content_type` lower-cased, without its parameters (`text/plain; charset=x`)."""
    return content_type.split(";", 1)[0].strip().lower()


def _is_bmp(head: bytes) -> bool:
    if not head.startswith(b"BM") or len(head) < 18:
        return False
    reserved, dib = head[6:10], int.from_bytes(head[14:18], "little")
    return reserved == b"\x00\x00\x00\x00" and dib in _BMP_DIB_SIZES


def _text_type(text: bytes) -> str:
    if text.startswith(b"{") and (_GLTF_ASSET.search(text) or _GLTF_FIRST_KEY.match(text)):
        return "model/gltf+json"
    if text[:1] in (b"{", b"["):
        return "application/json"
    if text.startswith(b"; FBX "):  # the ASCII form's header comment
        return FBX
    if _is_obj(text):
        return "model/obj"
    return "text/plain; charset=utf-8"


def _is_obj(text: bytes) -> bool:
    """Every whole line an OBJ statement or comment, with at least one `v x y z` vertex."""
    lines = text.splitlines()
    # The sniff window may end inside a line: judge the last one only by its vertex, if any.
    cut = not text.endswith((b"\n", b"\r"))
    whole, last = (lines[:-1], lines[-1:]) if cut else (lines, [])
    vertices = 0
    for line in whole:
        words = line.split()
        if not words or words[0].startswith(b"#"):
            continue
        if words[0] not in _OBJ_KEYWORDS:
            return False
        vertices += _is_vertex(words)
    vertices += sum(_is_vertex(line.split()) for line in last)
    return vertices > 0


def _is_vertex(words: list[bytes]) -> bool:
    if len(words) < 4 or words[0] != b"v":
        return False
    try:
        [float(w) for w in words[1:4]]
    except ValueError:
        return False
    return True


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sniff window may cut a multi-byte character in half at its end.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
