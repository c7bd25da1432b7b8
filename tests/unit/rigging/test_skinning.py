"""Bone-heat skinning: valid weights everywhere, close to the known weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from domain.rigging.loader import load_model
from domain.rigging.metrics import skin_metrics
from domain.rigging.model import Limits, Mesh, Model, Skeleton
from domain.rigging.skeleton import about_up
from domain.rigging.skinning import (
    SkinOptions,
    body_grid,
    bone_segments,
    compute_weights,
    flesh_bones,
    level_controls,
)
from domain.rigging.synthetic import capsule, character, join


def assert_valid(weights: np.ndarray, n_vertices: int, n_joints: int) -> None:
    assert weights.shape == (n_vertices, n_joints)
    assert np.isfinite(weights).all() and (weights >= 0).all()
    assert np.allclose(weights.sum(axis=1), 1.0)
    assert ((weights > 0).sum(axis=1) <= 4).all()
    # Tiny weights are pruned.
    assert weights[weights > 0].min() >= 0.01


# The generated characters are overlapping capsules whose known weights blend across the
# capsules, as one organic skin would; real rigs bind separate pieces rigidly (the default),
# so these compare plain bone heat, without rigid pieces, against the blend.
BLENDED = SkinOptions(rigid_share=2.0)


@pytest.mark.parametrize(
    ("name", "max_l1"), [("character", 0.6), ("quadruped", 0.6), ("tree", 0.4), ("multipart", 0.3)]
)
def test_weights_close_to_known(synthetic: dict[str, Model], name: str, max_l1: float) -> None:
    model = synthetic[name]
    assert model.skeleton is not None and model.weights is not None
    weights = compute_weights(model.mesh, model.skeleton, BLENDED)
    assert_valid(weights, len(model.mesh.vertices), len(model.skeleton.names))
    score = skin_metrics(weights, model.weights, model.skeleton, model.mesh)
    assert score.l1 < max_l1 and score.deformation < 0.01 and score.recall > 0.8


def test_khronos_figure_arms_do_not_follow_each_other(fixtures_dir: Path, limits: Limits) -> None:
    model = load_model(fixtures_dir / "RiggedFigure.gltf", limits)
    assert model.skeleton is not None and model.weights is not None
    weights = compute_weights(model.mesh, model.skeleton)
    assert_valid(weights, len(model.mesh.vertices), len(model.skeleton.names))
    names = model.skeleton.names
    left = [names.index(n) for n in names if "_L_" in n]
    right = [names.index(n) for n in names if "_R_" in n]
    x = model.mesh.vertices[:, 0]
    assert weights[x > 0.2][:, right].sum() == 0.0
    assert weights[x < -0.2][:, left].sum() == 0.0
    assert skin_metrics(weights, model.weights, model.skeleton, model.mesh).deformation < 0.01


def test_a_character_turned_on_the_spot_gets_the_same_weights(
    synthetic: dict[str, Model],
) -> None:
    # Voxels and piece boxes are square to the axes. Unsquared, this character turned 25
    # degrees gets weights up to 0.1 apart; real many-piece creatures (Quaternius' bee and
    # pigeon) had whole pieces change bones, on a third and a tenth of their vertices.
    for name in ("character", "quadruped", "multipart"):
        model = synthetic[name]
        assert model.skeleton is not None
        facing = compute_weights(model.mesh, model.skeleton)
        turn = about_up(np.radians(25.0))
        turned = compute_weights(
            Mesh(vertices=model.mesh.vertices @ turn.T, faces=model.mesh.faces),
            model.skeleton.turned(turn),
        )
        assert np.abs(turned - facing).max() < 1e-3, name


def test_holes_and_loose_parts_are_all_weighted(synthetic: dict[str, Model]) -> None:
    model = synthetic["character"]
    assert model.skeleton is not None
    rng = np.random.default_rng(3)
    keep = rng.random(len(model.mesh.faces)) > 0.05
    # A loose triangle far outside the body sees no bone through the surface it floats over.
    far = np.array([[3.0, 3.0, 3.0], [3.1, 3.0, 3.0], [3.0, 3.1, 3.0]])
    mesh, _ = join([(model.mesh.vertices, model.mesh.faces[keep]), (far, np.array([[0, 1, 2]]))])
    weights = compute_weights(mesh, model.skeleton)
    assert_valid(weights, len(mesh.vertices), len(model.skeleton.names))


@pytest.mark.parametrize("seed", [0, 2])
def test_a_body_missing_faces_keeps_its_weights(synthetic: dict[str, Model], seed: int) -> None:
    # Holes that touch at a corner, left open, let the inside grid leak: bones then count as
    # running through the air and whole feet went to another bone.
    model = synthetic["quadruped"]
    assert model.skeleton is not None
    keep = np.random.default_rng(seed).random(len(model.mesh.faces)) > 0.05
    holed = Mesh(vertices=model.mesh.vertices, faces=model.mesh.faces[keep])
    closed = compute_weights(model.mesh, model.skeleton)
    weights = compute_weights(holed, model.skeleton)
    assert np.abs(weights - closed).sum(axis=1).max() < 1.0


def test_a_vertex_no_face_uses_changes_no_weight(synthetic: dict[str, Model]) -> None:
    model = synthetic["character"]
    assert model.skeleton is not None
    v = model.mesh.vertices
    stray = v.max(axis=0) + 10.0 * float(np.ptp(v, axis=0).max())
    mesh = Mesh(vertices=np.vstack([v, stray]), faces=model.mesh.faces)
    weights = compute_weights(mesh, model.skeleton)
    assert_valid(weights, len(v) + 1, len(model.skeleton.names))
    assert np.allclose(weights[: len(v)], compute_weights(model.mesh, model.skeleton))


@pytest.mark.parametrize("scale", [1e-6, 1e-9, 1e6])
def test_weights_do_not_depend_on_the_units(synthetic: dict[str, Model], scale: float) -> None:
    # Ray casts and ties had tolerances fit for metres: at a millionth of the size, some
    # vertices changed bones; at a billionth, weights moved by 0.14 a vertex (L1) on average.
    model = synthetic["quadruped"]
    assert model.skeleton is not None
    metres = compute_weights(model.mesh, model.skeleton)
    scaled = compute_weights(
        Mesh(vertices=model.mesh.vertices * scale, faces=model.mesh.faces),
        model.skeleton.turned(np.eye(3) * scale),
    )
    assert np.abs(scaled - metres).max() < 1e-6


def test_seam_split_vertices_get_identical_weights(synthetic: dict[str, Model]) -> None:
    model = synthetic["tree"]
    assert model.skeleton is not None
    v, f = model.mesh.vertices, model.mesh.faces.copy()
    # Split the first 200 vertices the way an exporter does on a UV seam.
    dup = np.arange(200)
    f[np.isin(f, dup) & (np.arange(len(f))[:, None] % 2 == 0)] += len(v)
    mesh = Mesh(vertices=np.vstack([v, v[dup]]), faces=f)
    weights = compute_weights(mesh, model.skeleton)
    assert np.allclose(weights[dup], weights[len(v) :])


def test_influence_limit_is_an_option(synthetic: dict[str, Model]) -> None:
    model = synthetic["character"]
    assert model.skeleton is not None
    weights = compute_weights(model.mesh, model.skeleton, SkinOptions(max_influences=2))
    assert ((weights > 0).sum(axis=1) <= 2).all() and np.allclose(weights.sum(axis=1), 1.0)


def test_very_large_mesh_is_solved_on_a_simplified_copy() -> None:
    model = character(8)
    assert model.skeleton is not None and model.weights is not None
    weights = compute_weights(
        model.mesh, model.skeleton, SkinOptions(max_solve_vertices=4000, rigid_share=2.0)
    )
    assert_valid(weights, len(model.mesh.vertices), len(model.skeleton.names))
    score = skin_metrics(weights, model.weights, model.skeleton, model.mesh, poses=3)
    assert score.deformation < 0.01 and score.l1 < 0.6


def test_bone_through_the_air_deforms_nothing(synthetic: dict[str, Model]) -> None:
    """A game rig's root on the ground between the feet must not pull the belly or thighs."""
    model = synthetic["character"]
    assert model.skeleton is not None
    skel = model.skeleton
    # The old root (-1) becomes the ground joint's child (0).
    ground = Skeleton(
        names=["ground", *skel.names],
        parents=[-1, *[p + 1 for p in skel.parents]],
        positions=[(0.0, 0.0, 0.0), *skel.positions],
    )
    weights = compute_weights(model.mesh, ground)
    assert_valid(weights, len(model.mesh.vertices), len(ground.names))
    assert weights[:, 0].max() == 0.0
    legacy = compute_weights(model.mesh, ground, SkinOptions(min_inside=0.0))
    assert legacy[:, 0].max() > 0.5


