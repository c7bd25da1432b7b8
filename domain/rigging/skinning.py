"""Bone-heat skin weights: robust Laplacian diffusion from the nearest visible bone."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec
import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

from domain.rigging.error import InvalidMeshError
from domain.rigging.geometry import pieces, sample_segments, surface_points, unit_box, weld
from domain.rigging.model import FloatArray, IntArray, Mesh, Progress, Skeleton
from domain.rigging.skeleton import Symmetry, cap_holes, squared, voxelise

if TYPE_CHECKING:
    from scipy.spatial import cKDTree


class SkinOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Tuning of bone-heat skinning; the defaults are what the benchmark measures."""

    max_influences: int = 4
    prune_below: float = 0.05
    candidates: int = 2
    heat: float = 3.0
    max_solve_vertices: int = 120_000
    min_inside: float = 0.5
    stretch_ends: bool = True
    aim_ends: bool = True
    level_controls: bool = True
    flesh_bones: bool = True
    end_piece_share: float = 0.3
    glue_ratio: float = 1.0
    enclosed_share: float = 0.5
    hub_children: int = 4
    hub_reach: float = 0.5
    near_margin: float = 1.5
    stop_near: float = 0.7
    drop_off_body: bool = True
    rigid_share: float = 0.5
    gap_ratio: float = 2.0
    voxel_resolution: int = 128
    extend_forks: bool = True
    prop_touch: float = 0.5


def bone_segments(
    skel: Skeleton, forks: frozenset[int] = frozenset()
) -> tuple[FloatArray, FloatArray, IntArray, np.ndarray]:
    """Return (heads, tails, owning joint, extends) of the segments whose weights go to each
    joint; `extends` marks the segments that run on past their joint instead of to a child.

    A joint owns the segments to its children; a leaf owns a segment continuing its parent's
    direction, since skinned leaves (hands, heads) carry the geometry beyond them. So does a
    joint in `forks` (see `mirrored_forks`), half as long as the way to its children.
    """
    pos = skel.array()
    heads, tails, owner, extends = [], [], [], []
    children = skel.children()
    for j in range(len(pos)):
        kids = children.get(j, [])
        for c in kids:
            heads.append(pos[j])
            tails.append(pos[c])
            owner.append(j)
            extends.append(False)
        if not kids or j in forks:
            p = skel.parents[j]
            direction = pos[j] - pos[p] if p >= 0 else np.zeros(3)
            if kids:
                reach = np.mean([np.linalg.norm(pos[c] - pos[j]) for c in kids])
                direction *= reach / max(float(np.linalg.norm(direction)), 1e-12)
            heads.append(pos[j])
            tails.append(pos[j] + 0.5 * direction)
            owner.append(j)
            extends.append(True)
    return (
        np.asarray(heads),
        np.asarray(tails),
        np.asarray(owner, dtype=np.int64),
        np.asarray(extends, dtype=bool),
    )


def descendants(skel: Skeleton, joint: int) -> list[int]:
    """Every joint below `joint` in its tree."""
    children = skel.children()
    out, todo = [], [joint]
    while todo:
        kids = children.get(todo.pop(), [])
        out.extend(kids)
        todo.extend(kids)
    return out


def mirrored_forks(
    skel: Skeleton, plane: Symmetry | None, tolerance: float = 0.1
) -> frozenset[int]:
    """Joints on the mirror plane whose children are all mirrored pairs leaving it.

    A head whose only children are its ears (or horns, or antennae) has no bone up through
    itself: its segments run sideways to the ears' roots, deep in the head, and the ears'
    bones, nearer the crown than those, take the top of the head (the platformer
    Character: 490 of the 781 vertices its artist bound to `Head` went to the ears). Such
    a fork carries the flesh ahead of it as a leaf does. A child leaves the plane when its
    way from the joint is more than 30 degrees off it (an alpaca's ears, 22 degrees off,
    rise up the head and take no crown), and is paired when a sibling lies within
    `tolerance` x that way of its mirror image; the joint itself must lie within
    `tolerance` x its shortest way of the plane.
    """
    if plane is None:
        return frozenset()
    n, o = np.asarray(plane.normal), np.asarray(plane.origin)
    pos = skel.array()
    out = set()
    for j, cs in skel.children().items():
        if len(cs) < 2 or skel.parents[j] < 0:
            continue
        way = pos[cs] - pos[j]
        length = np.linalg.norm(way, axis=1)
        if abs(float((pos[j] - o) @ n)) > tolerance * float(length.min()):
            continue
        if not np.all(np.abs(way @ n) > 0.5 * length):  # sin 30 degrees
            continue
        mirror = pos[cs] - 2.0 * ((pos[cs] - o) @ n)[:, None] * n
        gap = np.linalg.norm(mirror[:, None] - pos[cs][None], axis=2).min(axis=1)
        if np.all(gap <= tolerance * length):
            out.add(j)
    return frozenset(out)


Inside = Callable[[FloatArray], np.ndarray]
# (welded vertices, faces, bone heads, bone tails, owning joint, joint count) -> (V, J) weights
Solver = Callable[[FloatArray, IntArray, FloatArray, FloatArray, IntArray, int], FloatArray]


def trim_hubs(
    heads: FloatArray, tails: FloatArray, owner: IntArray, children: int, reach: float
) -> FloatArray:
    """Shorten the segments of a joint with many children to `reach` of their length.

    A hub (a spider's body joint, a mech's hips) is where limbs are hung, not a bone that
    runs to each of them: its segments to the limb roots are offsets, and the flesh along
    them belongs to the limbs and to the torso. Given the whole way, the hub takes the
    shoulders of every limb.
    """
    count = np.bincount(owner, minlength=int(owner.max()) + 1 if len(owner) else 0)
    hub = count[owner] >= children
    out = tails.copy()
    out[hub] = heads[hub] + reach * (tails[hub] - heads[hub])
    return out


def body_grid(verts: FloatArray, faces: IntArray, resolution: int = 64) -> Inside:
    """Return a test of which points lie in the body (a coarse solid voxel grid) of a closed
    mesh (see `cap_holes`)."""
    return body_grids(verts, faces, resolution, 0.0)[0]


