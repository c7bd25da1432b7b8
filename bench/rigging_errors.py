"""Where a rig's error lies, model by model: `python -m bench.rigging_errors --gt DIR`.

`bench.rigging` says how far the rigger is from the artist; this says what that distance is
made of, so that the next change goes after the largest part of it. For every model, rigged
and skinned as `bench.rigging` does:

- `j2j` split into its two halves: `extra`, the mean distance from each joint we place to
  the nearest true joint (joints where the artist put none: a web over a hat, a hair lock),
  and `missed`, from each true joint to our nearest (joints we did not place); `inert` is
  the part of `missed` that true joints moving no vertex bring (IK and pole targets, a root
  on the ground), which no rigger is asked to place. `j2j` = (extra + missed) / 2.
- skin L1 split by the bones between the joint the artist gave a vertex most weight and
  the joint we did: `same` (the same joint, blended otherwise), `next` (a neighbour: the
  hand-over between two bones put elsewhere, or a plate given to the bone above instead of
  below), `two` bones apart, `far` (three or more: weight on another part). They sum to L1.
- skin L1 split by the mesh piece a vertex lies in: `body` (the piece holding over half the
  vertices, as the skinning's passes over loose pieces take it), a loose piece the artist
  bound whole to one joint (a plate, an eye, a helmet) that we gave mostly to another joint
  (`plate_joint`) or to that joint but blended (`plate_blend`), and a loose piece the
  artist blended (`blended`: a sleeve, a leg modelled apart). They sum to L1 too.
- the `--top` joints of ours farthest from every true joint, the `--top` true joints
  farthest from ours, and the `--top` (artist's joint -> ours) pairs that carry most of the
  model's L1.

`--model NAME` (repeatable) looks at those models only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import msgspec
import numpy as np

from bench.rigging import ground_truth, rig
from domain.rigging.geometry import pieces
from domain.rigging.metrics import deforming, hops, nearest_distances, scored_rows
from domain.rigging.model import FloatArray, IntArray, Mesh, Skeleton
from domain.rigging.skinning import weld_seams


class JointSplit(msgspec.Struct, frozen=True):
    """The two halves of J2J, over the largest bounding-box side (see the module doc)."""

    extra: float
    missed: float
    inert: float


def joint_split(
    pred: Skeleton, truth: Skeleton, truth_weights: FloatArray, mesh: Mesh
) -> JointSplit:
    """J2J's two halves, and the part of `missed` that joints deforming nothing bring."""
    scale = float(mesh.bbox_sides().max())
    extra = nearest_distances(pred.array(), truth.array())
    missed = nearest_distances(truth.array(), pred.array())
    inert = np.where(deforming(truth_weights), 0.0, missed)
    return JointSplit(
        extra=float(extra.mean()) / scale,
        missed=float(missed.mean()) / scale,
        inert=float(inert.mean()) / scale,
    )


def farthest(
    names: list[str], points: FloatArray, others: FloatArray, scale: float, top: int
) -> list[tuple[str, float]]:
    """The `top` points farthest from every one of `others`, by name, with that distance
    over `scale`."""
    d = nearest_distances(points, others) / scale
    return [(names[i], float(d[i])) for i in np.argsort(-d)[:top]]


HOP_BINS = ("same", "next", "two", "far")


def l1_by_hops(pred: FloatArray, truth: FloatArray, skel: Skeleton) -> FloatArray:
    """Skin L1 split by the bones between the artist's main joint and ours (`HOP_BINS`)."""
    _, pred, truth = scored_rows(pred, truth)
    l1 = np.abs(pred - truth).sum(axis=1)
    apart = hops(skel)[truth.argmax(axis=1), pred.argmax(axis=1)]
    bins = np.minimum(np.nan_to_num(apart, posinf=len(HOP_BINS)), len(HOP_BINS) - 1).astype(int)
    return np.bincount(bins, weights=l1, minlength=len(HOP_BINS)) / max(len(l1), 1)


PIECE_BINS = ("body", "plate_joint", "plate_blend", "blended")


def mesh_pieces(mesh: Mesh) -> IntArray:
    """Each vertex's piece, seams welded as the skinning welds them."""
    verts, faces, inverse = weld_seams(mesh)
    return pieces(len(verts), faces)[1][inverse]