def test_crowded_joints_on_a_small_mesh_keep_four_influences() -> None:
    """Ten joints packed along a finger-sized tube: still four influences, normalised."""
    verts, faces = capsule(np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.1, 0.0]), 0.02, 3)
    skel = Skeleton(
        names=[f"j{i}" for i in range(10)],
        parents=[-1, *range(9)],
        positions=[(0.0, 0.01 * i, 0.0) for i in range(10)],
    )
    weights = compute_weights(Mesh(vertices=verts, faces=faces), skel)
    assert_valid(weights, len(verts), 10)
    # Neighbouring joints share, far ones do not: no vertex listens to both ends.
    assert not ((weights[:, 0] > 0) & (weights[:, 8] > 0)).any()


def test_end_bone_reaches_out_to_the_surface_of_its_part() -> None:
    """A head joint at the neck end of a long head owns the head out to the crown."""
    from domain.rigging.skinning import body_grid, reach_surface

    verts, faces = capsule(np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), 0.08, 4)
    inside = body_grid(verts, faces)
    heads = np.array([[0.0, 0.5, 0.0], [0.0, 0.5, 0.0]])
    stubs = np.array([[0.0, 0.6, 0.0], [0.05, 0.5, 0.0]])
    tails = reach_surface(inside, heads, stubs)
    # Along the part: out to the crown (the capsule ends at 1.08), not past it.
    assert 0.95 < tails[0, 1] < 1.1 and abs(tails[0, 0]) < 1e-9
    # Across it: stopped at the side wall, a quarter stub at least.
    assert 0.0125 <= tails[1, 0] < 0.1


def test_loose_rigid_pieces_follow_one_joint(synthetic: dict[str, Model]) -> None:
    """The lamp's separate links are bound whole to their own joint, as an artist binds them."""
    model = synthetic["multipart"]
    assert model.skeleton is not None and model.weights is not None
    weights = compute_weights(model.mesh, model.skeleton)
    assert_valid(weights, len(model.mesh.vertices), len(model.skeleton.names))
    assert ((weights > 0).sum(axis=1) == 1).all()
    assert np.array_equal(weights.argmax(axis=1), model.weights.argmax(axis=1))
    blended = compute_weights(model.mesh, model.skeleton, BLENDED)
    assert ((blended > 0).sum(axis=1) > 1).any()


def _leg() -> Mesh:
    verts, faces = capsule(np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), 0.08, 4)
    return Mesh(vertices=verts, faces=faces)


def test_shin_follows_the_leg_down_to_its_ik_control() -> None:
    """A leg chain ending at the knee, its foot control a separate root at the ankle: the
    shin between them moves with the leg, though the thigh points out of the leg's side.
    (The leg hangs from a pelvis: a tree of three joints or fewer is itself a control.)"""
    leg = _leg()
    skel = Skeleton(
        names=["pelvis", "hip", "knee", "ik_foot", "toe"],
        parents=[-1, 0, 1, -1, 3],
        positions=[
            (-0.15, 1.2, 0.0),
            (-0.15, 1.0, 0.0),
            (0.0, 0.6, 0.0),
            (0.0, 0.2, 0.0),
            (0.0, 0.05, 0.0),
        ],
    )
    y = leg.vertices[:, 1]
    shin = (y > 0.22) & (y < 0.4)
    weights = compute_weights(leg, skel)
    assert_valid(weights, len(y), 5)
    assert weights[shin, 2].mean() > 0.85
    unaimed = compute_weights(leg, skel, SkinOptions(aim_ends=False))
    assert unaimed[shin, 2].mean() < 0.6