def body_grids(
    verts: FloatArray, faces: IntArray, resolution: int = 64, margin: float = 1.5
) -> tuple[Inside, Inside]:
    """Return tests of which points lie in the body of a closed mesh (see `cap_holes`) and
    which lie in it or within `margin` voxels of its surface.

    The grid is coarse: a thin part (a wing, an ear, a foot's sole) may hold no inside voxel
    where its joint is, so a joint counts as in the body when it is near it. Near is measured
    to the surface, not to voxels grown round the solid: with grown voxels, whether a joint
    about a voxel off the body was near turned on where the grid's walls fell (Skull's mouth
    bone, kept or dropped as the grid moved half a voxel, and with it 300 vertices). One
    voxel of growth reached from 0 to about 2 voxels beyond the surface, as the walls fell.
    """
    from scipy.spatial import cKDTree

    solid, origin, pitch = voxelise(verts, faces, resolution)
    top = np.array(solid.shape) - 1

    def inside(points: FloatArray) -> np.ndarray:
        idx = np.clip(np.floor((points - origin) / pitch).astype(int), 0, top)
        return np.asarray(solid[idx[..., 0], idx[..., 1], idx[..., 2]], dtype=np.bool_)

    if margin <= 0:
        return inside, inside
    surface = cKDTree(np.vstack(list(surface_points(verts, faces, 0.5 * pitch))))

    def near(points: FloatArray) -> np.ndarray:
        dist, _ = surface.query(points)
        return inside(points) | (np.asarray(dist) <= margin * pitch)

    return inside, near


def nearest_solid(
    solid: np.ndarray, origin: FloatArray, pitch: float
) -> Callable[[FloatArray], IntArray]:
    """Return a lookup of each point's nearest solid voxel, as (N, 3) grid coordinates.

    A vertex of a face that the grid's solid just misses, a bone through the air: each starts
    from the solid voxel nearest the cell it falls in.
    """
    from scipy.ndimage import distance_transform_edt

    _, nearest = distance_transform_edt(~solid, return_indices=True)
    top = np.array(solid.shape) - 1

    def snap(points: FloatArray) -> IntArray:
        idx = np.clip(np.floor((points - origin) / pitch).astype(int), 0, top)
        return np.asarray(nearest[:, idx[:, 0], idx[:, 1], idx[:, 2]].T)

    return snap


def inside_fraction(inside: Inside, heads: FloatArray, tails: FloatArray) -> FloatArray:
    """Share of each segment that runs inside the body.

    Game rigs carry bones that deform nothing: a root on the ground between the feet, IK pole
    targets in front of the knees. Their segments run through the air, and as heat sources
    they would pull the belly and the inner thighs towards the floor.
    """
    t = np.linspace(0.0, 1.0, 9)
    pts = heads[:, None] + t[None, :, None] * (tails - heads)[:, None]
    return np.asarray(inside(pts).mean(axis=1), dtype=np.float64)


def reach_surface(
    inside: Inside,
    heads: FloatArray,
    tails: FloatArray,
    most: float = 6.0,
    others: tuple[FloatArray, FloatArray, np.ndarray, float] | None = None,
) -> FloatArray:
    """Stretch end segments along their direction to where they leave the body.

    An end joint owns the part beyond it (a head, a hand, a spider's head that reaches far
    past its neck); a fixed stub would leave the far side of that part to its neighbours.
    The stretch stops at most x the stub's length, and never shrinks a stub below a quarter.
    With `others` (heads, tails, which of them count for each end, k), it also stops where
    one of those bones is nearer than k x the way back to the end's joint: an end that
    points along the body (a rat's torso joint, hung off its hips and pointing forward)
    must not run on through the shoulders and the neck.
    """
    t = np.linspace(0.25, most, 48)
    pts = heads[:, None] + t[None, :, None] * (tails - heads)[:, None]
    out = ~inside(pts)
    if others is not None:
        o_heads, o_tails, o_mask, k = others
        n_e, n_t = pts.shape[:2]
        d, _ = segment_distances(pts.reshape(-1, 3), o_heads, o_tails)
        d = np.where(np.repeat(o_mask, n_t, axis=0), d, np.inf).min(axis=1).reshape(n_e, n_t)
        own = np.linalg.norm(pts - heads[:, None], axis=2)
        out |= d < k * own
    first = np.where(out.any(axis=1), out.argmax(axis=1), len(t))
    reach = t[np.maximum(first - 1, 0)]
    return np.asarray(heads + reach[:, None] * (tails - heads), dtype=np.float64)


