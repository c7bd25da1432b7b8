"""The rig metrics give zero for a perfect rig and grow with real errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domain.rigging.loader import load_model
from domain.rigging.metrics import random_pose, skeleton_metrics, skin_metrics
from domain.rigging.model import Limits, Model, Skeleton


def test_identical_skeleton_scores_zero(synthetic: dict[str, Model]) -> None:
    m = synthetic["character"]
    assert m.skeleton is not None
    s = skeleton_metrics(m.skeleton, m.skeleton, m.mesh)
    assert s.j2j == 0.0 and s.j2b == 0.0 and s.b2b < 1e-9


def test_shifted_skeleton_scores_its_shift(synthetic: dict[str, Model]) -> None:
    m = synthetic["character"]
    assert m.skeleton is not None
    shift = np.array([0.05, 0.0, 0.0])
    moved = Skeleton(
        names=m.skeleton.names,
        parents=m.skeleton.parents,
        positions=[tuple(p) for p in (m.skeleton.array() + shift).tolist()],
    )
    s = skeleton_metrics(moved, m.skeleton, m.mesh)
    side = float(m.mesh.bbox_sides().max())
    # Joints at most 0.05 apart, and closer where a neighbouring joint is nearer than that.
    assert 0.0 < s.j2j <= 0.05 / side + 1e-9
    assert s.b2b <= s.j2j + 1e-9


def test_perfect_weights_have_no_error_and_wrong_ones_do(synthetic: dict[str, Model]) -> None:
    m = synthetic["tree"]
    assert m.skeleton is not None and m.weights is not None
    perfect = skin_metrics(m.weights, m.weights, m.skeleton, m.mesh)
    assert perfect.l1 < 1e-9 and perfect.deformation < 1e-9
    assert perfect.precision == 1.0 and perfect.recall == 1.0
    wrong = np.roll(m.weights, 1, axis=1)
    bad = skin_metrics(wrong, m.weights, m.skeleton, m.mesh)
    assert bad.l1 > 1.0 and bad.deformation > 0.01 and bad.recall < 0.5


def test_weight_on_another_limb_is_a_leak_and_on_a_neighbour_is_not(
    synthetic: dict[str, Model],
) -> None:
    m = synthetic["character"]
    assert m.skeleton is not None and m.weights is not None
    assert skin_metrics(m.weights, m.weights, m.skeleton, m.mesh).leak == 0.0
    names = m.skeleton.names
    parents = m.skeleton.parents
    # One wrist's weight moved wholly to the other wrist: every such vertex leaks.
    wrist_l, wrist_r = names.index("wrist_l"), names.index("wrist_r")
    crossed = m.weights.copy()
    moved = crossed[:, wrist_l] > 0.5
    crossed[:, wrist_r] += crossed[:, wrist_l]
    crossed[:, wrist_l] = 0.0
    share = moved.mean()
    leak = skin_metrics(crossed, m.weights, m.skeleton, m.mesh).leak
    assert share > 0.01 and leak >= 0.5 * share
    # Moved to its parent instead: a neighbour, no leak.
    to_parent = m.weights.copy()
    to_parent[:, parents[wrist_l]] += to_parent[:, wrist_l]
    to_parent[:, wrist_l] = 0.0
    assert skin_metrics(to_parent, m.weights, m.skeleton, m.mesh).leak == 0.0


def test_a_two_joint_rig_is_scored_with_no_leak(fixtures_dir: Path, limits: Limits) -> None:
    # The fewer the joints, the denser their graph, and scipy then takes another shortest-path
    # method, which refused the sparse format the bone graph came in.
    m = load_model(fixtures_dir / "RiggedSimple.gltf", limits)
    assert m.skeleton is not None and m.weights is not None and len(m.skeleton.names) == 2
    assert skin_metrics(m.weights[:, ::-1], m.weights, m.skeleton, m.mesh).leak == 0.0


def test_random_pose_keeps_the_root_joint_in_place(synthetic: dict[str, Model]) -> None:
    m = synthetic["character"]
    assert m.skeleton is not None
    tf = random_pose(m.skeleton, np.random.default_rng(1))
    root = m.skeleton.array()[0]
    assert np.allclose(tf[0, :3, :3] @ root + tf[0, :3, 3], root)
    assert not np.allclose(tf[5], np.eye(4))


def test_vertices_without_true_weights_are_not_scored(synthetic: dict[str, Model]) -> None:
    """A shipped file's NaN weights load as none: those vertices have nothing to score."""
    m = synthetic["character"]
    assert m.skeleton is not None and m.weights is not None
    truth = m.weights.copy()
    truth[:100] = 0.0
    wrong = np.roll(m.weights, 1, axis=1)
    pred = np.vstack([wrong[:100], m.weights[100:]])
    score = skin_metrics(pred, truth, m.skeleton, m.mesh)
    assert score.l1 < 1e-9 and score.deformation < 1e-9
    assert skin_metrics(wrong, truth, m.skeleton, m.mesh).l1 > 0.5