def test_shins_follow_the_legs_down_to_controls_hung_from_a_ground_root() -> None:
    """Both feet's IK controls hang from a root on the ground that also carries the pelvis
    (as the Quaternius humanoids and the frog hang theirs): each is a control as a root of
    its own would be, and the shin above it moves with its leg."""
    parts = [
        capsule(np.array([x, 0.0, 0.0]), np.array([x, 1.0, 0.0]), 0.08, 4) for x in (0.3, -0.3)
    ]
    parts.append(capsule(np.array([-0.3, 1.0, 0.0]), np.array([0.3, 1.0, 0.0]), 0.1, 4))
    mesh, _ = join(parts)
    skel = Skeleton(
        names=["ground", "pelvis", "hip.L", "knee.L", "hip.R", "knee.R", "foot.L", "foot.R"],
        parents=[-1, 0, 1, 2, 1, 4, 0, 0],
        positions=[
            (0.0, 0.0, 0.0),
            (0.0, 1.0, 0.0),
            (0.15, 1.0, 0.0),
            (0.3, 0.6, 0.0),
            (-0.15, 1.0, 0.0),
            (-0.3, 0.6, 0.0),
            (0.3, 0.2, 0.0),
            (-0.3, 0.2, 0.0),
        ],
    )
    v = mesh.vertices
    weights = compute_weights(mesh, skel)
    assert_valid(weights, len(v), 8)
    unaimed = compute_weights(mesh, skel, SkinOptions(aim_ends=False))
    for side, knee in ((1.0, 3), (-1.0, 5)):
        shin = (v[:, 1] > 0.22) & (v[:, 1] < 0.4) & (np.sign(v[:, 0]) == side)
        assert weights[shin, knee].mean() > 0.7
        assert unaimed[shin, knee].mean() < 0.45


def test_a_leg_folded_back_past_a_right_angle_still_reaches_its_control() -> None:
    """A mech's or a frog's leg: the thigh runs down and forward, the shin folds back down
    at 109 degrees to the foot's control. The knee's end bone still runs to the control,
    down the shin, not on out of the knee's front."""
    thigh = capsule(np.array([0.0, 1.0, 0.0]), np.array([0.3, 0.7, 0.0]), 0.08, 4)
    shin = capsule(np.array([0.3, 0.7, 0.0]), np.array([0.0, 0.55, 0.0]), 0.08, 4)
    mesh, starts = join([thigh, shin])
    skel = Skeleton(
        names=["pelvis", "hip", "knee", "ik_foot"],
        parents=[-1, 0, 1, -1],
        positions=[(0.0, 1.1, 0.0), (0.0, 1.0, 0.0), (0.3, 0.7, 0.0), (0.0, 0.55, 0.0)],
    )
    v = mesh.vertices
    mid_shin = (np.arange(len(v)) >= starts[1]) & (np.abs(v[:, 0] - 0.15) < 0.08)
    weights = compute_weights(mesh, skel)
    assert_valid(weights, len(v), 4)
    assert weights[mid_shin, 2].mean() > 0.8
    unaimed = compute_weights(mesh, skel, SkinOptions(aim_ends=False))
    assert unaimed[mid_shin, 2].mean() < 0.1


def test_a_torso_end_does_not_turn_down_a_leg_to_its_foot_control() -> None:
    """A rat's torso joint, hung off its hips and pointing forward; behind and below it, a
    thick haunch runs down to a foot's control that lies within reach of the torso's end
    and straight through the flesh from it. The control ends the leg whose knee is nearest
    it: the torso's bone stays in the body and the leg stays the leg's."""
    body = capsule(np.array([0.0, 1.0, -1.0]), np.array([0.0, 1.0, 1.0]), 0.3, 6)
    leg = capsule(np.array([0.0, 1.0, -0.4]), np.array([0.0, 0.1, -0.7]), 0.15, 4)
    mesh, starts = join([body, leg])
    skel = Skeleton(
        names=["hips", "torso", "hip", "knee", "ik_foot"],
        parents=[-1, 0, 0, 2, -1],
        positions=[
            (0.0, 1.0, -0.8),
            (0.0, 1.0, -0.4),
            (0.0, 0.95, -0.45),
            (0.0, 0.5, -0.55),
            (0.0, 0.1, -0.7),
        ],
    )
    v = mesh.vertices
    low_leg = (np.arange(len(v)) >= starts[1]) & (v[:, 1] < 0.5)
    weights = compute_weights(mesh, skel)
    assert_valid(weights, len(v), 5)
    assert weights[low_leg, 1].mean() < 0.05 and weights[low_leg, 3].mean() > 0.7


def test_a_control_on_the_chain_end_takes_the_end_part() -> None:
    """A mech's foot control sits on the leg chain's last joint: the foot is bound to it."""
    leg = _leg()
    skel = Skeleton(
        names=["hip", "knee", "ankle", "foot"],
        parents=[-1, 0, 1, -1],
        positions=[(0.0, 1.0, 0.0), (0.0, 0.6, 0.0), (0.0, 0.25, 0.0), (0.0, 0.25, 0.0)],
    )
    foot = leg.vertices[:, 1] < 0.15
    weights = compute_weights(leg, skel)
    assert_valid(weights, len(leg.vertices), 4)
    assert weights[foot, 3].mean() > 0.9 and weights[foot, 2].max() == 0.0
    unaimed = compute_weights(leg, skel, SkinOptions(aim_ends=False))
    assert unaimed[foot, 3].max() == 0.0