def aim_at_controls(
    skel: Skeleton, heads: FloatArray, tails: FloatArray, owner: IntArray, inside: Inside
) -> tuple[FloatArray, IntArray]:
    """Point each limb's end segment at the control joint that its limb ends on.

    Game rigs end a leg's chain at the ankle and put the foot's IK control at the end of the
    last bone, as a joint of its own tree or as a leaf hung straight from a root (on the
    ground, or in a frog's belly); the artist's bone runs from the ankle to that control,
    and the leg up to it moves with the leg. A stub that continues the thigh's direction
    would leave the leg through a bent hock and cede the shin to the control.

    A control is a tree of at most three joints beside the body's (the largest) tree, or
    one of two or more leaves hung from a root that also carries the body's tree (the feet's
    targets; a root's lone leaf is a spine, or the end of a two-joint chain). An end joint
    (a leaf with a parent, itself no control) aims at the nearest control that lies within
    120 degrees of its stub's way (a mech's or a frog's leg folds back at the knee past a
    right angle; a torso pointing forward does not turn round to a back foot), no farther
    than 6 x the stub, of which it is the nearest end joint (a rat's back foot lies within
    reach of its torso's end, but is its back leg's), and to which the straight way runs
    inside the body (a frog's back foot lies nearer its front knee than its front foot
    does, across the air). A control that sits on the end joint itself (a mech's foot
    control on the chain's last joint) is what the artist bound the part to: it takes the
    end segment over.
    """
    pos = skel.array()
    parents = np.asarray(skel.parents)
    tree = np.arange(len(pos))
    for _ in range(len(pos)):
        up = parents[tree]
        if (up < 0).all():
            break
        tree = np.where(up >= 0, up, tree)
    size = np.bincount(tree, minlength=len(pos))
    leaf = ~np.isin(np.arange(len(pos)), parents)
    parent = np.maximum(parents, 0)  # a root's own entry is masked out below
    carrier = np.zeros(len(pos), dtype=bool)
    carrier[parents[~leaf & (parents >= 0)]] = True
    hung = leaf & (parents >= 0) & (parents[parent] < 0)
    hung &= carrier[parent] & (np.bincount(parent[hung], minlength=len(pos))[parent] >= 2)
    control = ((size[tree] <= 3) & (tree != size.argmax())) | hung
    is_end = leaf & (parents >= 0) & ~control
    ends = np.nonzero(is_end)[0]
    if len(ends) == 0:
        return tails, owner
    # Each control's nearest end joint: the limb it ends.
    limb = ends[np.linalg.norm(pos[:, None] - pos[ends][None], axis=2).argmin(axis=1)]
    tails, owner = tails.copy(), owner.copy()
    for b in range(len(owner)):
        j = int(owner[b])
        if not is_end[j]:
            continue
        stub = tails[b] - heads[b]
        length = float(np.linalg.norm(stub))
        if length <= 0:
            continue
        to = pos - heads[b]
        dist = np.linalg.norm(to, axis=1)
        other = (tree != tree[j]) | hung
        on_top = np.nonzero(other & (dist < 0.02 * length))[0]
        if len(on_top):
            owner[b] = int(on_top[0])
            continue
        # A control of the end's own tree can only be a hung one: a small tree is a control
        # and holds no end.
        ahead = control & (limb == j) & (to @ stub > -0.5 * dist * length)
        for k in np.argsort(dist):
            if dist[k] >= 6.0 * length:
                break
            if ahead[k] and inside_fraction(inside, heads[b : b + 1], pos[k : k + 1])[0] >= 0.75:
                tails[b] = pos[k]
                break
    return tails, owner


def level_controls(
    skel: Skeleton,
    verts: FloatArray,
    heads: FloatArray,
    tails: FloatArray,
    owner: IntArray,
    end: np.ndarray,
    inside: Inside,
) -> FloatArray:
    """Point the end segment of a leaf hung from a joint off the body along the flesh round
    it, level (Y up).

    Game rigs hang a foot's IK control from a root on the ground, and the control takes the
    foot. A leaf's segment carries on its parent's way, but from a root on the ground that
    way is an offset along the ground, out to the side or backwards, and says nothing of
    where the foot lies; the flesh round the control does. The way is the mean of the ways
    to the vertices within the distance from the joint to its nearest other joint, made
    level (the foot lies on the ground; the leg above it would tip the way up its own
    bone); the segment is half that distance long and is not stretched to the surface.
    """
    pos = skel.array()
    up = np.asarray(skel.parents)[owner]
    loose = np.nonzero(end & (up >= 0))[0]
    loose = loose[~inside(pos[up[loose]])]
    out = tails.copy()
    for b in loose:
        j = int(owner[b])
        reach = float(np.linalg.norm(np.delete(pos, j, axis=0) - pos[j], axis=1).min())
        rel = verts - heads[b]
        close = np.linalg.norm(rel, axis=1) < reach
        if not close.any():
            continue
        way = rel[close].mean(axis=0)
        way[1] = 0.0
        length = float(np.linalg.norm(way))
        if length > 1e-12:
            out[b] = heads[b] + way * (0.5 * reach / length)
    return out


def flesh_bones(
    skel: Skeleton, verts: FloatArray, off: float = 0.5
) -> tuple[FloatArray, FloatArray, IntArray]:
    """(heads, tails, owning joint) of one more bone for each branching joint, into the flesh
    its bones leave bare.

    An alpaca's head joint sits at the top of its neck, and its only children are its ears:
    its bones run up to the ears' roots and none runs into the snout, so the snout takes
    its heat from the ears' bones above it and the neck's below (the development set's
    Alpaca: 676 of the 804 vertices its artist bound to `Head` went to the ears and the
    neck). A chest whose children are the neck and the shoulders has no bone into the chest
    either. Each joint with two or more children but the root gets a bone from it to the
    middle of the vertices nearer to it than to any other joint, where that middle lies
    more than 60 degrees (cosine `off`) off the way to each child and to its parent: a
    wrist whose fingers fan out ahead of it gets none, the middle of its vertices lying back
    along the forearm.
    """
    from scipy.spatial import cKDTree

    pos = skel.array()
    _, nearest = cKDTree(pos).query(verts)
    heads, tails, owner = [], [], []
    for j, kids in skel.children().items():
        parent = skel.parents[j]
        if len(kids) < 2 or parent < 0:
            continue
        mine = verts[nearest == j]
        if len(mine) == 0:
            continue
        way = mine.mean(axis=0) - pos[j]
        others = pos[[*kids, parent]] - pos[j]
        norms = np.linalg.norm(others, axis=1) * np.linalg.norm(way)
        if np.all(norms > 1e-12) and np.all(others @ way <= off * norms):
            heads.append(pos[j])
            tails.append(pos[j] + way)
            owner.append(j)
    return (
        np.asarray(heads).reshape(-1, 3),
        np.asarray(tails).reshape(-1, 3),
        np.asarray(owner, dtype=np.int64),
    )


