"""Rig quality metrics as the field reports them: J2J/J2B/B2B Chamfer, skin L1, deformation."""

from __future__ import annotations

import msgspec
import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from domain.rigging.geometry import sample_segments
from domain.rigging.model import FloatArray, Mesh, Skeleton, parent_first


class SkeletonScore(msgspec.Struct, frozen=True):
    """Chamfer distances between two skeletons, divided by the largest bounding-box side."""

    j2j: float
    j2b: float
    b2b: float


class SkinScore(msgspec.Struct, frozen=True):
    """Skin weights against ground truth on the same skeleton.

    `leak` is the mean share of a vertex's weight on joints at least `LEAK_HOPS` bones away
    from every joint the truth weights it to: the left shin's weight on the right shin, one
    finger's on the next finger's tip.
    """

    precision: float
    recall: float
    l1: float
    deformation: float
    leak: float


# Two bones apart are still neighbours: a joint's grandparent, a limb root's sibling across
# the hips or the palm. From three on, weight there is weight on another part.
LEAK_HOPS = 3


def _point_segment(points: FloatArray, heads: FloatArray, tails: FloatArray) -> FloatArray:
    """Distance from every point to its nearest segment."""
    if len(heads) == 0:
        return np.full(len(points), np.inf)
    ab = tails - heads
    ap = points[:, None, :] - heads[None, :, :]
    denom = np.maximum((ab * ab).sum(axis=1), 1e-20)
    t = np.clip((ap * ab[None]).sum(axis=2) / denom[None], 0.0, 1.0)
    closest = heads[None] + t[..., None] * ab[None]
    return np.asarray(np.linalg.norm(points[:, None] - closest, axis=2).min(axis=1))


def nearest_distances(a: FloatArray, b: FloatArray) -> FloatArray:
    """Distance from each point of `a` to the nearest point of `b`."""
    d, _ = cKDTree(b).query(a)
    return np.asarray(d)


def _chamfer(a: FloatArray, b: FloatArray) -> float:
    return float(0.5 * (nearest_distances(a, b).mean() + nearest_distances(b, a).mean()))


def _bones_or_points(skel: Skeleton) -> tuple[FloatArray, FloatArray]:
    heads, tails = skel.bones()
    if len(heads):
        return heads, tails
    pos = skel.array()
    return pos, pos


def _sample_bones(heads: FloatArray, tails: FloatArray, step: float) -> FloatArray:
    return np.vstack([heads, tails, sample_segments(heads, tails, step)])


def skeleton_metrics(pred: Skeleton, truth: Skeleton, mesh: Mesh) -> SkeletonScore:
    """Score a predicted skeleton against the ground truth (J2J, J2B, B2B Chamfer)."""
    scale = float(mesh.bbox_sides().max())
    pj, tj = pred.array(), truth.array()
    ph, pt = _bones_or_points(pred)
    th, tt = _bones_or_points(truth)
    j2b = 0.5 * (_point_segment(pj, th, tt).mean() + _point_segment(tj, ph, pt).mean())
    step = scale / 200.0
    b2b = _chamfer(_sample_bones(ph, pt, step), _sample_bones(th, tt, step))
    return SkeletonScore(j2j=_chamfer(pj, tj) / scale, j2b=float(j2b) / scale, b2b=b2b / scale)


def deforming_j2j(
    pred: Skeleton, truth: Skeleton, weights: FloatArray, mesh: Mesh, threshold: float = 1e-4
) -> float:
    """J2J against only the true joints that move some vertex.

    Artists' rigs also hold controls that deform nothing: IK and pole targets that sit far
    outside the body, a root on the ground. No rigger is asked to place them, and sets
    built for learned riggers keep only the deforming joints, so this is the figure to
    compare with theirs; `skeleton_metrics` keeps every joint.
    """
    moves = deforming(weights, threshold)
    return _chamfer(pred.array(), truth.array()[moves]) / float(mesh.bbox_sides().max())