def test_a_foot_control_under_a_ground_root_points_along_the_foot() -> None:
    """A foot's IK control hangs from a root on the ground ahead of the character: the
    root's offset runs back through the heel, the foot runs forward; the control takes the
    forefoot whole."""
    leg_v, leg_f = capsule(np.array([0.0, 0.2, 0.0]), np.array([0.0, 1.0, 0.0]), 0.08, 4)
    foot_v, foot_f = capsule(np.array([0.0, 0.1, 0.0]), np.array([0.6, 0.1, 0.0]), 0.1, 4)
    mesh, _ = join([(leg_v, leg_f), (foot_v, foot_f)])
    skel = Skeleton(
        names=["ground", "hip", "knee", "ankle", "ik_foot"],
        parents=[-1, 0, 1, 2, 0],
        positions=[
            (1.2, 0.0, 0.0),
            (0.0, 1.0, 0.0),
            (0.0, 0.6, 0.0),
            (-0.02, 0.22, 0.0),
            (-0.02, 0.05, 0.0),
        ],
    )
    heads, tails, owner, end = bone_segments(skel)
    inside = body_grid(mesh.vertices, mesh.faces)
    levelled = level_controls(skel, mesh.vertices, heads, tails, owner, end, inside)
    b = int(np.nonzero(owner == 4)[0][0])
    old_way, new_way = tails[b] - heads[b], levelled[b] - heads[b]
    assert old_way[0] < 0 < new_way[0] and new_way[1] == 0.0
    # Only that segment turns: the ankle's own end carries on down the shin.
    assert np.array_equal(np.delete(levelled, b, axis=0), np.delete(tails, b, axis=0))
    forefoot = mesh.vertices[:, 0] > 0.35
    weights = compute_weights(mesh, skel, BLENDED)
    assert_valid(weights, len(mesh.vertices), 5)
    assert weights[forefoot, 4].min() > 0.99
    unlevelled = compute_weights(mesh, skel, SkinOptions(rigid_share=2.0, level_controls=False))
    assert unlevelled[forefoot, 4].mean() < 0.95


def test_a_head_rigged_apart_is_no_control_for_the_mouth() -> None:
    """A round creature: a body root in the ball with a mouth leaf, and the head a tree of
    its own (a column up the ball, with a brow). The mouth's end bone is not aimed up
    through the ball at the brow, as at a foot's IK control: the face between the mouth and
    the brow moves with the head, not with the mouth."""
    centre = np.array([0.0, 0.7, 0.0])
    tilt = np.array([0.0, 0.01, 0.0])
    ball = Mesh(*capsule(centre - tilt, centre + tilt, 0.5, 8))
    skel = Skeleton(
        names=["body", "mouth", "head", "head2", "head3", "brow"],
        parents=[-1, 0, -1, 2, 3, 3],
        positions=[
            (0.0, 0.25, 0.0),
            (0.0, 0.4, 0.3),
            (0.0, 0.4, 0.0),
            (0.0, 0.75, 0.0),
            (0.0, 1.05, 0.0),
            (0.0, 0.95, 0.3),
        ],
    )
    v = ball.vertices
    face = (v[:, 1] > 0.65) & (v[:, 1] < 0.9) & (v[:, 2] > 0.25)
    weights = compute_weights(ball, skel)
    assert_valid(weights, len(v), 6)
    assert weights[face, 1].mean() < 0.4
    assert weights[face][:, 2:].sum(axis=1).mean() > 0.6


def test_a_hub_joint_leaves_the_limb_roots_to_the_limbs() -> None:
    """A joint with four limbs hung on it owns the middle, not half of every limb."""
    parts = [
        capsule(np.zeros(3), np.array(tip, dtype=np.float64), 0.1, 4)
        for tip in [(1.0, 0, 0), (-1.0, 0, 0), (0, 0, 1.0), (0, 0, -1.0)]
    ]
    mesh, _ = join(parts)
    verts = mesh.vertices
    tips = [(1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 0.0, -1.0)]
    skel = Skeleton(
        names=["hub", *[f"limb{i}" for i in range(4)], *[f"tip{i}" for i in range(4)]],
        parents=[-1, 0, 0, 0, 0, 1, 2, 3, 4],
        positions=[(0.0, 0.0, 0.0), *[(0.4 * x, y, 0.4 * z) for x, y, z in tips], *tips],
    )
    r = np.linalg.norm(verts[:, [0, 2]], axis=1)
    root = (r > 0.3) & (r < 0.4)
    weights = compute_weights(mesh, skel, BLENDED)
    assert_valid(weights, len(verts), 9)
    assert weights[root, 0].mean() < 0.4
    whole = compute_weights(mesh, skel, SkinOptions(rigid_share=2.0, hub_reach=1.0))
    assert whole[root, 0].mean() > 0.7


def test_an_end_joint_just_off_a_thin_part_still_moves_it() -> None:
    """A wing's joint that sits in the gap at the wing's root (off the coarse grid's solid
    voxels) is no bone through the air: the wing follows it, not the body."""
    body_v, body_f = capsule(np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), 0.1, 4)
    wing_v, wing_f = capsule(np.array([0.2, 0.5, 0.0]), np.array([0.6, 0.5, 0.0]), 0.01, 4)
    mesh, starts = join([(body_v, body_f), (wing_v, wing_f)])
    skel = Skeleton(
        names=["root", "neck", "wing"],
        parents=[-1, 0, 1],
        positions=[(0.0, 0.1, 0.0), (0.0, 0.8, 0.0), (0.175, 0.505, 0.0)],
    )
    wing = np.arange(starts[1], len(mesh.vertices))
    weights = compute_weights(mesh, skel)
    assert_valid(weights, len(mesh.vertices), 3)
    assert weights[wing, 2].mean() > 0.9
    legacy = compute_weights(mesh, skel, SkinOptions(near_margin=0))
    assert legacy[wing, 2].max() == 0.0


