"""The PatchCore memory bank and its versioned on-disk artifact."""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from domain.inspection.error import ArtifactError, GridMismatchError
from domain.inspection.neighbour import SearchMethod, faiss_index_for, nearest

ARTIFACT_FORMAT = "switchyard.inspection.memory"
ARTIFACT_VERSION = 1


@dataclass
class MemoryBank:
    """Coreset patch features of OK images for one backbone, token grid and ROI size."""

    features: torch.Tensor
    backbone: str
    token_shape: tuple[int, int]
    image_size: tuple[int, int]
    n_embeddings: int
    n_images: int
    coreset_rate_requested: float
    full: bool
    _sq_norm: torch.Tensor | None = field(default=None, repr=False)
    _faiss: Any = field(default=None, repr=False)

    @property
    def dim(self) -> int:
        """Width of one patch feature."""
        return int(self.features.shape[1])

    @property
    def coreset_size(self) -> int:
        """Number of patch features kept."""
        return int(self.features.shape[0])

    @property
    def coreset_rate_applied(self) -> float:
        """Kept features over all patch features seen by fit and updates."""
        return self.coreset_size / self.n_embeddings if self.n_embeddings else 0.0

    def to(self, device: torch.device) -> MemoryBank:
        """The same bank with its features on `device`."""
        if self.features.device == device:
            return self
        return MemoryBank(
            self.features.to(device),
            self.backbone,
            self.token_shape,
            self.image_size,
            self.n_embeddings,
            self.n_images,
            self.coreset_rate_requested,
            self.full,
        )

    def check_compatible(self, backbone: str, token_shape: tuple[int, int], dim: int) -> None:
        """Refuse features from another backbone or token grid than the bank was fitted on."""
        if backbone != self.backbone or dim != self.dim:
            raise GridMismatchError(
                f"memory was fitted with {self.backbone} ({self.dim}-d features), "
                f"not {backbone} ({dim}-d)"
            )
        if tuple(token_shape) != tuple(self.token_shape):
            raise GridMismatchError(
                f"token grid {list(token_shape)} does not match the memory's "
                f"{list(self.token_shape)} (ROI {self.image_size[1]}×{self.image_size[0]} px)"
            )

    def search(
        self, queries: torch.Tensor, k: int = 1, method: SearchMethod = "torch"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Distances and indices of each query's k nearest bank features (exact search)."""
        if method == "faiss":
            if self._faiss is None:
                self._faiss = faiss_index_for(self.features)
            return nearest(queries, self.features, k, method="faiss", faiss_index=self._faiss)
        if self._sq_norm is None:
            self._sq_norm = (self.features * self.features).sum(1)
        return nearest(queries, self.features, k, bank_sq_norm=self._sq_norm)

    def to_bytes(self) -> bytes:
        """Serialise to the versioned artifact format (an `.npz` with a JSON header, no pickle)."""
        meta = {
            "format": ARTIFACT_FORMAT,
            "version": ARTIFACT_VERSION,
            "backbone": self.backbone,
            "token_shape": list(self.token_shape),
            "image_size": list(self.image_size),
            "dim": self.dim,
            "n_embeddings": self.n_embeddings,
            "n_images": self.n_images,
            "coreset_rate_requested": self.coreset_rate_requested,
            "full": self.full,
        }
        buf = io.BytesIO()
        np.savez(
            buf,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            features=self.features.detach().cpu().numpy().astype(np.float32, copy=False),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        backbone: str | None = None,
        token_shape: tuple[int, int] | None = None,
        device: torch.device | None = None,
    ) -> MemoryBank:
        """Read an artifact; refuse it if it is for another backbone or token grid."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                meta = json.loads(npz["meta"].tobytes().decode())
                features = np.array(npz["features"], dtype=np.float32)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ArtifactError(f"not a memory bank artifact: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != ARTIFACT_FORMAT:
            raise ArtifactError("not a memory bank artifact")
        if meta.get("version") != ARTIFACT_VERSION:
            raise ArtifactError(
                f"memory bank artifact version {meta.get('version')} is not supported "
                f"(this engine reads version {ARTIFACT_VERSION}); fit the memory again"
            )
        try:
            bank = cls(
                torch.from_numpy(features),
                str(meta["backbone"]),
                (int(meta["token_shape"][0]), int(meta["token_shape"][1])),
                (int(meta["image_size"][0]), int(meta["image_size"][1])),
                int(meta["n_embeddings"]),
                int(meta["n_images"]),
                float(meta["coreset_rate_requested"]),
                bool(meta["full"]),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ArtifactError(f"memory bank artifact header is incomplete: {exc}") from exc
        if features.ndim != 2 or features.shape[1] != meta.get("dim") or not len(features):
            raise ArtifactError("memory bank artifact features do not match its header")
        if backbone is not None and backbone != bank.backbone:
            raise ArtifactError(
                f"memory bank was fitted with {bank.backbone}, but the engine runs {backbone}; "
                "fit the memory again with this backbone"
            )
        if token_shape is not None and tuple(token_shape) != bank.token_shape:
            raise ArtifactError(
                f"memory bank token grid {list(bank.token_shape)} does not match "
                f"{list(token_shape)}"
            )
        return bank.to(device) if device is not None else bank

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the artifact atomically, so a crash never leaves a half-written bank behind."""
        target = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(target))
        fd, tmp = tempfile.mkstemp(prefix=".memory-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.to_bytes())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        backbone: str | None = None,
        token_shape: tuple[int, int] | None = None,
        device: torch.device | None = None,
    ) -> MemoryBank:
        """Read an artifact file written by `save`."""
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise ArtifactError(f"cannot read memory bank {os.fspath(path)!r}: {exc}") from exc
        return cls.from_bytes(data, backbone=backbone, token_shape=token_shape, device=device)
