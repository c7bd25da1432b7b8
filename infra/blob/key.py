"""The one place blob keys are validated: `/`-separated relative names that cannot escape."""

from __future__ import annotations

from infra.blob.error import InvalidKey

MAX_KEY_BYTES = 1024  # the S3 limit; keeps every backend to the same rule
MAX_SEGMENT_BYTES = 255  # the usual file-name limit, so local paths stay openable


def validate_key(key: str) -> str:
    """Return `key` unchanged if it is a safe object name, else raise InvalidKey."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("key must be a non-empty string")
    _check_chars(key)
    if key.startswith("/"):
        raise InvalidKey(f"key must be relative, not absolute: {key!r}")
    for segment in key.split("/"):
        if segment == "":
            raise InvalidKey(f"key has an empty segment (leading, trailing or double '/'): {key!r}")
        if segment in (".", ".."):
            raise InvalidKey(f"key has a {segment!r} segment: {key!r}")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise InvalidKey(f"key segment longer than {MAX_SEGMENT_BYTES} bytes")
    return key


def validate_prefix(prefix: str) -> str:
    """Return `prefix` if it could begin a valid key ('' lists everything), else raise."""
    if prefix == "":
        return prefix
    # A prefix may end mid-segment ("runs/2024-") or at a separator ("runs/"), but what it
    # does contain must already be valid key material.
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def _check_chars(key: str) -> None:
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKey(f"key longer than {MAX_KEY_BYTES} bytes")
    if "\x00" in key:
        raise InvalidKey("key contains a NUL character")
    if "\\" in key:
        raise InvalidKey(f"key contains a backslash: {key!r}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        raise InvalidKey(f"key contains a control character: {key!r}")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidKey("key is not valid UTF-8 text") from exc
