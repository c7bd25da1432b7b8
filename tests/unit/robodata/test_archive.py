import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from domain.robodata.archive import ArchiveLimits, import_archive
from domain.robodata.error import InvalidArchiveError, NotADatasetError, UnsafeArchiveError
from domain.robodata.parser import parse_dataset


def _zip_dataset(source: Path, target: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                archive.write(path, f"{source.name}/{path.relative_to(source)}")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return target


def _tar_with(target: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(target, "w:gz") as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return target


def test_zip_of_a_dataset_unpacks_into_a_readable_dataset(v3_root: Path, tmp_path: Path) -> None:
    archive = _zip_dataset(v3_root, tmp_path / "ds.zip")

    root = import_archive(archive, tmp_path / "imported")

    assert root == tmp_path / "imported" / v3_root.name
    dataset = parse_dataset(root)
    assert dataset.warnings == [] and len(dataset.episodes) == 4


def test_tar_gz_of_a_dataset_unpacks(v21_root: Path, tmp_path: Path) -> None:
    archive = tmp_path / "ds.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(v21_root, arcname=".")

    root = import_archive(archive, tmp_path / "imported")

    assert root == tmp_path / "imported"
    assert len(parse_dataset(root).episodes) == 4


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil.txt", "a/../../evil.txt"])
def test_path_traversal_is_refused_and_nothing_is_left(
    v3_root: Path, tmp_path: Path, name: str
) -> None:
    archive = _zip_dataset(v3_root, tmp_path / "ds.zip", {name: b"x"})

    with pytest.raises(UnsafeArchiveError, match="outside the target folder"):
        import_archive(archive, tmp_path / "out" / "imported")

    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_links_out_of_the_folder_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("ds/meta/info.json")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
    archive = _tar_with(tmp_path / "x.tar.gz", [(link, None)])

    with pytest.raises(UnsafeArchiveError, match="outside the target folder"):
        import_archive(archive, tmp_path / "imported")
    assert not (tmp_path / "imported").exists()


def test_links_inside_the_folder_are_kept(v21_root: Path, tmp_path: Path) -> None:
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    for path in sorted(v21_root.rglob("*")):
        if path.is_file():
            info = tarfile.TarInfo(str(path.relative_to(v21_root)))
            data = path.read_bytes()
            info.size = len(data)
            members.append((info, data))
    link = tarfile.TarInfo("meta/info-copy.json")
    link.type, link.linkname = tarfile.SYMTYPE, "info.json"
    members.append((link, None))
    archive = _tar_with(tmp_path / "x.tar.gz", members)

    root = import_archive(archive, tmp_path / "imported")

    assert (root / "meta" / "info-copy.json").read_text() == (
        root / "meta" / "info.json"
    ).read_text()


def test_archive_bombs_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("ds/meta/info.json", b"{}")
        bomb.writestr("ds/data/zeros.bin", bytes(20 << 20))

    with pytest.raises(UnsafeArchiveError, match="expands"):
        import_archive(archive, tmp_path / "a", limits=ArchiveLimits(max_ratio=100))
    with pytest.raises(UnsafeArchiveError, match="expands to"):
        import_archive(archive, tmp_path / "b", limits=ArchiveLimits(max_total_bytes=1 << 20))
    with pytest.raises(UnsafeArchiveError, match="entries"):
        import_archive(archive, tmp_path / "c", limits=ArchiveLimits(max_files=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


def test_an_archive_without_a_dataset_is_not_imported(tmp_path: Path) -> None:
    archive = tmp_path / "notes.zip"
    with zipfile.ZipFile(archive, "w") as notes:
        notes.writestr("notes/readme.txt", b"hello")

    with pytest.raises(NotADatasetError, match="no LeRobot dataset"):
        import_archive(archive, tmp_path / "imported")
    assert not (tmp_path / "imported").exists()


def test_not_an_archive_and_existing_target_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 100)
    (tmp_path / "taken").mkdir()

    with pytest.raises(InvalidArchiveError, match="not a zip or tar"):
        import_archive(junk, tmp_path / "imported")
    with pytest.raises(UnsafeArchiveError, match="already exists"):
        import_archive(junk, tmp_path / "taken")


def test_duplicate_and_corrupt_entries_are_clear_errors(v21_root: Path, tmp_path: Path) -> None:
    duplicated = _zip_dataset(v21_root, tmp_path / "dup.zip", {"meta/x.json": b"1"})
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(duplicated, "a") as archive,
    ):
        archive.writestr(f"{v21_root.name}/meta/info.json", b"{}")
    corrupt = tmp_path / "corrupt.zip"
    data = bytearray(_zip_dataset(v21_root, tmp_path / "ok.zip").read_bytes())
    data[200:400] = bytes(200)
    corrupt.write_bytes(bytes(data))

    with pytest.raises(InvalidArchiveError, match=r"dup\.zip cannot be unpacked"):
        import_archive(duplicated, tmp_path / "a")
    with pytest.raises(InvalidArchiveError, match=r"corrupt\.zip cannot be unpacked"):
        import_archive(corrupt, tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