def segment_distances(
    points: FloatArray, heads: FloatArray, tails: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Distances (V, B) and closest points (V, B, 3) from every point to every segment."""
    ab = tails - heads
    denom = np.maximum((ab * ab).sum(axis=1), 1e-20)
    t = np.clip(((points[:, None, :] - heads[None]) * ab[None]).sum(axis=2) / denom, 0.0, 1.0)
    closest = heads[None] + t[..., None] * ab[None]
    return np.linalg.norm(points[:, None, :] - closest, axis=2), closest


def weld_seams(mesh: Mesh) -> tuple[FloatArray, IntArray, IntArray]:
    """Merge coincident vertices (exporters split them on seams) so heat flows across seams.

    A vertex no face uses (left over by an editor) is no part of the surface, and far off
    it would stretch the box every grid and tolerance is measured on: it is mapped to the
    nearest vertex that is used, and takes its weights.
    """
    verts, faces, inverse = weld(mesh.vertices, mesh.faces, 1e-7)
    used = np.unique(faces)
    if len(used) == len(verts):
        return verts, faces, inverse
    from scipy.spatial import cKDTree

    _, nearest = cKDTree(verts[used]).query(verts)
    new = np.asarray(nearest, dtype=np.int64)
    new[used] = np.arange(len(used))
    return verts[used], new[faces], new[inverse]


def compute_weights(
    mesh: Mesh,
    skel: Skeleton,
    options: SkinOptions | None = None,
    progress: Progress | None = None,
    solver: Solver | None = None,
) -> FloatArray:
    """Return dense (V, J) weights: at most max_influences per vertex, each row summing to 1.

    Bone heat gives the weights unless a `solver` is given: the same bones (through the air
    left out, ends stretched) and the same passes over loose pieces then frame another
    method, as `bench.rigging --skin` compares them.
    """
    opt = options or SkinOptions()
    n_joints = len(skel.names)
    if n_joints == 0:
        raise InvalidMeshError("skeleton has no joints")
    if n_joints == 1:
        return np.ones((len(mesh.vertices), 1))
    verts, faces, inverse = weld_seams(mesh)
    # Square to the grid as the skeleton is built; weights are the same in any frame.
    verts, turn, plane = squared(verts)
    if turn is not None:
        skel = skel.turned(turn)
    forks = mirrored_forks(skel, plane) if opt.extend_forks else frozenset()
    # Nor on size and place: on a unit box, the ray casts' and the ties' tolerances hold for
    # a model in micrometres as for one in metres.
    centre, size = unit_box(verts)
    verts = (verts - centre) / size
    skel = skel.turned(np.eye(3) / size, -centre / size)
    # The heat solve and the passes over loose pieces share one labelling of the welded mesh.
    _, piece = pieces(len(verts), faces)
    if len(verts) > opt.max_solve_vertices:
        weights, aimed = _via_simplified(verts, faces, skel, opt, progress, solver, forks)
    else:
        weights, aimed = _solve(verts, faces, piece, skel, opt, progress, solver, forks)
    if opt.rigid_share <= 1.0:
        end_pieces = None
        if opt.end_piece_share <= 1.0:
            end_pieces = (verts, skel, opt.end_piece_share, aimed)
        weights = rigid_parts(weights, piece, opt.rigid_share, end_pieces)
    if opt.glue_ratio > 0 or opt.enclosed_share <= 1.0:
        from scipy.spatial import cKDTree

        # Both passes look for other pieces' vertices near a piece, in one tree.
        tree = cKDTree(verts)
        if opt.glue_ratio > 0:
            weights = glued_pieces(weights, tree, piece, skel, opt.glue_ratio)
        if opt.enclosed_share <= 1.0:
            weights = enclosing_shells(weights, tree, piece, skel, opt.enclosed_share)
    if opt.prop_touch > 0:
        weights = held_props(weights, verts, faces, piece, skel, opt.hub_children, opt.prop_touch)
    return weights[inverse]


def piece_sums(weights: FloatArray, labels: IntArray, n_parts: int) -> tuple[IntArray, FloatArray]:
    """Each piece's vertex count and the sum of its vertices' weights on each joint."""
    total = np.zeros((n_parts, weights.shape[1]))
    np.add.at(total, labels, weights)
    return np.bincount(labels, minlength=n_parts), total


def hands(skel: Skeleton, fan: int) -> list[tuple[list[int], int]]:
    """(fingers, palm) of each joint with `fan` or more children that start at one point
    away from it (fingers hung from the wrist, with no hand joint); the palm is the finger
    whose first bone carries on the arm's direction."""
    pos = skel.array()
    children = skel.children()
    out = []
    for hand, fingers in children.items():
        if len(fingers) < fan:
            continue
        wrist = pos[fingers].mean(axis=0)
        length = float(np.linalg.norm(wrist - pos[hand]))
        # The fingers start at one point, away from the hand joint: the arm runs to them.
        spread = float(np.linalg.norm(pos[fingers] - wrist, axis=1).max())
        if length <= 0 or spread > 0.1 * length:
            continue
        arm = (wrist - pos[hand]) / length
        palm, straightest = -1, -2.0
        for c in fingers:
            if c in children:
                way = pos[children[c][0]] - pos[c]
                cos = float(way @ arm) / max(float(np.linalg.norm(way)), 1e-12)
                if cos > straightest:
                    palm, straightest = c, cos
        if palm >= 0:
            out.append((fingers, palm))
    return out


def held_props(
    weights: FloatArray,
    verts: FloatArray,
    faces: IntArray,
    labels: IntArray,
    skel: Skeleton,
    fan: int,
    touch: float,
) -> FloatArray:
    """Touching loose pieces held in a hand move whole with its palm.

    A pistol of ten pieces in an astronaut's fist: nearest-bone heat gives its barrel to
    the index finger's tip, its hammer to the thumb and its grip to the index finger's
    root, and the gun comes apart when the fingers curl. In each of the `hands` (on the
    astronauts, the palm is the middle finger's root, to which the artists bound such
    props), pieces other than the body that hold weight only on the fingers, with no bone
    of their own joint running through them (a finger made as a piece of its own is a
    finger, not a prop), are grouped where they come within `touch` x the mesh's median
    edge of each other; a group of two or more pieces with weight on two or more fingers
    goes wholly to the palm.
    """
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import Delaunay, QhullError, cKDTree

    n_parts = int(labels.max()) + 1 if len(labels) else 0
    found = hands(skel, fan) if n_parts >= 3 else []
    if not found:
        return weights
    sizes, total = piece_sums(weights, labels, n_parts)
    main = total.argmax(axis=1)
    heads, tails, owner, _ = bone_segments(skel)
    middles = 0.5 * (heads + tails)
    edge = float(np.median(np.linalg.norm(verts[faces[:, 0]] - verts[faces[:, 1]], axis=1)))
    out = weights.copy()
    for fingers, palm in found:
        finger = np.full(len(skel.names), -1)
        for k, c in enumerate(fingers):
            finger[[c, *descendants(skel, c)]] = k
        on = np.stack([total[:, finger == k].sum(axis=1) for k in range(len(fingers))], axis=1)
        loose = (sizes <= 0.5 * len(verts)) & (on.sum(axis=1) >= (1 - 1e-6) * sizes)
        props = []
        for piece in np.nonzero(loose)[0].tolist():
            try:
                hull = Delaunay(verts[labels == piece])
                through = hull.find_simplex(middles[owner == main[piece]]) >= 0
            except QhullError:
                through = np.zeros(1, dtype=bool)
            if not through.any():
                props.append(piece)
        if len(props) < 2:
            continue
        rows = np.nonzero(np.isin(labels, props))[0]
        pairs = cKDTree(verts[rows]).query_pairs(touch * edge, output_type="ndarray")
        a, b = labels[rows[pairs[:, 0]]], labels[rows[pairs[:, 1]]]
        link = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n_parts, n_parts))
        _, group = connected_components(link, directed=False)
        for g in np.unique(group[props]):
            members = [c for c in props if group[c] == g]
            if len(members) >= 2 and ((on[members] > 1e-6).any(axis=0)).sum() >= 2:
                moved = np.isin(labels, members)
                out[moved] = 0.0
                out[moved, palm] = 1.0
    return out