def test_an_end_pointing_along_the_body_stops_before_other_bones() -> None:
    """A rat's torso joint hangs off its hips and points forward: its reach ends before the
    shoulders, and the neck is left to the neck."""
    verts, faces = capsule(np.array([0.0, 0.0, -1.5]), np.array([0.0, 0.0, 1.5]), 0.35, 4)
    mesh = Mesh(vertices=verts, faces=faces)
    skel = Skeleton(
        names=["body", "hips", "torso", "shoulders", "neck", "head"],
        parents=[-1, 0, 1, 0, 3, 4],
        positions=[
            (0.0, 0.0, 0.0),
            (0.0, 0.1, -1.0),
            (0.0, 0.1, -0.5),
            (0.0, -0.05, 0.3),
            (0.0, -0.05, 0.8),
            (0.0, -0.05, 1.3),
        ],
    )
    neck = (verts[:, 2] > 0.3) & (verts[:, 2] < 1.0)
    weights = compute_weights(mesh, skel)
    assert_valid(weights, len(verts), 6)
    assert weights[neck, 2].mean() < 0.05
    unstopped = compute_weights(mesh, skel, SkinOptions(stop_near=0.0))
    assert unstopped[neck, 2].mean() > 0.3


def test_a_ground_root_beside_a_big_foot_deforms_nothing() -> None:
    """A root on the ground just off a big foot: most of its way to the foot's joint runs
    through the foot, but a joint off the body is no bone of it."""
    leg_v, leg_f = capsule(np.array([0.0, 0.1, 0.0]), np.array([0.0, 1.0, 0.0]), 0.08, 4)
    foot_v, foot_f = capsule(np.array([-0.2, 0.1, 0.0]), np.array([0.6, 0.1, 0.0]), 0.1, 4)
    mesh, _ = join([(leg_v, leg_f), (foot_v, foot_f)])
    skel = Skeleton(
        names=["ground", "foot", "toe", "hip", "knee"],
        parents=[-1, 0, 1, 0, 3],
        positions=[
            (-0.35, 0.05, 0.0),
            (0.0, 0.1, 0.0),
            (0.5, 0.1, 0.0),
            (0.0, 1.0, 0.0),
            (0.0, 0.5, 0.0),
        ],
    )
    weights = compute_weights(mesh, skel, BLENDED)
    assert_valid(weights, len(mesh.vertices), 5)
    assert weights[:, 0].max() == 0.0
    legacy = compute_weights(mesh, skel, SkinOptions(rigid_share=2.0, drop_off_body=False))
    assert legacy[:, 0].max() > 0.5


def test_a_joint_near_the_body_is_near_wherever_the_grid_falls() -> None:
    """A joint just off a thin part is near the body, or not, by its distance to the surface
    (1.5 voxels), not by where the voxel walls fall: a small plate below the body moves the
    grid against it a ninth of a voxel at a time."""
    from domain.rigging.skinning import body_grids

    body = capsule(np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), 0.1, 6)
    for k, expected in ((1.3, True), (1.6, False)):
        seen = set()
        for shift in np.linspace(0.0, 0.03, 9):
            y = -0.4 - shift
            plate = np.array([[-0.02, y, -0.02], [0.02, y, -0.02], [0.0, y, 0.02]])
            mesh, _ = join([body, (plate, np.array([[0, 1, 2]]))])
            pitch = float(np.ptp(mesh.vertices, axis=0).max()) / 64
            _, near = body_grids(mesh.vertices, mesh.faces)
            seen.add(bool(near(np.array([[0.1 + k * pitch, 0.5, 0.0]]))[0]))
        assert seen == {expected}, k


def test_a_ground_root_between_the_shoes_deforms_nothing() -> None:
    """A root on the ground between two legs, within a voxel of them: its bones to the hips
    run up the inner legs, but a root must lie in the body to be a bone of it."""
    from domain.rigging.skinning import body_grids

    left = capsule(np.array([-0.1, 0.05, 0.0]), np.array([-0.1, 1.0, 0.0]), 0.09, 4)
    right = capsule(np.array([0.1, 0.05, 0.0]), np.array([0.1, 1.0, 0.0]), 0.09, 4)
    mesh, _ = join([left, right])
    skel = Skeleton(
        names=["ground", "hip.L", "knee.L", "hip.R", "knee.R"],
        parents=[-1, 0, 1, 0, 3],
        positions=[
            (0.0, 0.0, 0.0),
            (-0.1, 1.0, 0.0),
            (-0.1, 0.5, 0.0),
            (0.1, 1.0, 0.0),
            (0.1, 0.5, 0.0),
        ],
    )
    inside, near = body_grids(mesh.vertices, mesh.faces)
    ground = np.zeros((1, 3))
    assert near(ground).all() and not inside(ground).any()
    weights = compute_weights(mesh, skel)
    assert_valid(weights, len(mesh.vertices), 5)
    assert weights[:, 0].max() == 0.0
    legacy = compute_weights(mesh, skel, SkinOptions(drop_off_body=False))
    assert legacy[:, 0].max() > 0.5


def test_a_shoe_goes_to_the_foot_joint_inside_it() -> None:
    """A separate shoe round a foot joint at the sole: the shin's bone ends in it and lends
    it half its heat, but the shoe moves with the foot, as the artist bound it."""
    leg_v, leg_f = capsule(np.array([0.0, 0.12, 0.0]), np.array([0.0, 1.0, 0.0]), 0.06, 4)
    shoe_v, shoe_f = capsule(np.array([0.0, 0.05, -0.02]), np.array([0.0, 0.05, 0.3]), 0.06, 4)
    mesh, starts = join([(leg_v, leg_f), (shoe_v, shoe_f)])
    skel = Skeleton(
        names=["hip", "knee", "foot"],
        parents=[-1, 0, 1],
        positions=[(0.0, 1.0, 0.0), (0.0, 0.55, 0.0), (0.0, 0.0, 0.0)],
    )
    shoe = np.arange(starts[1], len(mesh.vertices))
    weights = compute_weights(mesh, skel)
    assert_valid(weights, len(mesh.vertices), 3)
    assert (weights[shoe, 2] == 1.0).all()
    by_heat = compute_weights(mesh, skel, SkinOptions(end_piece_share=2.0))
    assert (by_heat[shoe, 1] == 1.0).all()


