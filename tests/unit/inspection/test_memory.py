import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from domain.inspection.backbone import DINOV2, EFFICIENTNET_LITE0
from domain.inspection.error import ArtifactError
from domain.inspection.memory import MemoryBank


def _bank() -> MemoryBank:
    return MemoryBank(
        features=torch.randn(50, 152, generator=torch.Generator().manual_seed(0)),
        backbone=EFFICIENTNET_LITE0,
        token_shape=(14, 14),
        image_size=(224, 224),
        n_embeddings=1960,
        n_images=10,
        coreset_rate_requested=0.025,
        full=False,
    )


def test_artifact_round_trips_through_bytes_and_files(tmp_path: Path) -> None:
    bank = _bank()
    path = tmp_path / "memory.npz"
    bank.save(path)
    for loaded in (MemoryBank.from_bytes(bank.to_bytes()), MemoryBank.load(path)):
        assert torch.equal(loaded.features, bank.features)
        assert loaded.backbone == bank.backbone and loaded.token_shape == (14, 14)
        assert loaded.image_size == (224, 224) and loaded.n_images == 10
        assert loaded.coreset_rate_applied == pytest.approx(50 / 1960)
    assert [p.name for p in tmp_path.iterdir()] == ["memory.npz"]


def test_saving_over_an_artifact_replaces_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "memory.npz"
    _bank().save(path)
    bigger = _bank()
    bigger.features = torch.randn(80, 152)
    bigger.save(path)
    assert MemoryBank.load(path).coreset_size == 80


def test_mismatched_backbone_or_grid_is_refused() -> None:
    data = _bank().to_bytes()
    with pytest.raises(ArtifactError, match="fit the memory again"):
        MemoryBank.from_bytes(data, backbone=DINOV2)
    with pytest.raises(ArtifactError, match="token grid"):
        MemoryBank.from_bytes(data, backbone=EFFICIENTNET_LITE0, token_shape=(32, 32))
    assert MemoryBank.from_bytes(data, backbone=EFFICIENTNET_LITE0, token_shape=(14, 14))


def test_other_versions_and_garbage_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError):
        MemoryBank.from_bytes(b"definitely not an npz")
    with pytest.raises(ArtifactError, match="cannot read"):
        MemoryBank.load(tmp_path / "absent.npz")
    with np.load(io.BytesIO(_bank().to_bytes())) as npz:
        meta = json.loads(npz["meta"].tobytes())
        features = npz["features"]
    meta["version"] = 9
    future = tmp_path / "future.npz"
    np.savez(future, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), features=features)
    with pytest.raises(ArtifactError, match="version 9"):
        MemoryBank.load(future)
    corrupt = bytearray(_bank().to_bytes())
    corrupt[len(corrupt) // 2] ^= 0xFF
    with pytest.raises(ArtifactError):
        MemoryBank.from_bytes(bytes(corrupt))
    plain = tmp_path / "plain.npz"
    np.savez(plain, features=np.zeros((3, 3), dtype=np.float32))
    with pytest.raises(ArtifactError):
        MemoryBank.load(plain)
