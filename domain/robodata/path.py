"""Resolving dataset-relative paths without letting them escape the dataset root."""

from __future__ import annotations

from pathlib import Path

from domain.robodata.error import UnsafePathError


def inside(root: str | Path, relative: str) -> Path:
    """Join `relative` onto `root`, refusing absolute paths and anything resolving outside."""
    base = Path(root).resolve()
    if Path(relative).is_absolute():
        raise UnsafePathError(f"path {relative!r} must be relative to the dataset root")
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise UnsafePathError(f"path {relative!r} escapes the dataset root {base}")
    return target