def test_a_bolt_on_a_big_head_moves_with_the_head() -> None:
    """A bolt on the side of a big head is far from the head's bone and near the arm's; it
    is glued to the head, not carried off by the arm."""
    parts = [
        capsule(np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), 0.2, 4),  # body
        capsule(np.array([0.0, 1.4, 0.0]), np.array([0.0, 1.6, 0.0]), 0.5, 4),  # head
        capsule(np.array([0.2, 0.9, 0.0]), np.array([1.2, 0.9, 0.0]), 0.08, 4),  # arm
        capsule(np.array([0.49, 1.25, 0.0]), np.array([0.53, 1.25, 0.0]), 0.05, 3),  # bolt
    ]
    mesh, offsets = join(parts)
    skel = Skeleton(
        names=["root", "neck", "head", "shoulder", "elbow", "hand"],
        parents=[-1, 0, 1, 0, 3, 4],
        positions=[
            (0.0, 0.3, 0.0),
            (0.0, 0.9, 0.0),
            (0.0, 1.2, 0.0),
            (0.15, 0.9, 0.0),
            (0.6, 0.9, 0.0),
            (1.1, 0.9, 0.0),
        ],
    )
    bolt = np.arange(offsets[3], len(mesh.vertices))
    weights = compute_weights(mesh, skel)
    assert_valid(weights, len(mesh.vertices), 6)
    assert (weights[bolt, 2] == 1.0).all()
    unglued = compute_weights(mesh, skel, SkinOptions(glue_ratio=0.0))
    assert unglued[bolt, 2].max() == 0.0


def test_a_shell_over_the_foot_moves_with_the_foot_it_covers() -> None:
    """A mech's foot: a small foot piece round the foot joint and a big shell over it, the
    shin's bone ending inside the shell and the foot joint just below it. Nearest-bone heat
    gives the shell wholly to the shin; the pieces it covers follow the foot, and so does it."""
    parts = [
        capsule(np.array([0.0, 1.0, -0.3]), np.array([0.0, 0.55, -0.3]), 0.06, 4),  # thigh
        capsule(np.array([0.0, 0.55, -0.3]), np.array([0.0, 0.3, -0.15]), 0.06, 4),  # shin
        capsule(np.array([0.0, 0.06, -0.05]), np.array([0.0, 0.06, 0.3]), 0.045, 4),  # foot
        capsule(np.array([0.0, 0.16, 0.0]), np.array([0.0, 0.16, 0.25]), 0.1, 4),  # shell
    ]
    mesh, offsets = join(parts)
    skel = Skeleton(
        names=["hip", "knee", "foot"],
        parents=[-1, 0, 1],
        positions=[(0.0, 1.0, -0.3), (0.0, 0.55, -0.3), (0.0, 0.04, 0.0)],
    )
    foot = np.arange(offsets[2], offsets[3])
    shell = np.arange(offsets[3], len(mesh.vertices))
    weights = compute_weights(mesh, skel)
    assert_valid(weights, len(mesh.vertices), 3)
    assert (weights[foot, 2] == 1.0).all()
    assert (weights[shell, 2] == 1.0).all()
    by_heat = compute_weights(mesh, skel, SkinOptions(enclosed_share=2.0))
    assert (by_heat[shell, 1] == 1.0).all()


def test_a_hand_beside_the_body_does_not_pull_its_side() -> None:
    """An arm held close to the body: the hand's bone, out past the fingertips, is the
    nearest bone the body's side sees across the air, but far the way through the body."""
    body = capsule(np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), 0.2, 6)
    arm = capsule(np.array([0.75, 0.5, 0.0]), np.array([0.4, 0.5, 0.0]), 0.1, 3)
    mesh, starts = join([body, arm])
    skel = Skeleton(
        names=["hips", "spine", "arm", "hand"],
        parents=[-1, 0, 0, 2],
        positions=[(0.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.7, 0.5, 0.0), (0.32, 0.5, 0.0)],
    )
    on_body = np.arange(len(mesh.vertices)) < starts[1]
    weights = compute_weights(mesh, skel)
    assert_valid(weights, len(mesh.vertices), 4)
    assert weights[on_body][:, 2:].max() == 0.0
    assert weights[~on_body][:, :2].max() == 0.0
    # Nearest visible bone alone: the side facing the hand follows the hand.
    leaky = compute_weights(mesh, skel, SkinOptions(gap_ratio=0.0))
    assert (leaky[on_body][:, 2:].sum(axis=1) > 0.5).sum() > 20


@pytest.mark.parametrize("max_voxels", [100_000, 3_000])
def test_ways_through_the_body_go_round(max_voxels: int) -> None:
    """Two arms of a U side by side: near across the gap, far the way round, on the grid
    asked for and on the coarser one a bulky body falls back to."""
    from domain.rigging.skinning import BodyPaths, segment_distances

    left = capsule(np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), 0.1, 4)
    right = capsule(np.array([0.3, 0.0, 0.0]), np.array([0.3, 1.0, 0.0]), 0.1, 4)
    base = capsule(np.array([0.0, 0.0, 0.0]), np.array([0.3, 0.0, 0.0]), 0.1, 4)
    mesh, _ = join([left, right, base])
    heads = np.array([[0.0, 0.5, 0.0], [0.3, 0.5, 0.0]])
    tails = np.array([[0.0, 1.0, 0.0], [0.3, 1.0, 0.0]])
    closed = (mesh.vertices, mesh.faces)
    paths = BodyPaths(mesh.vertices, closed, heads, tails, np.array([0, 1]), 3, 64, max_voxels)
    straight, _ = segment_distances(mesh.vertices, heads, tails)
    tip = int(np.argmin(np.linalg.norm(mesh.vertices - [0.0, 1.1, 0.0], axis=1)))  # left top
    to_left, to_right = paths.from_joint(0), paths.from_joint(1)
    # To its own bone the way through is the straight way; to the other arm's bone it runs
    # down the arm (0.6 from the tip to the bottom of the bones), across and up.
    assert abs(to_left[tip] - straight[tip, 0]) < 0.05
    assert straight[tip, 1] < 0.35 and to_right[tip] > 1.2
    # A search that stops short leaves the far side unreached; a joint with no bones is.
    assert np.isinf(paths.from_joint(1, limit=0.5)[tip]) and np.isfinite(to_right).all()
    assert np.isinf(paths.from_joint(2)).all()
    # The nearest joint that way, and the way to it: the tip's own arm.
    best, shares = paths.nearest()
    assert np.allclose(best, np.minimum(to_left, to_right))
    assert np.allclose(shares[tip], [1.0, 0.0, 0.0])
    assert np.allclose(shares.sum(axis=1), 1.0) and (shares[:, 2] == 0.0).all()


