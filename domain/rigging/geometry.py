"""Array helpers shared by the loader, skeleton and skinning steps."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from domain.rigging.model import FloatArray, IntArray


def unit_box(points: FloatArray) -> tuple[FloatArray, float]:
    """The centre and the largest side of the points' box: p -> (p - centre) / side puts them
    in a unit box, where a model in millimetres and one in metres go through the same numbers.
    """
    lo, hi = points.min(axis=0), points.max(axis=0)
    return 0.5 * (lo + hi), float((hi - lo).max())


def unique_rows(rows: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Return (first index, inverse, count) of each distinct row, in lexicographic order.

    np.unique(axis=0) sorts a structured view and takes seconds on millions of rows; a
    lexsort of the columns gives the same groups an order of magnitude faster.
    """
    if len(rows) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    order = np.lexsort(rows.T[::-1])
    ranked = rows[order]
    starts = np.ones(len(ranked), dtype=bool)
    starts[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
    inverse = np.empty(len(rows), dtype=np.int64)
    inverse[order] = np.cumsum(starts) - 1
    begin = np.nonzero(starts)[0]
    counts = np.diff(np.append(begin, len(ranked)))
    return order[begin].astype(np.int64), inverse, counts.astype(np.int64)


def weld(
    verts: FloatArray, faces: IntArray, tolerance: float
) -> tuple[FloatArray, IntArray, IntArray]:
    """Merge vertices that round to the same point on a grid of `tolerance` x the largest
    box side (exporters split them on seams); return the merged vertices, the faces on them
    without the ones that collapsed, and each original vertex's merged index."""
    scale = float((verts.max(axis=0) - verts.min(axis=0)).max())
    key = np.round(verts / (scale * tolerance)).astype(np.int64)
    first, inverse, _ = unique_rows(key)
    inverse = inverse.reshape(-1)
    f = inverse[faces]
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    return verts[first], f, inverse


def pieces(n: int, faces: IntArray) -> tuple[int, IntArray]:
    """Return the number of separate pieces of a mesh of n vertices and each vertex's piece.

    A piece is a set of faces joined through shared vertices; weld seams first if split
    vertices should not cut a piece in two.
    """
    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    adjacency = sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)).tocsr()
    count, labels = connected_components(adjacency, directed=False)
    return int(count), np.asarray(labels, dtype=np.int64)


def surface_points(verts: FloatArray, faces: IntArray, step: float) -> Iterator[FloatArray]:
    """Points on every face, no farther than `step` apart along its longest edge (corners
    included; at most 64 steps a side), in batches of faces that take the same number."""
    tri = verts[faces]
    edge = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(axis=1)
    steps = np.clip(np.ceil(edge / step).astype(int), 1, 64)
    for n in np.unique(steps):
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        keep = (i + j) <= n
        u, w = i[keep] / n, j[keep] / n
        bary = np.stack([1 - u - w, u, w], axis=1)
        yield np.einsum("kb,tbd->tkd", bary, tri[steps == n]).reshape(-1, 3)


def sample_segments(heads: FloatArray, tails: FloatArray, step: float) -> FloatArray:
    """Points along each segment, ends included, no farther than `step` apart (two at least)."""
    out = [np.zeros((0, 3))]
    for h, t in zip(heads, tails, strict=True):
        n = max(2, int(np.ceil(np.linalg.norm(t - h) / step)) + 1)
        out.append(h + np.linspace(0.0, 1.0, n)[:, None] * (t - h))
    return np.vstack(out)