def enclosing_shells(
    weights: FloatArray, tree: cKDTree, labels: IntArray, skel: Skeleton, share: float
) -> FloatArray:
    """A rigid shell round other pieces moves with the joint that the pieces inside it follow.

    A mech's foot is a shell over smaller foot pieces, and the shin's bone ends inside it:
    nearest-bone heat gives the whole shell to the shin, with no heat at all from the foot
    control the artist bound it to. The pieces the shell encloses tell what it belongs to:
    a piece bound wholly to a joint that lies outside its box, with vertices of other pieces
    inside its convex hull that hold at least `share` of their weight on one other joint, goes
    wholly to that joint. A piece whose own joint lies in it (a helmet round the head joint)
    keeps it.

    Each enclosed vertex votes with its weights, not only its largest: a shell may cover a
    handful of a blended body's vertices, and counted by largest weight one of them tipping
    from 0.49 to 0.51 moved the whole shell (the monsters' Goleling, its cheeks covering
    five vertices of its head, went to the torso when 5% of its faces were missing).
    """
    from scipy.spatial import Delaunay, QhullError

    verts = tree.data
    n_parts = int(labels.max()) + 1 if len(labels) else 0
    if n_parts < 2:
        return weights
    pos = skel.array()
    bound = weights.argmax(axis=1)
    rigid = weights.max(axis=1) >= 1.0 - 1e-9
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(n_parts + 1))
    out = weights.copy()
    for c in range(n_parts):
        rows = order[starts[c] : starts[c + 1]]
        if len(rows) > 0.5 * len(verts) or len(rows) < 4 or not rigid[rows].all():
            continue
        part = verts[rows]
        lo, hi = part.min(axis=0), part.max(axis=0)
        pad = 0.02 * float((hi - lo).max())
        own = int(bound[rows[0]])
        if np.all((pos[own] >= lo - pad) & (pos[own] <= hi + pad)):
            continue
        near = np.asarray(tree.query_ball_point(0.5 * (lo + hi), 0.5 * np.linalg.norm(hi - lo)))
        if len(near) == 0:
            continue
        cand = near[(labels[near] != c) & np.all((verts[near] >= lo) & (verts[near] <= hi), axis=1)]
        if not (bound[cand] != own).any():
            continue
        try:
            hull = Delaunay(part)
        except QhullError:
            continue
        inner = cand[hull.find_simplex(verts[cand]) >= 0]
        if len(inner) == 0:
            continue
        votes = weights[inner].sum(axis=0)
        best = int(votes.argmax())
        if best != own and votes[best] >= share * len(inner):
            out[rows] = 0.0
            out[rows, best] = 1.0
    return out


def glued_pieces(
    weights: FloatArray, tree: cKDTree, labels: IntArray, skel: Skeleton, ratio: float
) -> FloatArray:
    """A loose piece far from every bone that lies on another piece moves with that piece.

    Bolts, plates and eyes on a big head sit far from the head's one bone, and nearest-bone
    heat gives them to whatever bone passes nearer (an arm beside the head); the artist glued
    them to the head. A piece is glued when its nearest bone is farther than `ratio` x its own
    size and another piece is less than half that far: it takes, whole, the weights of that
    piece's nearest vertex.
    """
    verts = tree.data
    n_parts = int(labels.max()) + 1 if len(labels) else 0
    if n_parts < 2:
        return weights
    heads, tails, _, _ = bone_segments(skel)
    out = weights.copy()
    sizes = np.bincount(labels, minlength=n_parts)
    for c in range(n_parts):
        rows = np.nonzero(labels == c)[0]
        if sizes[c] > 0.5 * len(verts):
            continue
        part = verts[rows]
        span = float(np.linalg.norm(part.max(axis=0) - part.min(axis=0)))
        d, _ = segment_distances(part, heads, tails)
        bone = float(d.min())
        if bone <= ratio * span:
            continue
        k = min(len(verts), len(rows) + 16)
        dd, ii = tree.query(part, k=k)
        other = labels[ii] != c
        dd = np.where(other, dd, np.inf)
        best = np.unravel_index(np.argmin(dd), dd.shape)
        if not np.isfinite(dd[best]) or dd[best] > 0.5 * bone:
            continue
        out[rows] = weights[ii[best]]
    return out