def test_a_shell_follows_the_weight_it_covers_not_each_vertex_s_largest() -> None:
    """A cheek piece over the edge of a head blended with the torso covers five of the
    head's vertices: three lean just past half to the torso, two are the head's alone. Most
    of the weight it covers is the head's (3.35 to 1.65), and so is the cheek; by each
    vertex's largest weight it was the torso's by three to two, and one blend tipping over
    moved the whole shell."""
    from scipy.spatial import cKDTree

    from domain.rigging.skinning import enclosing_shells

    shell_v, _ = capsule(np.array([0.0, 0.9, 0.0]), np.array([0.0, 1.1, 0.0]), 0.2, 4)
    covered = np.array(
        [
            [0.0, 0.95, 0.0],
            [0.05, 1.0, 0.0],
            [-0.05, 1.0, 0.0],
            [0.0, 1.05, 0.05],
            [0.0, 1.0, -0.05],
        ]
    )
    head_v, _ = capsule(np.array([0.0, 1.7, 0.0]), np.array([0.0, 2.0, 0.0]), 0.2, 4)
    verts = np.vstack([shell_v, covered, head_v])
    labels = np.r_[np.zeros(len(shell_v), int), np.ones(len(covered) + len(head_v), int)]
    skel = Skeleton(
        names=["torso", "neck", "head"],
        parents=[-1, 0, 1],
        positions=[(0.0, 0.0, 0.0), (0.0, 0.5, 0.0), (0.0, 1.8, 0.0)],
    )
    weights = np.zeros((len(verts), 3))
    weights[: len(shell_v), 1] = 1.0  # heat gave the shell to the neck, below it
    n = len(shell_v)
    weights[n : n + 3] = [0.55, 0.0, 0.45]
    weights[n + 3 : n + 5, 2] = 1.0
    weights[n + 5 :, 2] = 1.0
    out = enclosing_shells(weights, cKDTree(verts), labels, skel, 0.5)
    assert (out[:n, 2] == 1.0).all()
    assert (out[n:] == weights[n:]).all()


def test_a_head_whose_only_children_are_its_ears_keeps_its_crown() -> None:
    """A head joint low in a big head, with only its two ears below it: the ears' roots lie
    deep in the head, and their bones, nearer the crown than the head's own (sideways to
    the ears), took half the crown. The head carries the flesh above it as an end joint
    does, up between the ears. Plain heat, as the head here is a piece of its own that the
    rigid-piece pass would bind whole either way."""
    parts = [
        capsule(np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), 0.2, 4),  # body
        capsule(np.array([0.0, 1.45, 0.0]), np.array([0.0, 1.55, 0.0]), 0.5, 6),  # head
        capsule(np.array([0.3, 1.7, 0.0]), np.array([0.5, 2.2, 0.0]), 0.08, 4),  # left ear
        capsule(np.array([-0.3, 1.7, 0.0]), np.array([-0.5, 2.2, 0.0]), 0.08, 4),  # right ear
        capsule(np.array([0.0, 1.4, 0.4]), np.array([0.0, 1.4, 0.7]), 0.1, 4),  # snout
    ]
    mesh, starts = join(parts)
    skel = Skeleton(
        names=["root", "neck", "head", "ear.L", "ear2.L", "tip.L", "ear.R", "ear2.R", "tip.R"],
        parents=[-1, 0, 1, 2, 3, 4, 2, 6, 7],
        positions=[
            (0.0, 0.3, 0.0),
            (0.0, 0.9, 0.0),
            (0.0, 1.2, 0.0),
            (0.27, 1.55, 0.0),
            (0.33, 1.7, 0.0),
            (0.47, 2.1, 0.0),
            (-0.27, 1.55, 0.0),
            (-0.33, 1.7, 0.0),
            (-0.47, 2.1, 0.0),
        ],
    )
    verts = mesh.vertices
    head = np.arange(len(verts)) >= starts[1]
    head &= np.arange(len(verts)) < starts[2]
    crown = head & (verts[:, 1] > 1.75)
    weights = compute_weights(mesh, skel, BLENDED)
    assert_valid(weights, len(verts), 9)
    assert weights[crown, 2].mean() > 0.75
    ears = np.arange(starts[2], starts[4])
    assert weights[ears][:, 3:].sum(axis=1).min() > 0.99
    unforked = compute_weights(mesh, skel, SkinOptions(rigid_share=2.0, extend_forks=False))
    assert unforked[crown, 2].mean() < 0.5