def deforming(weights: FloatArray, threshold: float = 1e-4) -> np.ndarray:
    """Which joints move some vertex."""
    return np.asarray((weights > threshold).any(axis=0))


def scored_rows(pred: FloatArray, truth: FloatArray) -> tuple[np.ndarray, FloatArray, FloatArray]:
    """The vertices the truth weights (`skin_metrics` leaves the rest out) and both weights'
    rows there, each summing to one."""
    scored = truth.sum(axis=1) > 0
    pred, truth = pred[scored], truth[scored]
    truth = truth / np.maximum(truth.sum(axis=1, keepdims=True), 1e-12)
    pred = pred / np.maximum(pred.sum(axis=1, keepdims=True), 1e-12)
    return scored, pred, truth


def random_pose(skel: Skeleton, rng: np.random.Generator, max_deg: float = 45.0) -> FloatArray:
    """Return per-joint world transforms (J, 4, 4) for random local rotations of +-max_deg."""
    pos = skel.array()
    angles = rng.uniform(-max_deg, max_deg, size=(len(pos), 3))
    rots = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    world = np.zeros((len(pos), 4, 4))
    order = parent_first(skel.parents)
    for j in order:
        local = np.eye(4)
        local[:3, :3] = rots[j]
        local[:3, 3] = pos[j] - rots[j] @ pos[j]
        p = skel.parents[j]
        world[j] = local if p < 0 else world[p] @ local
    return world


def deform(vertices: FloatArray, weights: FloatArray, transforms: FloatArray) -> FloatArray:
    """Linear blend skinning of vertices by dense weights and per-joint transforms."""
    homo = np.hstack([vertices, np.ones((len(vertices), 1))])
    blended = np.einsum("vj,jab->vab", weights, transforms)
    return np.asarray(np.einsum("vab,vb->va", blended, homo)[:, :3])


def skin_metrics(
    pred: FloatArray,
    truth: FloatArray,
    skel: Skeleton,
    mesh: Mesh,
    poses: int = 10,
    seed: int = 0,
    threshold: float = 1e-4,
) -> SkinScore:
    """Score predicted weights against ground truth on the same skeleton and mesh.

    A vertex with no true weight at all is left out: shipped files carry them (whole
    primitives of NaN weights, which the loader reads as none), and with no weight the truth
    would send the vertex to the origin, which no engine does.
    """
    scored, pred, truth = scored_rows(pred, truth)
    vertices = mesh.vertices[scored]
    p_set, t_set = pred > threshold, truth > threshold
    inter = (p_set & t_set).sum(axis=1)
    precision = float(np.mean(inter / np.maximum(p_set.sum(axis=1), 1)))
    recall = float(np.mean(inter / np.maximum(t_set.sum(axis=1), 1)))
    l1 = float(np.abs(pred - truth).sum(axis=1).mean())
    near = (t_set.astype(np.float64) @ (hops(skel) < LEAK_HOPS).astype(np.float64)) > 0
    leak = float(np.where(near, 0.0, pred).sum(axis=1).mean())
    diag = float(np.linalg.norm(mesh.bbox_sides()))
    rng = np.random.default_rng(seed)
    errs = []
    for _ in range(poses):
        tf = random_pose(skel, rng)
        a = deform(vertices, pred, tf)
        b = deform(vertices, truth, tf)
        errs.append(np.linalg.norm(a - b, axis=1).mean() / diag)
    return SkinScore(
        precision=precision, recall=recall, l1=l1, deformation=float(np.mean(errs)), leak=leak
    )


def hops(skel: Skeleton) -> np.ndarray:
    """(J, J) number of bones between every two joints (inf between separate trees)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import shortest_path

    n = len(skel.names)
    child = [i for i, p in enumerate(skel.parents) if p >= 0]
    parent = [skel.parents[i] for i in child]
    bones = coo_matrix((np.ones(len(child)), (child, parent)), shape=(n, n)).tocsr()
    return np.asarray(shortest_path(bones, directed=False, unweighted=True))