def rigid_parts(
    weights: FloatArray,
    labels: IntArray,
    share: float,
    end_pieces: tuple[FloatArray, Skeleton, float, frozenset[int]] | None = None,
) -> FloatArray:
    """Bind each loose part (a robot's plate, a helmet, an eye) wholly to its main joint.

    `labels` is each vertex's piece (`geometry.pieces`), here as in the other piece passes.

    Artists bind a separate rigid piece to one bone; blended weights would bend a plate. A
    part is any connected piece but the body (a piece holding over half the vertices), and
    it goes rigid when one joint holds at least `share` of its weight; a piece that spans a
    joint (a sleeve over an elbow) stays blended. With `end_pieces` (vertices, skeleton, s,
    aimed), a piece whose main joint lies outside it but that holds an end joint (no
    children, or a control of its own tree) with at least s of its weight goes to that end
    joint: a shoe or a mech's foot piece sits round the end of the shin's bone and takes
    half its heat from it, but the artist bound it to the foot. A joint in `aimed`, whose
    end bone runs on to a foot's control, is a knee, not the end of its limb: a plate round
    it stays with the thigh.
    """
    n_parts = int(labels.max()) + 1 if len(labels) else 0
    if n_parts < 2:
        return weights
    sizes, total = piece_sums(weights, labels, n_parts)
    main = total.argmax(axis=1)
    rigid = (sizes <= 0.5 * len(weights)) & (
        total[np.arange(n_parts), main] >= share * total.sum(axis=1)
    )
    if end_pieces is not None:
        verts, skel, least, aimed = end_pieces
        pos = skel.array()
        parents = np.asarray(skel.parents)
        is_end = ~np.isin(np.arange(len(pos)), parents) | (parents < 0)
        is_end[list(aimed)] = False
        for c in np.nonzero(rigid)[0]:
            part = verts[labels == c]
            lo, hi = part.min(axis=0), part.max(axis=0)
            pad = 0.02 * float((hi - lo).max())
            held = np.all((pos >= lo - pad) & (pos <= hi + pad), axis=1)
            if held[main[c]]:
                continue
            ends = np.nonzero(held & is_end & (total[c] >= least * total[c].sum()))[0]
            if len(ends):
                main[c] = ends[np.argmax(total[c, ends])]
    out = weights.copy()
    rows = np.nonzero(rigid[labels])[0]
    out[rows] = 0.0
    out[rows, main[labels[rows]]] = 1.0
    return out


def _solve(
    verts: FloatArray,
    faces: IntArray,
    labels: IntArray,
    skel: Skeleton,
    opt: SkinOptions,
    progress: Progress | None,
    solver: Solver | None = None,
    forks: frozenset[int] = frozenset(),
) -> tuple[FloatArray, frozenset[int]]:
    """Bone-heat weights of a welded mesh whose vertices' pieces are `labels`, and the end
    joints whose end bone was aimed at a control (`aim_at_controls`)."""
    n_joints = len(skel.names)
    heads, tails, owner, end = bone_segments(skel, forks)
    to_controls: frozenset[int] = frozenset()
    if opt.hub_reach < 1.0:
        tails = trim_hubs(heads, tails, owner, opt.hub_children, opt.hub_reach)
    if opt.flesh_bones:
        # After the hubs are trimmed: the bone makes no joint a hub, and runs its whole way.
        more = flesh_bones(skel, verts)
        heads, tails = np.vstack([heads, more[0]]), np.vstack([tails, more[1]])
        owner = np.concatenate([owner, more[2]])
        end = np.concatenate([end, np.zeros(len(more[2]), dtype=bool)])
    # The grids and the ways through the body need an inside: holes capped, once for both.
    closed = cap_holes(verts, faces)
    if opt.min_inside > 0 or opt.stretch_ends or opt.aim_ends or opt.level_controls:
        inside, near = body_grids(*closed, margin=opt.near_margin)
        stretch = end.copy()
        if opt.aim_ends and end.any():
            aimed, owner = aim_at_controls(skel, heads, tails, owner, inside)
            turned = (aimed != tails).any(axis=1)
            to_controls = frozenset(int(j) for j in owner[turned])
            stretch &= ~turned
            tails = aimed
        if opt.level_controls and end.any():
            levelled = level_controls(skel, verts, heads, tails, owner, end, inside)
            stretch &= ~(levelled != tails).any(axis=1)
            tails = levelled
        if opt.stretch_ends and stretch.any():
            others = None
            if opt.stop_near > 0:
                # Another joint's bone, but for the end's own and its parent's.
                idx = np.nonzero(stretch)[0]
                up = np.asarray(skel.parents)[owner[idx]]
                mask = (owner[None, :] != owner[idx][:, None]) & (owner[None, :] != up[:, None])
                # A fork's reach runs between its children's chains (a head's up between
                # its ears): they do not stop it.
                for row, j in enumerate(owner[idx]):
                    if int(j) in forks:
                        mask[row] &= ~np.isin(owner, descendants(skel, int(j)))
                others = (heads, tails.copy(), mask & ~end[None, :], opt.stop_near)
            tails[stretch] = reach_surface(inside, heads[stretch], tails[stretch], others=others)
    if opt.min_inside > 0:
        # An end joint's segment is an extension past the joint (out of a toe or a fingertip):
        # only the joint itself has to lie in the body.
        probe = np.where(end[:, None], heads, tails)
        keep = inside_fraction(inside, heads, probe) >= opt.min_inside
        # An end joint in a thin part (a wing, a foot on the ground) may miss the coarse
        # grid's inside voxels; next to the body, it is no bone through the air.
        keep[end] |= near(heads[end])
        # A bone from a joint off the body (a root on the ground between the feet) is no
        # bone of it, however much of its way to a foot runs through that foot. A root has to
        # lie in the body itself: one on the ground within a voxel of the shoes, its bones up
        # the inner legs to the hips, deforms nothing either.
        if opt.drop_off_body:
            keep[~end] &= near(heads[~end])
            root = ~end & (np.asarray(skel.parents)[owner] < 0)
            keep[root] &= inside(heads[root])
        if keep.any():
            heads, tails, owner = heads[keep], tails[keep], owner[keep]
    if solver is not None:
        weights = solver(verts, faces, heads, tails, owner, n_joints)
        return limit_influences(weights, opt.max_influences, opt.prune_below), to_controls
    if progress:
        progress(20.0, "finding visible bones")
    dist, closest = segment_distances(verts, heads, tails)
    visible = _visibility(verts, faces, dist, closest, opt.candidates)
    # Each vertex takes heat from its nearest visible bone (ties share it), as in Pinocchio.
    vis_dist = np.where(visible, dist, np.inf)
    nearest = vis_dist.min(axis=1)
    seen = np.isfinite(nearest)
    # A part that sees no bone at all (a closed shell around nothing) falls back to plain nearest.
    lit = np.zeros(int(labels.max()) + 1, dtype=bool)
    lit[labels[seen]] = True
    fallback = ~lit[labels]
    nearest = np.where(fallback, dist.min(axis=1), nearest)
    vis_dist = np.where(fallback[:, None], dist, vis_dist)
    seen = seen | fallback
    ties = (vis_dist <= nearest[:, None] * 1.0001 + 1e-12) & seen[:, None]
    target = np.zeros((len(verts), n_joints))
    for b in range(len(owner)):
        target[:, owner[b]] += ties[:, b]
    target /= np.maximum(target.sum(axis=1, keepdims=True), 1e-12)
    if opt.gap_ratio > 0:
        paths = BodyPaths(verts, closed, heads, tails, owner, n_joints, opt.voxel_resolution)
        target = across_gaps(target, paths, opt.gap_ratio)
    h = np.where(seen, opt.heat / np.maximum(nearest, 1e-9) ** 2, 0.0)
    if progress:
        progress(40.0, "solving heat diffusion")
    weights = _diffuse(verts, faces, h, target, progress)
    weights = np.clip(weights, 0.0, None)
    empty = weights.sum(axis=1) < 1e-9
    weights[empty] = target[empty]
    return limit_influences(weights, opt.max_influences, opt.prune_below), to_controls