def test_a_prop_of_touching_pieces_moves_whole_with_the_palm() -> None:
    """A gun of two touching pieces in a hand whose fingers hang from the wrist (no hand
    joint): nearest-bone heat gives the grip to the thumb and the barrel to the index
    finger, and the gun would come apart when they bend. It goes whole to the palm, the
    finger root that carries on the forearm; the fingers, pieces of their own with their
    bones through them, are no prop and keep their weights."""
    wrist = np.array([0.5, 0.0, 0.0])
    tips = {
        "index": np.array([0.7, 0.0, 0.05]),
        "middle": np.array([0.72, 0.0, 0.0]),
        "pinky": np.array([0.66, 0.0, -0.05]),
        "thumb": np.array([0.58, 0.0, 0.1]),
    }
    parts = [capsule(np.zeros(3), wrist, 0.06, 6)]  # forearm
    parts += [capsule(wrist, tip, 0.015, 3) for tip in tips.values()]
    parts += [
        capsule(np.array([0.58, -0.12, 0.1]), np.array([0.58, 0.03, 0.1]), 0.02, 3),  # grip
        capsule(np.array([0.58, 0.04, 0.1]), np.array([0.85, 0.04, 0.07]), 0.015, 3),  # barrel
    ]
    mesh, starts = join(parts)
    names, parents, positions = ["forearm"], [-1], [(0.0, 0.0, 0.0)]
    for finger, tip in tips.items():
        names += [f"{finger}1", f"{finger}2"]
        parents += [0, len(names) - 2]
        positions += [tuple(wrist), tuple(wrist + 0.6 * (tip - wrist))]
    skel = Skeleton(names=names, parents=parents, positions=positions)
    gun = np.arange(len(mesh.vertices)) >= starts[5]
    weights = compute_weights(mesh, skel)
    assert_valid(weights, len(mesh.vertices), len(names))
    assert (weights[gun, names.index("middle1")] == 1.0).all()
    by_heat = compute_weights(mesh, skel, SkinOptions(prop_touch=0.0))
    assert set(by_heat[gun].argmax(axis=1)) == {names.index("thumb2"), names.index("index2")}
    assert (weights[~gun] == by_heat[~gun]).all()
    # Fingers that start at the hand joint itself give no arm to carry on: nothing moves.
    at_wrist = Skeleton(names=names, parents=parents, positions=[tuple(wrist), *positions[1:]])
    off = SkinOptions(prop_touch=0.0)
    assert (compute_weights(mesh, at_wrist) == compute_weights(mesh, at_wrist, off)).all()


def test_a_plate_round_the_knee_of_a_leg_ending_in_a_foot_control_stays_with_the_thigh() -> None:
    """A leg chain ending at the knee, its foot control a root of its own at the ankle (as
    Quaternius' robot Mike is rigged): the knee joint is a leaf of its tree but no end of
    the leg, since its bone runs on to the control. A plate round it, half its heat the thigh's, is
    the thigh's, where a shoe round a true end joint goes to that end."""
    leg_v, leg_f = capsule(np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), 0.08, 4)
    plate_v, plate_f = capsule(np.array([0.0, 0.58, 0.0]), np.array([0.0, 0.76, 0.0]), 0.1, 4)
    mesh, starts = join([(leg_v, leg_f), (plate_v, plate_f)])
    skel = Skeleton(
        names=["hip", "knee", "ik_foot", "toe"],
        parents=[-1, 0, -1, 2],
        positions=[(0.0, 1.0, 0.0), (0.0, 0.6, 0.0), (0.0, 0.2, 0.0), (0.0, 0.05, 0.0)],
    )
    plate = np.arange(starts[1], len(mesh.vertices))
    weights = compute_weights(mesh, skel)
    assert_valid(weights, len(mesh.vertices), 4)
    assert (weights[plate, 0] == 1.0).all()


def test_a_head_whose_only_children_are_its_ears_gets_a_bone_into_its_snout() -> None:
    """An animal's head joint at the top of its neck, its children the two ears: no bone runs
    into the snout ahead of it, whose vertices took their heat from the neck's bone and the
    ears' as much as from the head's. A bone from the head to the middle of the vertices
    nearest the head joint turns the snout to the head; a wrist whose fingers fan out ahead
    of it, the middle of its vertices lying back along the forearm, gets none."""
    up = np.array([0.0, 1.0, 0.0])
    mesh, _ = join(
        [
            capsule(np.zeros(3), up, 0.1, 4),
            capsule(np.array([0.0, 1.0, -0.05]), np.array([0.0, 1.0, 0.6]), 0.15, 4),
            capsule(np.array([0.08, 1.1, 0.0]), np.array([0.2, 1.5, 0.0]), 0.04, 4),
            capsule(np.array([-0.08, 1.1, 0.0]), np.array([-0.2, 1.5, 0.0]), 0.04, 4),
        ]
    )
    skel = Skeleton(
        names=["root", "neck", "head", "ear_l", "ear_l_end", "ear_r", "ear_r_end"],
        parents=[-1, 0, 1, 2, 3, 2, 5],
        positions=[
            (0.0, 0.0, 0.0),
            (0.0, 0.7, 0.0),
            (0.0, 1.0, 0.0),
            (0.08, 1.1, 0.0),
            (0.2, 1.5, 0.0),
            (-0.08, 1.1, 0.0),
            (-0.2, 1.5, 0.0),
        ],
    )
    heads, tails, owner = flesh_bones(skel, mesh.vertices)
    assert owner.tolist() == [2] and np.allclose(heads[0], skel.positions[2])
    assert tails[0][2] > 0.1  # forward, into the snout
    snout = mesh.vertices[:, 2] > 0.3
    weights = compute_weights(mesh, skel, BLENDED)
    assert_valid(weights, len(mesh.vertices), 7)
    bare = compute_weights(mesh, skel, SkinOptions(rigid_share=2.0, flesh_bones=False))
    assert weights[snout, 2].mean() > 0.45 > 0.4 > bare[snout, 2].mean()
    # A head with a third child ahead of it (a horn's root beyond the snout's tip) has a bone
    # of its own through the snout: none is added.
    horned = Skeleton(
        names=[*skel.names, "horn"],
        parents=[*skel.parents, 2],
        positions=[*skel.positions, (0.0, 1.0, 1.8)],
    )
    assert len(flesh_bones(horned, mesh.vertices)[2]) == 0

    arm, _ = join(
        [capsule(np.zeros(3), np.array([1.0, 0.0, 0.0]), 0.06, 4)]
        + [
            capsule(np.array([1.0, 0.0, z]), np.array([1.3, 0.0, 2 * z]), 0.02, 4)
            for z in (-0.05, 0.0, 0.05)
        ]
    )
    hand = Skeleton(
        names=["elbow", "wrist", "f1", "f2", "f3"],
        parents=[-1, 0, 1, 1, 1],
        positions=[
            (0.0, 0.0, 0.0),
            (1.0, 0.0, 0.0),
            (1.3, 0.0, -0.1),
            (1.3, 0.0, 0.0),
            (1.3, 0.0, 0.1),
        ],
    )
    assert len(flesh_bones(hand, arm.vertices)[2]) == 0
