"""What can go wrong with a blob, as exceptions of our own (no HTTP codes here)."""

from __future__ import annotations


class BlobError(Exception):
    """Base of every blob-store failure."""


class InvalidKey(BlobError):
    """The key is not a safe relative name (traversal, absolute, NUL, too long, ...)."""


class BlobNotFound(BlobError):
    """No object is stored under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no blob {key!r}")
        self.key = key


class KeyConflict(BlobError):
    """The key collides with another object's path (local backend: `a` vs `a/b`)."""


class BlobTooLarge(BlobError):
    """The upload went past its size limit and was aborted; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"upload exceeds the limit of {limit} bytes")
        self.limit = limit


class InvalidRange(BlobError):
    """The requested byte range starts at or past the end of the object."""

    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for an object of {size} bytes")
        self.size = size


class InvalidSignature(BlobError):
    """A signed URL was altered, signed for another key or method, or is malformed."""


class SignatureExpired(InvalidSignature):
    """A signed URL is past its expiry time."""


class BackendUnavailable(BlobError):
    """The storage backend could not be reached or answered with an unexpected error."""