def across_gaps(target: FloatArray, paths: BodyPaths, ratio: float) -> FloatArray:
    """Give a vertex to the joint nearest through the body where its nearest bone is across a gap.

    The nearest visible bone is a straight-line choice: the middle of a wasp's bent leg sees
    the next segment's bone across the bend, a frog's hind foot the front shin that rests on
    it, and heat leaks from one part to the other. Where the chosen bone is more than `ratio`
    x farther the way through the body than the joint nearest that way, the vertex takes its
    heat from the latter (ties share it). A vertex of a piece no bone reaches through the
    body keeps its choice.
    """
    best, near = paths.nearest()
    chosen = np.full(len(target), np.inf)
    for j in np.nonzero(target.any(axis=0))[0]:
        mine = (target[:, j] > 0) & np.isfinite(best)
        if mine.any():
            # Only whether the way is within ratio x the best matters: the search stops there.
            way = paths.from_joint(int(j), ratio * float(best[mine].max()))
            chosen[mine] = np.minimum(chosen[mine], way[mine])
    swap = np.isfinite(best) & (chosen > ratio * best)
    out = target.copy()
    out[swap] = near[swap]
    return out


class BodyPaths:
    """Shortest ways through a body's solid voxels from each joint's bones to every vertex.

    The body, a closed mesh (`closed`, see `cap_holes`), is voxelised solid, 26 neighbours
    to a voxel. A joint's ways start from the
    voxels its bones pass through (the nearest solid voxel for a bone wholly in the air), and
    reach a vertex at its nearest solid voxel plus the step from there: round through the
    body, not through the air between two legs. A bulky body (a platformer creature's ball)
    fills the grid, and every search visits each voxel it reaches once: past `max_voxels`
    solid voxels a coarser grid keeps to about that many.
    """

    def __init__(
        self,
        verts: FloatArray,
        closed: tuple[FloatArray, IntArray],
        heads: FloatArray,
        tails: FloatArray,
        owner: IntArray,
        n_joints: int,
        resolution: int,
        max_voxels: int = 100_000,
    ) -> None:
        v, f = closed
        solid, origin, pitch = voxelise(v, f, resolution)
        filled = int(solid.sum())
        if filled > max_voxels:
            coarser = max(16, int(resolution * (max_voxels / filled) ** (1 / 3)))
            solid, origin, pitch = voxelise(v, f, coarser)
        shape = np.array(solid.shape)
        index = np.full(solid.shape, -1, dtype=np.int64)
        cells = np.argwhere(solid)
        index[tuple(cells.T)] = np.arange(len(cells))
        rows, cols, lengths = [], [], []
        for step in np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).reshape(3, -1).T:
            if tuple(step) <= (0, 0, 0):
                continue  # each of the 13 forward directions once; the graph is undirected
            nb = cells + step
            ok = np.all((nb >= 0) & (nb < shape), axis=1)
            other = np.full(len(cells), -1)
            other[ok] = index[tuple(nb[ok].T)]
            ok = other >= 0
            rows.append(np.nonzero(ok)[0])
            cols.append(other[ok])
            lengths.append(np.full(int(ok.sum()), pitch * float(np.linalg.norm(step))))
        self.graph = sparse.coo_matrix(
            (np.concatenate(lengths), (np.concatenate(rows), np.concatenate(cols))),
            shape=(len(cells), len(cells)),
        ).tocsr()
        snap = nearest_solid(solid, origin, pitch)
        snapped = snap(verts)
        self.vertex_cell = index[tuple(snapped.T)]
        self.offset = np.linalg.norm(verts - (origin + (snapped + 0.5) * pitch), axis=1)
        self.n_joints = n_joints
        self.sources: dict[int, IntArray] = {}
        for j in np.unique(owner):
            pts = sample_segments(heads[owner == j], tails[owner == j], 0.5 * pitch)
            idx = np.clip(np.floor((pts - origin) / pitch).astype(int), 0, shape - 1)
            on_bone = index[tuple(idx.T)]
            on_bone = on_bone[on_bone >= 0]
            self.sources[int(j)] = np.unique(on_bone if len(on_bone) else index[tuple(snap(pts).T)])

    def from_joint(self, joint: int, limit: float = np.inf) -> FloatArray:
        """Each vertex's way to the joint's bones; inf past `limit`, unreached, or no bones."""
        from scipy.sparse.csgraph import dijkstra

        if joint not in self.sources:
            return np.full(len(self.vertex_cell), np.inf)
        dist = dijkstra(
            self.graph, directed=False, indices=self.sources[joint], min_only=True, limit=limit
        )
        return np.asarray(dist[self.vertex_cell] + self.offset)

    def nearest(self) -> tuple[FloatArray, FloatArray]:
        """Each vertex's way to its nearest joint, and (V, J) shares of the joints that near
        (ties share; a vertex no bone reaches has inf and no joint)."""
        from scipy.sparse.csgraph import dijkstra

        if not self.sources:
            return np.full(len(self.vertex_cell), np.inf), np.zeros(
                (len(self.vertex_cell), self.n_joints)
            )
        nodes = np.concatenate(list(self.sources.values()))
        joints = np.concatenate([np.full(len(n), j) for j, n in self.sources.items()])
        start = np.unique(nodes)
        dist, _, source = dijkstra(
            self.graph, directed=False, indices=start, min_only=True, return_predecessors=True
        )
        # Which joints each starting voxel belongs to (a joint's voxel is on both its bones).
        member = sparse.coo_matrix(
            (np.ones(len(nodes)), (nodes, joints)), shape=(self.graph.shape[0], self.n_joints)
        ).tocsr()
        from_cell = source[self.vertex_cell]
        reached = from_cell >= 0
        shares = np.zeros((len(self.vertex_cell), self.n_joints))
        shares[reached] = (member[from_cell[reached]].toarray() > 0).astype(np.float64)
        shares[reached] /= shares[reached].sum(axis=1, keepdims=True)
        best = np.where(reached, dist[self.vertex_cell] + self.offset, np.inf)
        return best, shares


