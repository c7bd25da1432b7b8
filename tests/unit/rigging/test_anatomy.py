"""Skeletons that follow anatomy: mirror symmetry, joints at narrowings, joints at part roots."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from domain.rigging.model import FloatArray, IntArray, Mesh, Model, Skeleton
from domain.rigging.skeleton import (
    SkeletonOptions,
    Symmetry,
    about_up,
    build_skeleton,
    detect_symmetry,
    leaf_bases,
    mirror,
    rigid_pieces,
    symmetrise,
)
from domain.rigging.synthetic import capsule, join


def lathe(profile: list[tuple[float, float]], segments: int = 24) -> tuple[FloatArray, IntArray]:
    """A closed surface of revolution round the x axis through (x, radius) samples."""
    phi = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    rings = [
        np.stack([np.full(segments, x), r * np.cos(phi), r * np.sin(phi)], axis=1)
        for x, r in profile
    ]
    verts = np.vstack([[profile[0][0], 0.0, 0.0], *rings, [profile[-1][0], 0.0, 0.0]])
    faces: list[tuple[int, int, int]] = []
    for j in range(segments):
        faces.append((0, 1 + (j + 1) % segments, 1 + j))
    for i in range(len(rings) - 1):
        a, b = 1 + i * segments, 1 + (i + 1) * segments
        for j in range(segments):
            k = (j + 1) % segments
            faces += [(a + j, a + k, b + k), (a + j, b + k, b + j)]
    last, tip = 1 + (len(rings) - 1) * segments, len(verts) - 1
    for j in range(segments):
        faces.append((last + j, last + (j + 1) % segments, tip))
    return verts, np.asarray(faces, dtype=np.int64)


def test_mirror_plane_of_a_two_sided_body_is_found(synthetic: dict[str, Model]) -> None:
    plane = detect_symmetry(synthetic["character"].mesh.vertices)
    assert plane is not None
    assert abs(plane.normal[0]) > 0.999 and abs(plane.origin[0]) < 1e-6
    # A quadruped is mirrored left to right too, whatever way it faces.
    four = detect_symmetry(synthetic["quadruped"].mesh.vertices)
    assert four is not None and abs(four.normal[0]) > 0.999
    # A tree has no mirror plane.
    assert detect_symmetry(synthetic["tree"].mesh.vertices) is None


def test_a_character_turned_on_the_spot_gets_the_same_skeleton_turned(
    synthetic: dict[str, Model],
) -> None:
    # Voxels are square to the axes: unsquared, a body turned 25 degrees thins to another
    # curve skeleton (joints off by up to 3% of its size, a joint more or less).
    for name in ("character", "quadruped"):
        mesh = synthetic[name].mesh
        facing = build_skeleton(mesh)
        turn = about_up(np.radians(25.0))
        turned = build_skeleton(Mesh(vertices=mesh.vertices @ turn.T, faces=mesh.faces))
        assert turned.names == facing.names and turned.parents == facing.parents, name
        back = turned.turned(turn.T).array()
        size = float(np.ptp(mesh.vertices, axis=0).max())
        assert np.abs(back - facing.array()).max() < 1e-3 * size, name


def test_a_round_body_turned_on_the_spot_keeps_its_mirror_plane() -> None:
    # A ball with three horns 120 degrees apart: its spread is the same every way round the
    # up axis, so its principal axes show none of its three mirror planes, and turned off
    # the axes neither do its box axes.
    parts = [capsule(np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.02, 0.0]), 0.5, 6)]
    for deg in (90.0, 210.0, 330.0):
        d = np.array([np.cos(np.radians(deg)), 0.0, np.sin(np.radians(deg))])
        parts.append(capsule(0.45 * d + [0, 0.1, 0], 0.75 * d + [0, 0.1, 0], 0.08, 3))
    mesh, _ = join(parts)
    for turn in (20.0, 37.0, 53.0):
        plane = detect_symmetry(mesh.vertices @ about_up(np.radians(turn)).T)
        assert plane is not None and plane.score < 0.005, turn
        # The planes' normals lie at 0, 60 and 120 degrees (from X towards Z), less the turn.
        angle = np.degrees(np.arctan2(plane.normal[2], plane.normal[0]))
        off = (angle + turn) % 60.0
        assert min(off, 60.0 - off) < 0.5, turn


def test_symmetrise_pairs_left_and_right_and_centres_the_spine(
    synthetic: dict[str, Model],
) -> None:
    truth = synthetic["character"].skeleton
    assert truth is not None
    pos = truth.array()
    names = truth.names
    noisy = pos.copy()
    noisy[names.index("elbow_l")] += [0.02, 0.03, 0.0]
    noisy[names.index("neck")] += [0.015, 0.0, 0.0]
    plane = Symmetry(normal=(1.0, 0.0, 0.0), origin=(0.0, 0.0, 0.0), score=0.0)
    skel = symmetrise(
        Skeleton(names=names, parents=truth.parents, positions=[tuple(p) for p in noisy]),
        plane,
        reach=0.1,
    )
    out = skel.array()
    left, right = out[names.index("elbow_l")], out[names.index("elbow_r")]
    assert np.allclose(mirror(left[None], plane)[0], right)
    # Each side moved half way: the error is shared, not copied from one side.
    assert np.isclose(left[1], 1.44 + 0.015)
    assert out[names.index("neck")][0] == 0.0
    # Every joint now has its mirror image in the skeleton.
    dist, _ = cKDTree(out).query(mirror(out, plane))
    assert dist.max() < 1e-9


def test_built_skeleton_is_mirror_symmetric(synthetic: dict[str, Model]) -> None:
    mesh = synthetic["quadruped"].mesh
    skel = build_skeleton(mesh)
    plane = detect_symmetry(mesh.vertices)
    assert plane is not None
    pos = skel.array()
    dist, _ = cKDTree(pos).query(mirror(pos, plane))
    # Thinning can leave a left chain one joint longer than the right; every other joint
    # has its exact mirror image.
    assert np.mean(dist < 1e-3 * float(mesh.bbox_sides().max())) > 0.9
    unmirrored = build_skeleton(mesh, SkeletonOptions(symmetry=0.0)).array()
    far, _ = cKDTree(unmirrored).query(mirror(unmirrored, plane))
    assert np.mean(far < 1e-3 * float(mesh.bbox_sides().max())) < 0.5


def test_joint_goes_where_a_limb_narrows() -> None:
    """An arm that narrows at the elbow, off its middle, gets a joint at the narrowing."""
    xs = np.linspace(0.0, 1.0, 41)
    radius = 0.09 - 0.05 * np.exp(-(((xs - 0.36) / 0.04) ** 2))
    verts, faces = lathe([(float(x), float(r)) for x, r in zip(xs, radius, strict=True)])
    # Sparse even spacing, so that only the narrowing can put a joint there.
    sparse = SkeletonOptions(spacing=0.3)
    skel = build_skeleton(Mesh(vertices=verts, faces=faces), sparse)
    pos = skel.array()
    assert np.abs(pos[:, 0] - 0.36).min() < 0.03
    # An even tube of the same length has no joint there.
    even = lathe([(float(x), 0.09) for x in xs])
    plain = build_skeleton(Mesh(vertices=even[0], faces=even[1]), sparse).array()
    assert np.abs(plain[:, 0] - 0.36).min() > 0.03


def test_end_part_gets_a_joint_at_its_root() -> None:
    verts, _ = capsule(np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), 0.05, 4)
    skel = Skeleton(names=["a", "tip"], parents=[-1, 0], positions=[(0, 0, 0), (0, 1.0, 0)])
    out = leaf_bases(skel, verts, 2.0)
    assert out.names == ["a", "tip_base", "tip"] and out.parents == [-1, 0, 1]
    # Two thicknesses (here the radius) in from the tip, on the last bone.
    assert np.allclose(out.array()[1], [0.0, 0.9, 0.0], atol=0.01)
    # A bone shorter than that keeps its end as it is.
    short = Skeleton(names=["a", "tip"], parents=[-1, 0], positions=[(0, 0.9, 0), (0, 1.0, 0)])
    assert leaf_bases(short, verts, 2.0).names == ["a", "tip"]


def _head_with(branch: list[tuple[str, int]]) -> Skeleton:
    """A spine up to a head (joints 0-2) and, hung off the head, the given (name, parent)."""
    names = ["root", "neck", "head"] + [n for n, _ in branch]
    parents = [-1, 0, 1] + [p for _, p in branch]
    positions = [(0.0, float(i), 0.0) for i in range(len(names))]
    return Skeleton(names=names, parents=parents, positions=positions)


def test_a_branching_loose_piece_keeps_only_the_joint_where_it_hangs() -> None:
    """Antlers modelled as their own piece: one joint turns them, their tines get none."""
    skel = _head_with([("antler", 2), ("tine_a", 3), ("tine_b", 3), ("tine_c", 4), ("jaw", 2)])
    piece = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    out = rigid_pieces(skel, piece)
    assert out.names == ["root", "neck", "head", "antler", "jaw"]
    assert out.parents == [-1, 0, 1, 2, 2]


def test_a_plate_keeps_one_joint_when_its_web_crosses_small_pieces_stuck_on_it() -> None:
    """A hat (piece 1) with a band (piece 2) round it: the web over the hat runs through the
    band, and all its tips lie on the hat; the hat keeps the joint where it hangs."""
    skel = _head_with(
        [("hat", 2), ("band_a", 3), ("band_b", 3), ("brim_a", 4), ("brim_b", 4), ("tip", 5)]
    )
    piece = np.array([0, 0, 0, 1, 2, 2, 1, 1, 1])
    out = rigid_pieces(skel, piece)
    assert out.names == ["root", "neck", "head", "hat"]
    # A mech's leg of plates: its hip plate has flaps of its own, but the leg goes on to a
    # foot on another plate, so it bends between them.
    leg = _head_with([("hip", 0), ("knee", 3), ("flap_a", 3), ("flap_b", 3), ("foot", 4)])
    assert rigid_pieces(leg, np.array([0, 0, 0, 1, 2, 1, 1, 3])).names == leg.names
    # Fingers each a piece of their own, hung from a hand of another piece.
    hand = _head_with([("hand", 1), ("index", 3), ("thumb", 3), ("index_tip", 4)])
    assert rigid_pieces(hand, np.array([0, 0, 0, 1, 2, 3, 2])).names == hand.names


def test_a_loose_arm_bends_up_to_where_its_hand_branches() -> None:
    """A floating arm modelled as its own piece keeps its elbow; its fingers go rigid."""
    skel = _head_with(
        [("shoulder", 1), ("elbow", 3), ("wrist", 4), ("finger_a", 5), ("finger_b", 5)]
    )
    piece = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    out = rigid_pieces(skel, piece)
    assert out.names == ["root", "neck", "head", "shoulder", "elbow", "wrist"]
    assert out.parents == [-1, 0, 1, 1, 3, 4]


def test_pieces_that_can_bend_keep_their_joints() -> None:
    # A leg modelled apart from the body: one chain, no branch.
    leg = _head_with([("thigh", 0), ("shin", 3), ("foot", 4)])
    assert rigid_pieces(leg, np.array([0, 0, 0, 1, 1, 1])).names == leg.names
    # Fingers on the body's own piece.
    hand = _head_with([("hand", 1), ("thumb", 3), ("finger", 3)])
    assert rigid_pieces(hand, np.zeros(6, dtype=np.int64)).names == hand.names
    # A branch that reaches into another piece is not one rigid thing.
    mixed = _head_with([("arm", 1), ("hand", 3), ("claw", 3)])
    assert rigid_pieces(mixed, np.array([0, 0, 0, 1, 1, 2])).names == mixed.names
    # The root's own piece is the body, whatever piece is the largest.
    body = _head_with([("tail", 0), ("tip_a", 3), ("tip_b", 3)])
    assert rigid_pieces(body, np.full(6, 4)).names == body.names


def test_root_stays_in_the_body_when_a_prop_stretches_the_box(
    synthetic: dict[str, Model],
) -> None:
    """A long thin spear held out to one side moves the box centre, not the body's middle."""
    body = synthetic["character"].mesh
    spear = capsule(np.array([0.8, 1.44, 0.0]), np.array([3.0, 1.44, 0.0]), 0.015, 3)
    mesh, _ = join([(body.vertices, body.faces), spear])
    root = build_skeleton(mesh).array()[0]
    assert abs(root[0]) < 0.15 and 0.8 < root[1] < 1.5


def test_millimetres_and_kilometres_rig_the_same(synthetic: dict[str, Model]) -> None:
    """Badly scaled exports (a character in mm, or in km) get the same rig, scaled."""
    from domain.rigging.skinning import compute_weights

    model = synthetic["quadruped"]
    assert model.skeleton is not None
    skel = build_skeleton(model.mesh)
    weights = compute_weights(model.mesh, model.skeleton)
    for scale in (1000.0, 0.001):
        mesh = Mesh(vertices=model.mesh.vertices * scale, faces=model.mesh.faces)
        scaled = build_skeleton(mesh)
        assert scaled.parents == skel.parents
        assert np.allclose(scaled.array(), skel.array() * scale, rtol=1e-6, atol=1e-9 * scale)
        truth = Skeleton(
            names=model.skeleton.names,
            parents=model.skeleton.parents,
            positions=[tuple(p) for p in model.skeleton.array() * scale],
        )
        assert np.allclose(compute_weights(mesh, truth), weights, atol=1e-6)
