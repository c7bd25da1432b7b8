"""Data the rigging engine works on: mesh, skeleton, skin weights, limits and options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import numpy as np
from numpy.typing import NDArray

Progress = Callable[[float, str], None]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Size limits and the joint budget; the service passes its settings in here."""

    max_faces: int = 2_000_000
    max_vertices: int = 2_000_000
    max_file_bytes: int = 512 * 1024 * 1024
    joint_budget: int = 50


class Skeleton(msgspec.Struct, frozen=True):
    """A joint tree in bind pose: names, parent indices (-1 for a root) and positions in metres."""

    names: list[str]
    parents: list[int]
    positions: list[tuple[float, float, float]]

    def array(self) -> FloatArray:
        """Return the joint positions as an (J, 3) array."""
        return np.asarray(self.positions, dtype=np.float64).reshape(-1, 3)

    def turned(self, turn: FloatArray, offset: FloatArray | None = None) -> Skeleton:
        """The same joint tree with every position p taken to turn @ p (+ offset)."""
        pos = self.array() @ np.asarray(turn).T
        if offset is not None:
            pos = pos + np.asarray(offset)
        return Skeleton(
            names=self.names,
            parents=self.parents,
            positions=[(float(x), float(y), float(z)) for x, y, z in pos],
        )

    def children(self) -> dict[int, list[int]]:
        """Each joint that has children, and its children in index order."""
        out: dict[int, list[int]] = {}
        for c, p in enumerate(self.parents):
            if p >= 0:
                out.setdefault(p, []).append(c)
        return out

    def bones(self) -> tuple[FloatArray, FloatArray]:
        """Return (heads, tails) of every parent-to-child bone segment."""
        pos = self.array()
        kids = [i for i, p in enumerate(self.parents) if p >= 0]
        heads = pos[[self.parents[i] for i in kids]] if kids else np.zeros((0, 3))
        return heads.reshape(-1, 3), pos[kids].reshape(-1, 3)


def parent_first(parents: list[int]) -> list[int]:
    """An order of the joints in which every parent comes before its children."""
    order: list[int] = []
    placed = [False] * len(parents)
    for start in range(len(parents)):
        path = []
        j = start
        while j >= 0 and not placed[j]:
            path.append(j)
            j = parents[j]
        for k in reversed(path):
            placed[k] = True
            order.append(k)
    return order


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh in metres, Y-up."""

    vertices: FloatArray
    faces: IntArray

    def bbox_sides(self) -> FloatArray:
        """Return the bounding-box side lengths."""
        return np.asarray(self.vertices.max(axis=0) - self.vertices.min(axis=0), dtype=np.float64)


@dataclass(frozen=True)
class Model:
    """A loaded model: mesh, optional skeleton and optional dense (V, J) skin weights."""

    mesh: Mesh
    skeleton: Skeleton | None = None
    weights: FloatArray | None = None
    source_format: str = ""


class RigSummary(msgspec.Struct, frozen=True):
    """What a rigging job wrote, for the job result."""

    output_file: str
    format: str
    joints: int
    vertices: int
    faces: int
