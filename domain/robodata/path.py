"""Resolving dataset-relative paths without letting them escape the dataset root."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from domain.robodata.error import PathNotFoundError, UnsafePathError


def inside(root: str | Path, relative: str) -> Path:
    """Join `relative` onto `root`, refusing absolute paths and anything resolving outside."""
    base = Path(root).resolve()
    if Path(relative).is_absolute():
        raise UnsafePathError(f"path {relative!r} must be relative to the dataset root")
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise UnsafePathError(f"path {relative!r} escapes the dataset root {base}")
    return target


def within_roots(roots: Sequence[str | Path], path: str) -> Path:
    """The real path a client names, which must lie inside one of `roots`.

    Symlinks are followed before the check, so a link pointing out of a root is refused like
    `..` is; a relative path is taken from each root in turn. Refused paths raise
    UnsafePathError whether or not they exist, so the answer tells nothing about outside.
    """
    if not path or "\x00" in path:
        raise UnsafePathError("path must be a non-empty string without NUL characters")
    bases = [Path(r).resolve() for r in roots]
    given = Path(path)
    candidates = [given] if given.is_absolute() else [b / given for b in bases]
    for candidate in candidates:
        try:
            target = candidate.resolve()
            inside_root = any(target == b or b in target.parents for b in bases)
            exists = inside_root and target.exists()
        except OSError as exc:  # a name too long, a loop of links: nothing there to use
            raise PathNotFoundError("Path not found") from exc
        if not inside_root:
            continue
        if not exists:
            raise PathNotFoundError("Path not found")
        return target
    raise UnsafePathError(f"path {path!r} is outside the dataset roots")
