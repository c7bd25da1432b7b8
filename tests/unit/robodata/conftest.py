"""Synthetic datasets built once per test session, copied where a test changes them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.robodata_factory import FRONT, DatasetSpec, write_dataset

NAME = "so101_follower_cleandesk_2000-01-01"


@pytest.fixture(scope="session")
def v3_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("v3") / NAME, DatasetSpec(version="v3.0"))


@pytest.fixture(scope="session")
def v21_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("v21") / NAME, DatasetSpec(version="v2.1"))


@pytest.fixture(scope="session")
def unaligned_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = DatasetSpec(keyframe_aligned=False, cameras={FRONT: "libx264"})
    return write_dataset(tmp_path_factory.mktemp("unaligned") / NAME, spec)


@pytest.fixture
def copy_of(tmp_path: Path) -> Callable[[Path], Path]:
    def copy(root: Path) -> Path:
        target = tmp_path / "copy" / root.name
        shutil.copytree(root, target, symlinks=True)
        return target

    return copy