def _via_simplified(
    verts: FloatArray,
    faces: IntArray,
    skel: Skeleton,
    opt: SkinOptions,
    progress: Progress | None,
    solver: Solver | None = None,
    forks: frozenset[int] = frozenset(),
) -> tuple[FloatArray, frozenset[int]]:
    """Solve on a simplified copy and carry the weights back to every original vertex.

    The heat system of a million-vertex mesh does not factor in reasonable memory; weights
    vary smoothly, so solving on ~max_solve_vertices and interpolating loses little.
    """
    import fast_simplification
    from scipy.spatial import cKDTree

    pts, tris = fast_simplification.simplify(
        verts.astype(np.float32),
        faces.astype(np.int32),
        target_reduction=max(0.0, 1.0 - opt.max_solve_vertices / len(faces)),
    )
    coarse, coarse_faces, _ = weld_seams(
        Mesh(vertices=np.asarray(pts, dtype=np.float64), faces=np.asarray(tris, np.int64))
    )
    small, aimed = _solve(
        coarse,
        coarse_faces,
        pieces(len(coarse), coarse_faces)[1],
        skel,
        opt,
        progress,
        solver,
        forks,
    )
    dist, idx = cKDTree(coarse).query(verts, k=4)
    inv = 1.0 / np.maximum(dist, 1e-12) ** 2
    blended = np.einsum("vk,vkj->vj", inv / inv.sum(axis=1, keepdims=True), small[idx])
    return limit_influences(blended, opt.max_influences, opt.prune_below), aimed


def _visibility(
    verts: FloatArray, faces: IntArray, dist: FloatArray, closest: FloatArray, k: int
) -> np.ndarray:
    """Mark (vertex, bone) pairs whose straight segment crosses no surface (real ray casts)."""
    import trimesh

    tm = trimesh.Trimesh(verts, faces, process=False)
    order = np.argsort(dist, axis=1)[:, : min(k, dist.shape[1])]
    rows = np.repeat(np.arange(len(verts)), order.shape[1])
    cols = order.reshape(-1)
    target = closest[rows, cols]
    vec = target - verts[rows]
    length = np.linalg.norm(vec, axis=1)
    direction = vec / np.maximum(length, 1e-12)[:, None]
    eps = 1e-4 * float(np.linalg.norm(verts.max(axis=0) - verts.min(axis=0)))
    origins = verts[rows] + direction * eps
    hit_points, ray_ids, _ = tm.ray.intersects_location(origins, direction, multiple_hits=False)
    blocked = np.zeros(len(rows), dtype=bool)
    if len(ray_ids):
        hit_d = np.linalg.norm(hit_points - origins[ray_ids], axis=1)
        blocked[ray_ids] = hit_d < (length[ray_ids] - 2 * eps)
    visible = np.zeros(dist.shape, dtype=bool)
    visible[rows, cols] = ~blocked
    return visible


def _diffuse(
    verts: FloatArray,
    faces: IntArray,
    h: FloatArray,
    target: FloatArray,
    progress: Progress | None,
) -> FloatArray:
    import robust_laplacian

    lap, mass = robust_laplacian.mesh_laplacian(
        np.ascontiguousarray(verts), np.ascontiguousarray(faces)
    )
    mh = sparse.diags(mass.diagonal() * h)
    # Isolated vertices (in no face) still need a row; a tiny diagonal keeps the system regular.
    system = (lap + mh + sparse.eye(len(verts)) * 1e-12).tocsc()
    solver = splu(system)
    rhs = mh @ target
    active = np.nonzero(target.any(axis=0))[0]
    out = np.zeros_like(target)
    for n, j in enumerate(active):
        out[:, j] = solver.solve(rhs[:, j])
        if progress:
            progress(40.0 + 50.0 * (n + 1) / len(active), "solving heat diffusion")
    return out


def limit_influences(weights: FloatArray, max_influences: int, prune_below: float) -> FloatArray:
    """Keep the strongest influences per vertex, drop tiny ones and renormalise each row."""
    k = min(max_influences, weights.shape[1])
    top = np.argpartition(-weights, k - 1, axis=1)[:, :k]
    rows = np.arange(len(weights))[:, None]
    out = np.zeros_like(weights)
    out[rows, top] = weights[rows, top]
    total = out.sum(axis=1, keepdims=True)
    out = np.where(out / np.maximum(total, 1e-12) < prune_below, 0.0, out)
    best = weights.argmax(axis=1)
    empty = out.sum(axis=1) <= 0
    out[empty, best[empty]] = 1.0
    return np.asarray(out / out.sum(axis=1, keepdims=True), dtype=np.float64)
