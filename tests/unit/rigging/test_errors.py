"""`bench.rigging_errors` splits a rig's error into parts that add up to the figures reported."""

from __future__ import annotations

import math

import numpy as np

from bench.rigging_errors import (
    HOP_BINS,
    PIECE_BINS,
    confusions,
    farthest,
    joint_split,
    l1_by_hops,
    l1_by_pieces,
    mesh_pieces,
)
from domain.rigging.metrics import skeleton_metrics, skin_metrics
from domain.rigging.model import Mesh, Skeleton
from domain.rigging.synthetic import character


def _with_joint(skel: Skeleton, name: str, parent: int, at: tuple[float, float, float]) -> Skeleton:
    return Skeleton(
        names=[*skel.names, name], parents=[*skel.parents, parent], positions=[*skel.positions, at]
    )


def test_the_halves_of_j2j_say_which_side_a_stray_joint_is_on() -> None:
    model = character(2)
    assert model.skeleton is not None and model.weights is not None
    truth, mesh = model.skeleton, model.mesh
    far = tuple(float(v) for v in mesh.vertices.max(axis=0) * 3.0)
    # A joint we place where the artist has none is `extra`; the truth misses nothing.
    ours = _with_joint(truth, "hat", 4, far)
    split = joint_split(ours, truth, model.weights, mesh)
    assert split.extra > 0 and split.missed == 0 and split.inert == 0
    assert math.isclose(
        (split.extra + split.missed) / 2, skeleton_metrics(ours, truth, mesh).j2j, rel_tol=1e-9
    )
    # ... and the joint to look at first.
    listed = farthest(ours.names, ours.array(), truth.array(), 1.0, 2)
    assert listed[0][0] == "hat" and listed[0][1] > 0 and listed[1][1] == 0
    # A pole target the artist placed and that moves no vertex is `missed`, all of it inert.
    poled = _with_joint(truth, "pole", 0, far)
    weights = np.hstack([model.weights, np.zeros((len(model.weights), 1))])
    split = joint_split(truth, poled, weights, mesh)
    assert split.extra == 0 and split.missed > 0 and math.isclose(split.inert, split.missed)
    # The same joint given weight deforms: it is missed, but not inert.
    weights[0, -1] = 0.5
    assert joint_split(truth, poled, weights, mesh).inert == 0


def test_skin_l1_splits_by_the_bones_between_the_artists_joint_and_ours() -> None:
    model = character(2)
    assert model.skeleton is not None and model.weights is not None
    skel, truth = model.skeleton, model.weights
    names = skel.names
    assert np.allclose(l1_by_hops(truth, truth, skel), 0.0)
    pred = truth.copy()
    on_knee = np.nonzero(truth.argmax(axis=1) == names.index("knee_l"))[0]
    on_elbow = np.nonzero(truth.argmax(axis=1) == names.index("elbow_r"))[0]
    assert len(on_knee) and len(on_elbow)
    pred[on_knee] = 0.0
    pred[on_knee, names.index("ankle_l")] = 1.0  # the next bone down the leg
    pred[on_elbow] = 0.0
    pred[on_elbow, names.index("knee_r")] = 1.0  # another limb
    split = dict(zip(HOP_BINS, l1_by_hops(pred, truth, skel), strict=True))
    assert split["next"] > 0 and split["far"] > 0 and split["two"] == 0
    assert math.isclose(
        sum(split.values()), skin_metrics(pred, truth, skel, model.mesh).l1, rel_tol=1e-9
    )
    pairs = confusions(pred, truth, 3)
    moved = {(names[a], names[b]) for a, b, _, _ in pairs[:2]}
    assert moved == {("knee_l", "ankle_l"), ("elbow_r", "knee_r")}
    assert all(n > 0 for *_, n in pairs) and sum(s for _, _, s, _ in pairs) <= 1.0 + 1e-9


def test_skin_l1_splits_by_the_kind_of_piece_a_vertex_lies_in() -> None:
    # Joints 0-2. Vertices 0-6 are the body (vertex 0 has no true weight and is left out, as
    # skin_metrics leaves it out), 7-8 a plate the artist bound to joint 2, 9-10 a loose piece
    # the artist blended, 11-12 one whose vertices the artist gave whole to two joints.
    piece = np.array([0] * 7 + [1, 1, 2, 2, 3, 3])
    truth = np.zeros((13, 3))
    truth[1:7] = [0.7, 0.3, 0.0]
    truth[7:9] = [0.0, 0.0, 1.0]
    truth[9:11] = [0.0, 0.5, 0.5]
    truth[11:13] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    assert np.allclose(l1_by_pieces(truth, truth, piece), 0.0)

    def split(pred: np.ndarray) -> dict[str, float]:
        return dict(zip(PIECE_BINS, l1_by_pieces(pred, truth, piece), strict=True))

    to_another = truth.copy()
    to_another[7:9] = [0.0, 1.0, 0.0]  # the plate given to the wrong joint, whole
    got = split(to_another)
    assert np.isclose(got["plate_joint"], 4 / 12)
    assert got["body"] == got["plate_blend"] == got["blended"] == 0
    blurred = truth.copy()
    blurred[7:9] = [0.0, 0.3, 0.7]  # the plate's own joint, but bent with its neighbour
    got = split(blurred)
    assert np.isclose(got["plate_blend"], 1.2 / 12) and got["plate_joint"] == 0
    moved = truth.copy()
    moved[1] = [0.0, 1.0, 0.0]
    moved[9] = [1.0, 0.0, 0.0]
    moved[11] = [0.0, 0.0, 1.0]
    got = split(moved)
    assert np.isclose(got["body"], 1.4 / 12) and np.isclose(got["blended"], 4 / 12)
    assert got["plate_joint"] == got["plate_blend"] == 0


def test_the_piece_split_adds_up_to_skin_l1_on_a_welded_mesh() -> None:
    # A quad whose two triangles an exporter split along the diagonal is one piece.
    quad = Mesh(
        vertices=np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 1, 0], [0, 1, 0.0]]),
        faces=np.array([[0, 1, 2], [3, 4, 5]]),
    )
    assert len(set(mesh_pieces(quad).tolist())) == 1
    model = character(2)
    assert model.skeleton is not None and model.weights is not None
    piece = mesh_pieces(model.mesh)
    assert len(set(piece.tolist())) == 18  # the capsules: no piece holds half the vertices
    pred = np.roll(model.weights, 1, axis=1)
    parts = l1_by_pieces(pred, model.weights, piece)
    assert parts[PIECE_BINS.index("body")] == 0
    assert math.isclose(
        parts.sum(), skin_metrics(pred, model.weights, model.skeleton, model.mesh).l1, rel_tol=1e-9
    )
