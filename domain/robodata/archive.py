"""Unpack an uploaded dataset archive (zip or tar) safely into a target folder."""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

import msgspec

from domain.robodata.error import InvalidArchiveError, NotADatasetError, UnsafeArchiveError
from domain.robodata.parser import is_dataset_dir
from domain.robodata.scanner import STAGING_MARK

Progress = Callable[[float, str], None]
CHUNK = 1 << 20


class ArchiveLimits(msgspec.Struct, frozen=True):
    """How far an archive may expand before it is treated as a bomb."""

    max_total_bytes: int = 64 << 30
    max_files: int = 200_000
    max_ratio: float = 200.0


@dataclass
class _Member:
    name: str
    size: int
    compressed: int
    kind: str  # "file", "dir", "link" (symbolic) or "hardlink"
    link_target: str | None
    open: Callable[[], IO[bytes]]


def import_archive(
    archive: str | Path,
    target: str | Path,
    *,
    limits: ArchiveLimits | None = None,
    progress: Progress | None = None,
) -> Path:
    """Unpack `archive` into the new folder `target`; returns the dataset root inside it."""
    limits = limits or ArchiveLimits()
    source, destination = Path(archive), Path(target).resolve()
    if destination.exists():
        raise UnsafeArchiveError(f"{destination} already exists")
    staging = destination.with_name(f".{destination.name}{STAGING_MARK}{uuid.uuid4().hex}")
    staging.mkdir(parents=True)
    try:
        try:
            with _members(source) as members:
                _check(members, limits)
                _extract(members, staging, limits, progress)
        except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError) as exc:
            raise InvalidArchiveError(f"{source.name} cannot be unpacked: {exc}") from exc
        root = _dataset_root(staging)
        # Publish only a complete, checked tree, under the final name in one rename.
        os.rename(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination / root.relative_to(staging)


@contextmanager
def _members(path: Path) -> Iterator[list[_Member]]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = []
            for entry in archive.infolist():
                mode = entry.external_attr >> 16
                if stat.S_ISLNK(mode):
                    kind = "link"
                    target: str | None = archive.read(entry).decode("utf-8", "replace")
                else:
                    kind, target = ("dir" if entry.is_dir() else "file"), None
                members.append(
                    _Member(
                        entry.filename,
                        entry.file_size,
                        entry.compress_size,
                        kind,
                        target,
                        lambda entry=entry: archive.open(entry),  # type: ignore[misc]
                    )
                )
            yield members
        return
    try:
        archive_tar = tarfile.open(path)
    except (tarfile.TarError, OSError) as exc:
        raise InvalidArchiveError(f"{path.name} is not a zip or tar archive") from exc
    with archive_tar:
        members = []
        for info in archive_tar.getmembers():
            if info.isdir():
                kind, target = "dir", None
            elif info.isfile():
                kind, target = "file", None
            elif info.issym():
                kind, target = "link", info.linkname
            elif info.islnk():
                # A hard link names another member; it is resolved against the archive root.
                kind, target = "hardlink", info.linkname
            else:
                raise UnsafeArchiveError(f"{info.name}: devices and fifos are not allowed")

            def opener(info: tarfile.TarInfo = info) -> IO[bytes]:
                handle = archive_tar.extractfile(info)
                if handle is None:
                    raise UnsafeArchiveError(f"{info.name} cannot be read")
                return handle

            members.append(_Member(info.name, info.size, info.size, kind, target, opener))
        # A tar's compression is the whole stream's, so the ratio is judged on the file size.
        total = sum(m.size for m in members)
        for member in members:
            member.compressed = max(1, path.stat().st_size) * member.size // max(1, total)
        yield members


def _safe_name(name: str) -> PurePosixPath:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise UnsafeArchiveError(f"{name!r} would be written outside the target folder")
    return pure


def _check(members: list[_Member], limits: ArchiveLimits) -> None:
    if len(members) > limits.max_files:
        raise UnsafeArchiveError(f"archive holds {len(members)} entries (limit {limits.max_files})")
    total = sum(m.size for m in members if m.kind == "file")
    if total > limits.max_total_bytes:
        raise UnsafeArchiveError(
            f"archive expands to {total} bytes (limit {limits.max_total_bytes})"
        )
    compressed = sum(m.compressed for m in members if m.kind == "file")
    if total > CHUNK and total / max(1, compressed) > limits.max_ratio:
        raise UnsafeArchiveError(
            f"archive expands {total / max(1, compressed):.0f}x (limit {limits.max_ratio:.0f}x)"
        )
    for member in members:
        name = _safe_name(member.name)
        if member.kind in ("link", "hardlink"):
            base = PurePosixPath() if member.kind == "hardlink" else name.parent
            _safe_name(str(base / (member.link_target or "")))
            resolved = os.path.normpath(str(base / (member.link_target or "")))
            if member.link_target is None or resolved.startswith(".."):
                raise UnsafeArchiveError(f"{member.name} links outside the target folder")


def _extract(
    members: list[_Member], root: Path, limits: ArchiveLimits, progress: Progress | None
) -> None:
    written = 0
    files = [m for m in members if m.kind == "file"]
    for member in members:
        target = root / _safe_name(member.name)
        if member.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
    for number, member in enumerate(files, start=1):
        target = root / _safe_name(member.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        _refuse_link_parents(root, target)
        # Declared sizes can lie, so the limit is enforced on the bytes really written.
        with member.open() as source, target.open("xb") as sink:
            while block := source.read(CHUNK):
                written += len(block)
                if written > limits.max_total_bytes:
                    raise UnsafeArchiveError(
                        f"archive expands beyond {limits.max_total_bytes} bytes"
                    )
                sink.write(block)
        if progress and number % 50 == 0:
            progress(100.0 * number / len(files), f"unpacked {number}/{len(files)} files")
    for member in members:
        if member.kind == "link":
            target = root / _safe_name(member.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(member.link_target or "", target)
        elif member.kind == "hardlink":
            target = root / _safe_name(member.name)
            source_path = root / _safe_name(member.link_target or "")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source_path, target)
    if progress:
        progress(100.0, f"unpacked {len(files)} files")


def _refuse_link_parents(root: Path, target: Path) -> None:
    if not target.parent.resolve().is_relative_to(root.resolve()):
        raise UnsafeArchiveError(f"{target.relative_to(root)} would be written through a link")


def _dataset_root(root: Path) -> Path:
    if is_dataset_dir(root):
        return root
    children = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
    if len(children) == 1 and is_dataset_dir(children[0]):
        return children[0]
    raise NotADatasetError("the archive holds no LeRobot dataset (meta/info.json not found)")