def l1_by_pieces(pred: FloatArray, truth: FloatArray, piece: IntArray) -> FloatArray:
    """Skin L1 split by the kind of piece a vertex lies in (`PIECE_BINS`): `piece` is each
    vertex's piece (`mesh_pieces`); a plate is a piece whose every vertex the artist gave
    (at least 99% of its weight) to one and the same joint."""
    sizes = np.bincount(piece)
    scored, pred, truth = scored_rows(pred, truth)
    piece = piece[scored]
    l1 = np.abs(pred - truth).sum(axis=1)
    bins = np.full(len(l1), PIECE_BINS.index("blended"))
    for c in np.unique(piece):
        rows = piece == c
        main = truth[rows].argmax(axis=1)
        if 2 * sizes[c] > sizes.sum():
            bins[rows] = PIECE_BINS.index("body")
        elif (main == main[0]).all() and (truth[rows].max(axis=1) >= 0.99).all():
            ours = int(pred[rows].sum(axis=0).argmax())
            bins[rows] = PIECE_BINS.index("plate_blend" if ours == main[0] else "plate_joint")
    return np.bincount(bins, weights=l1, minlength=len(PIECE_BINS)) / max(len(l1), 1)


def confusions(pred: FloatArray, truth: FloatArray, top: int) -> list[tuple[int, int, float, int]]:
    """The `top` (artist's main joint, ours) pairs by their share of the L1, each with the
    number of vertices the artist gave that joint most weight."""
    _, pred, truth = scored_rows(pred, truth)
    l1 = np.abs(pred - truth).sum(axis=1)
    theirs, ours = truth.argmax(axis=1), pred.argmax(axis=1)
    n = truth.shape[1]
    share = np.bincount(theirs * n + ours, weights=l1, minlength=n * n) / max(l1.sum(), 1e-12)
    counts = np.bincount(theirs, minlength=n)
    best = [int(k) for k in np.argsort(-share)[:top] if share[k] > 0]
    return [(k // n, k % n, float(share[k]), int(counts[k // n])) for k in best]


def explain(
    name: str, mesh: Mesh, truth: Skeleton, true_weights: FloatArray, top: int
) -> list[float]:
    """Rig and skin one model as `bench.rigging` does, print where its error lies, and
    return its row (`extra`, `missed`, `inert`, then L1 by `HOP_BINS` and by `PIECE_BINS`)."""
    skel, weights, _ = rig(mesh, truth)
    s = joint_split(skel, truth, true_weights, mesh)
    k = l1_by_hops(weights, true_weights, truth)
    p = l1_by_pieces(weights, true_weights, mesh_pieces(mesh))
    print(
        f"{name:24s} j2j={(s.extra + s.missed) / 2:.4f} extra={s.extra:.4f} "
        f"missed={s.missed:.4f} inert={s.inert:.4f} skin_l1={k.sum():.3f} "
        + " ".join(f"{b}={v:.3f}" for b, v in zip(HOP_BINS, k, strict=True)),
        flush=True,
    )
    print("    pieces: " + " ".join(f"{b}={v:.3f}" for b, v in zip(PIECE_BINS, p, strict=True)))
    if top:
        scale = float(mesh.bbox_sides().max())
        moves = dict(zip(truth.names, deforming(true_weights), strict=True))
        ours = farthest(skel.names, skel.array(), truth.array(), scale, top)
        theirs = farthest(truth.names, truth.array(), skel.array(), scale, top)
        print("    extra:  " + ", ".join(f"{n} {d:.3f}" for n, d in ours))
        print(
            "    missed: "
            + ", ".join(f"{n} {d:.3f}{'' if moves[n] else '*'}" for n, d in theirs)
            + "  (* moves nothing)"
        )
    for a, b, share, count in confusions(weights, true_weights, top):
        print(f"    {share:5.3f} of L1: {truth.names[a]} ({count} vertices) -> {truth.names[b]}")
    return [s.extra, s.missed, s.inert, *k, *p]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gt", type=Path, action="append", required=True, help="folder of rigs")
    parser.add_argument("--model", action="append", default=[], help="only these files")
    parser.add_argument("--top", type=int, default=5, help="joints and pairs to list per model")
    args = parser.parse_args()
    for folder in args.gt:
        print(f"== {folder}", flush=True)
        rows = [
            explain(name, m.mesh, m.skeleton, m.weights, args.top)
            for name, m in ground_truth(folder)
            if (not args.model or name in args.model)
            and m.skeleton is not None
            and m.weights is not None
        ]
        if rows:
            m = np.mean(rows, axis=0)
            labels = ("extra", "missed", "inert", *HOP_BINS, *PIECE_BINS)
            print(
                f"mean ({folder}, {len(rows)} models) "
                + " ".join(f"{b}={v:.4f}" for b, v in zip(labels, m, strict=True))
            )


if __name__ == "__main__":
    main()
