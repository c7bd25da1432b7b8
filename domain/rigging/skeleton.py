"""Curve-skeleton rigging: voxelise, thin, turn the thinned voxels into a named joint tree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

import msgspec
import numpy as np
from scipy import ndimage

from domain.rigging.error import InvalidMeshError
from domain.rigging.geometry import pieces, surface_points, unique_rows, unit_box, weld
from domain.rigging.model import FloatArray, IntArray, Mesh, Progress, Skeleton, parent_first


class SkeletonOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Tuning of skeleton extraction; the defaults are what the benchmark measures."""

    resolution: int = 88
    simplify_faces: int = 30_000
    prune_ratio: float = 2.2
    spacing: float = 0.08
    bend: float = 0.015
    bend_growth: float = 1.1
    waist: float = 0.8
    min_branch: float = 0.06
    joint_budget: int = 50
    leaf_base: float = 2.0
    symmetry: float = 0.02
    rigid_pieces: bool = True
    ball: float = 0.18
    ball_bumps: float = 1.0
    tunnel: float = 10.0


RadiusAt = Callable[[FloatArray], float]

# Heights of a ball-shaped body's column joints, in ball radii from its centre (Y up).
BALL_COLUMN = np.array([-1.2, -0.533, 0.133, 0.8])


def _xyz(p: FloatArray) -> tuple[float, float, float]:
    return (float(p[0]), float(p[1]), float(p[2]))


@dataclass
class _Chain:
    a: int
    b: int
    pts: FloatArray  # polyline from node a to node b, endpoints included


@dataclass
class _Graph:
    nodes: list[FloatArray] = field(default_factory=list)
    chains: list[_Chain] = field(default_factory=list)
    dead: set[int] = field(default_factory=set)

    def degree(self) -> dict[int, int]:
        deg: dict[int, int] = {}
        for c in self.chains:
            deg[c.a] = deg.get(c.a, 0) + 1
            deg[c.b] = deg.get(c.b, 0) + 1
        return deg


def build_skeleton(
    mesh: Mesh, options: SkeletonOptions | None = None, progress: Progress | None = None
) -> Skeleton:
    """Generate a named joint tree for any closed or open mesh, within the joint budget."""
    opt = options or SkeletonOptions()
    if opt.joint_budget < 1:
        raise InvalidMeshError("joint budget must be at least 1")
    # Rigged on a unit box, then scaled back: a model in millimetres or in metres goes through
    # the same numbers (simplification works in float32, and ties fall the same way).
    middle, size = unit_box(mesh.vertices[np.unique(mesh.faces)])
    unit = Mesh(vertices=(mesh.vertices - middle) / size, faces=mesh.faces)
    verts, faces = cap_holes(*_simplified(unit, opt.simplify_faces))
    # A character turned on the spot is rigged as if it faced an axis, then turned back.
    verts, turn, plane = squared(verts, opt.symmetry)
    if progress:
        progress(20.0, "voxelising")
    solid, origin, pitch = voxelise(verts, faces, opt.resolution)
    if progress:
        progress(40.0, "thinning")
    depth = ndimage.distance_transform_edt(solid)
    thin = _thin(solid, depth)
    dist = depth * pitch
    if not thin.any():
        thin = np.zeros_like(solid)
        thin[tuple(np.argwhere(solid).mean(axis=0).astype(int))] = True
    if progress:
        progress(60.0, "building the joint graph")
    graph = _voxel_graph(thin, origin, pitch)
    radius_at = _sampler(dist, origin, pitch)
    centre = origin + (np.argwhere(solid).mean(axis=0) + 0.5) * pitch
    piece_of = _piece_finder(verts, faces) if opt.rigid_pieces else None
    extent = float((verts.max(axis=0) - verts.min(axis=0)).max())
    prune = opt.prune_ratio
    spacing = opt.spacing * extent
    bend = opt.bend * extent
    for _ in range(40):
        g = _copy(graph)
        _prune(g, radius_at, prune, max(2.0 * pitch, opt.min_branch * extent))
        _merge_close(g, radius_at, 1.5 * pitch)
        _connect_components(g)
        root = _split_at_closest(g, centre, 2.5 * pitch)
        skel = _joint_tree(g, root, spacing, bend, radius_at, opt)
        if piece_of is not None:
            skel = rigid_pieces(skel, piece_of(skel.array()))
        if len(skel.names) <= opt.joint_budget:
            break
        # Over budget: fewer joints along chains first (wider spacing, and only the sharper
        # bends: a spider's eight legs are all bends), then fewer side branches.
        spacing *= 1.25
        bend *= opt.bend_growth
        if spacing > extent:
            prune *= 1.3
    if opt.ball > 0:
        centre, radius = largest_ball(depth, origin, pitch)
        if radius >= opt.ball * extent:
            skel = ball_column(skel, centre, radius, opt.ball_bumps)
    if len(skel.names) > opt.joint_budget:
        skel = _truncate(skel, opt.joint_budget)
    if opt.leaf_base > 0:
        # Only from the budget left over: a part's root joint never costs a limb.
        skel = leaf_bases(skel, verts, opt.leaf_base, opt.joint_budget - len(skel.names))
    if plane is not None:
        skel = symmetrise(skel, plane, 0.1 * extent)
    if turn is not None:
        skel = skel.turned(turn.T)
    skel = skel.turned(np.eye(3) * size, middle)
    if progress:
        progress(80.0, f"skeleton has {len(skel.names)} joints")
    return skel


def _simplified(mesh: Mesh, target: int) -> tuple[FloatArray, IntArray]:
    v, f = mesh.vertices, mesh.faces
    if len(f) <= target:
        return v, f
    import fast_simplification

    pts, tris = fast_simplification.simplify(
        v.astype(np.float32), f.astype(np.int32), target_reduction=1.0 - target / len(f)
    )
    return np.asarray(pts, dtype=np.float64), np.asarray(tris, dtype=np.int64)


def cap_holes(verts: FloatArray, faces: IntArray) -> tuple[FloatArray, IntArray]:
    """Close every boundary loop with a fan to its centroid, so open meshes have an inside.

    Loops are walked over undirected border edges: holes that touch at a vertex (two missing
    triangles sharing a corner) and borders of faces wound the other way close as well. A
    border that stops short of closing (an edge of the hole has a third face, as where an
    inner part is glued on) is capped as if its ends were joined: left open, one such hole
    let the voxel fill leak out of a whole body.
    """
    # Seams split vertices without opening the surface; weld them so they are not holes.
    v, f, _ = weld(verts, faces, 1e-6)
    # A face given twice (double-sided cloth, a careless export) would hide the border it
    # lies on: each of its edges would count as shared.
    f = f[np.sort(unique_rows(np.sort(f, axis=1))[0])]
    # A vertex no face uses (left over by an editor) would only stretch the box.
    used = np.unique(f)
    v, f = v[used], np.searchsorted(used, f)
    half = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    undirected = np.sort(half, axis=1)
    _, inv, counts = unique_rows(undirected)
    border = undirected[counts[inv.reshape(-1)] == 1]
    if len(border) == 0:
        return v, f
    ends: dict[int, list[int]] = {}
    for e, (a, b) in enumerate(border.tolist()):
        ends.setdefault(a, []).append(e)
        ends.setdefault(b, []).append(e)
    walked = np.zeros(len(border), dtype=bool)
    caps: list[list[int]] = []
    centres: list[FloatArray] = []
    # A border that does not close ends at vertices with an odd number of border edges; it
    # is walked from one of them, whole, before the loops.
    dead_ends = {x for x, es in ends.items() if len(es) % 2}
    at_dead_end = [e for e, (a, b) in enumerate(border.tolist()) if {a, b} & dead_ends]
    for e0 in at_dead_end + list(range(len(border))):
        if walked[e0]:
            continue
        start, cur = (int(x) for x in border[e0])
        if cur in dead_ends and start not in dead_ends:
            start, cur = cur, start
        walked[e0] = True
        loop = [start]
        while cur != start:
            e = next((e for e in ends[cur] if not walked[e]), -1)
            if e < 0:
                break
            walked[e] = True
            loop.append(cur)
            a, b = border[e]
            cur = int(b if a == cur else a)
        if cur != start:
            loop.append(cur)
        if len(loop) < 3:
            continue
        centre = len(v) + len(centres)
        centres.append(v[loop].mean(axis=0))
        caps.extend([b, a, centre] for a, b in zip(loop, loop[1:] + loop[:1], strict=True))
    if not caps:
        return v, f
    return np.vstack([v, *centres]), np.vstack([f, np.asarray(caps, dtype=np.int64)])


def voxelise(
    verts: FloatArray, faces: IntArray, resolution: int
) -> tuple[np.ndarray, FloatArray, float]:
    """Return a solid occupancy grid of the mesh (surface + filled inside), its origin and pitch."""
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    pitch = float((hi - lo).max()) / resolution
    # Three spare voxels round the box, and a thousandth of a voxel more: the box's faces (and
    # a low-poly model's round coordinates) would otherwise lie on voxel walls, and rounding
    # would put them on one side or the other as the model is scaled or moved.
    origin = lo - 3.001 * pitch
    shape = tuple(np.ceil((hi - lo) / pitch).astype(int) + 7)
    surface = np.zeros(shape, dtype=bool)
    for pts in surface_points(verts, faces, 0.5 * pitch):
        idx = np.floor((pts - origin) / pitch).astype(int)
        surface[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    solid = surface
    # Small holes would let the fill leak; closing them with a growing dilation keeps the
    # inside of nearly-closed meshes, and an open sheet falls back to its thickened surface.
    for k in range(0, 4):
        shell = ndimage.binary_dilation(surface, iterations=k) if k else surface
        filled = ndimage.binary_fill_holes(shell)
        if filled.sum() > 1.2 * shell.sum():
            solid = ndimage.binary_erosion(filled, iterations=k) | surface if k else filled
            break
    else:
        solid = ndimage.binary_dilation(surface, iterations=1)
    return solid, origin, pitch


def _thin(solid: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """3D thinning that keeps every limb, patching lost limbs from mirrored-grid thinnings.

    Lee's sequential thinning can eat a limb two or three voxels thick entirely, depending
    on the scan order; thinning the mirrored grid scans the other way and keeps that limb.
    """
    from skimage.morphology import skeletonize

    reach = int(np.ceil(depth.max()))
    # Thickness of the part around each voxel: the largest inscribed-ball radius nearby.
    local = ndimage.grey_dilation(depth, size=(2 * reach + 1,) * 3)
    thin: np.ndarray = np.asarray(skeletonize(solid), dtype=np.bool_)  # type: ignore[no-untyped-call]
    for axis in range(3):
        far = ndimage.distance_transform_edt(~thin) if thin.any() else np.full(solid.shape, 1e9)
        # Solid voxels much farther from the curve than their part is thick lie in a lost limb.
        if not ((far > 2.0 * local + 3.0) & solid).any():
            break
        mirrored = skeletonize(np.flip(solid, axis))  # type: ignore[no-untyped-call]
        other = np.flip(np.asarray(mirrored, dtype=np.bool_), axis)
        thin |= other & (far > local + 2.0)
    far = ndimage.distance_transform_edt(~thin) if thin.any() else np.full(solid.shape, 1e9)
    lost = (far > 2.0 * local + 3.0) & solid
    if lost.any():
        # Plates and blobs thin away to nothing; their centre becomes a point of the skeleton.
        labels, _ = ndimage.label(lost, structure=np.ones((3, 3, 3), dtype=bool))
        for i, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is None:
                continue
            pts = np.argwhere(labels[box] == i) + np.array([b.start for b in box])
            if len(pts) >= 8:
                centre = pts[np.argmin(np.linalg.norm(pts - pts.mean(axis=0), axis=1))]
                thin[tuple(centre)] = True
    return thin


def _sampler(dist: np.ndarray, origin: FloatArray, pitch: float) -> RadiusAt:
    top = np.array(dist.shape) - 1

    def radius_at(p: FloatArray) -> float:
        idx = np.clip(np.floor((p - origin) / pitch).astype(int), 0, top)
        return float(dist[idx[0], idx[1], idx[2]])

    return radius_at


def _voxel_graph(thin: np.ndarray, origin: FloatArray, pitch: float) -> _Graph:
    """Split thinned voxels into key nodes (ends, junction clusters) and the paths between."""
    cube = np.ones((3, 3, 3), dtype=bool)
    count = ndimage.convolve(thin.astype(np.int16), cube.astype(np.int16), mode="constant") - 1
    key = thin & (count != 2)
    path = thin & ~key
    key_lab, n_key = ndimage.label(key, structure=cube)
    path_lab, _n_path = ndimage.label(path, structure=cube)
    g = _Graph()
    centres = ndimage.center_of_mass(key, key_lab, range(1, n_key + 1)) if n_key else []
    g.nodes = [origin + (np.asarray(c) + 0.5) * pitch for c in centres]
    # Key labels around every voxel, to find which key nodes each path touches.
    near_key = [
        ndimage.maximum_filter(key_lab, footprint=cube, mode="constant"),
        -ndimage.maximum_filter(
            -np.where(key, key_lab, n_key + 1), footprint=cube, mode="constant"
        ),
    ]
    slices = ndimage.find_objects(path_lab)
    for label, box in enumerate(slices, start=1):
        if box is None:
            continue
        local = path_lab[box] == label
        coords = np.argwhere(local) + np.array([s.start for s in box])
        ends: list[int] = []
        touch: dict[int, int] = {}
        for k, c in enumerate(coords):
            t = tuple(c)
            for lab in {int(near_key[0][t]), int(near_key[1][t])}:
                if 1 <= lab <= n_key and lab - 1 not in touch:
                    touch[lab - 1] = k
                    ends.append(lab - 1)
        pos = origin + (coords + 0.5) * pitch
        if not ends:
            node = len(g.nodes)
            g.nodes.append(pos[0])
            order = _ring_order(coords)
            g.chains.append(_Chain(node, node, np.vstack([pos[order], pos[0]])))
            continue
        a = ends[0]
        order = _path_order(coords, touch[a])
        b = ends[1] if len(ends) > 1 else a
        if a == b and len(coords) < 4:
            continue
        g.chains.append(_Chain(a, b, np.vstack([g.nodes[a], pos[order], g.nodes[b]])))
        # A path touching three key nodes is a junction the counting missed; rare, and the
        # extra node stays joined through its own chain.
        for extra in ends[2:]:
            k = touch[extra]
            g.chains.append(_Chain(extra, b, np.vstack([g.nodes[extra], pos[k], g.nodes[b]])))
    # Key clusters that touch directly (no path voxel between) are joined by a short chain.
    if n_key > 1:
        shifted = ndimage.maximum_filter(key_lab, footprint=cube, mode="constant")
        pairs = {
            (int(min(x, y)), int(max(x, y)))
            for x, y in zip(key_lab[key], shifted[key], strict=True)
            if x != y and y > 0
        }
        for x, y in pairs:
            g.chains.append(_Chain(x - 1, y - 1, np.vstack([g.nodes[x - 1], g.nodes[y - 1]])))
    if not g.nodes:
        g.nodes.append(origin + (np.argwhere(thin).mean(axis=0) + 0.5) * pitch)
    return g


def _ring_order(coords: IntArray) -> IntArray:
    """Order a closed thin voxel loop by walking round it (breadth-first would zigzag)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(coords)
    order, seen = [0], {0}
    while len(order) < len(coords):
        near = [int(i) for i in tree.query_ball_point(coords[order[-1]], 1.8) if i not in seen]
        if not near:
            break
        step = min(near, key=lambda i: float(np.abs(coords[i] - coords[order[-1]]).sum()))
        order.append(step)
        seen.add(step)
    return np.asarray(order, dtype=np.int64)


def _path_order(coords: IntArray, start: int) -> IntArray:
    """Order a thin voxel path by breadth-first distance from one of its ends."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path
    from scipy.spatial import cKDTree

    pairs = cKDTree(coords).query_pairs(1.8, output_type="ndarray")
    n = len(coords)
    if len(pairs) == 0:
        return np.arange(n)
    adj = csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    dist = shortest_path(adj, directed=False, unweighted=True, indices=start)
    dist[~np.isfinite(dist)] = dist[np.isfinite(dist)].max() + 1
    return np.argsort(dist, kind="stable")


def _copy(g: _Graph) -> _Graph:
    return _Graph(
        nodes=list(g.nodes), chains=[_Chain(c.a, c.b, c.pts) for c in g.chains], dead=set(g.dead)
    )


def _length(pts: FloatArray) -> float:
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


def _prune(g: _Graph, radius_at: RadiusAt, ratio: float, min_len: float) -> None:
    """Drop end branches shorter than ratio x the thickness where they leave the body."""
    changed = True
    while changed:
        changed = False
        deg = g.degree()
        order = sorted(range(len(g.chains)), key=lambda i: _length(g.chains[i].pts))
        for i in order:
            c = g.chains[i]
            if c.a == c.b:
                continue
            for leaf, hub in ((c.a, c.b), (c.b, c.a)):
                if deg.get(leaf, 0) == 1 and deg.get(hub, 0) >= 3:
                    limit = max(ratio * radius_at(g.nodes[hub]), min_len)
                    if _length(c.pts) < limit:
                        g.chains.pop(i)
                        g.dead.add(leaf)
                        _dissolve(g, hub)
                        changed = True
                        break
            if changed:
                break
    for node in range(len(g.nodes)):
        _dissolve(g, node)


def _dissolve(g: _Graph, node: int) -> None:
    """Join the two chains of a node left with exactly two, so it stops being a joint."""
    touching = [i for i, c in enumerate(g.chains) if node in (c.a, c.b)]
    if len(touching) != 2:
        return
    c1, c2 = g.chains[touching[0]], g.chains[touching[1]]
    if c1.a == c1.b or c2.a == c2.b:
        return
    p1 = c1.pts if c1.b == node else c1.pts[::-1]
    p2 = c2.pts if c2.a == node else c2.pts[::-1]
    a = c1.a if c1.b == node else c1.b
    b = c2.b if c2.a == node else c2.a
    if a == b:
        return
    for i in sorted(touching, reverse=True):
        g.chains.pop(i)
    g.chains.append(_Chain(a, b, np.vstack([p1, p2[1:]])))
    g.dead.add(node)


def _merge_close(g: _Graph, radius_at: RadiusAt, min_len: float) -> None:
    """Collapse chains between two junctions that are shorter than the body is thick there."""
    changed = True
    while changed:
        changed = False
        deg = g.degree()
        for i, c in enumerate(g.chains):
            if c.a == c.b or deg.get(c.a, 0) < 3 or deg.get(c.b, 0) < 3:
                continue
            r = max(radius_at(g.nodes[c.a]), radius_at(g.nodes[c.b]))
            if _length(c.pts) < max(0.8 * r, min_len):
                mid = c.pts[len(c.pts) // 2]
                g.nodes[c.a] = mid
                g.chains.pop(i)
                g.dead.add(c.b)
                for other in g.chains:
                    if other.a == c.b:
                        other.a = c.a
                    if other.b == c.b:
                        other.b = c.a
                    other.pts = other.pts.copy()
                    if other.a == c.a:
                        other.pts[0] = mid
                    if other.b == c.a:
                        other.pts[-1] = mid
                changed = True
                break


def _components(g: _Graph) -> list[set[int]]:
    # Every live node counts, so a part whose skeleton is a single blob still gets a joint.
    used = set(range(len(g.nodes))) - g.dead
    parent = {n: n for n in used}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for c in g.chains:
        parent[find(c.a)] = find(c.b)
    groups: dict[int, set[int]] = {}
    for n in used:
        groups.setdefault(find(n), set()).add(n)
    return list(groups.values())


def _connect_components(g: _Graph) -> None:
    """Join separate skeleton pieces (separate mesh parts) by their closest points."""
    while True:
        comps = _components(g)
        if len(comps) <= 1:
            return
        first = comps[0]
        best: tuple[float, FloatArray, FloatArray] | None = None
        pts_in = _points_of(g, first)
        pts_out = np.vstack([_points_of(g, c) for c in comps[1:]])
        from scipy.spatial import cKDTree

        d, j = cKDTree(pts_out).query(pts_in)
        k = int(np.argmin(d))
        best = (float(d[k]), pts_in[k], pts_out[j[k]])
        a = _split_at_closest(g, best[1], 0.0, within=first)
        b = _split_at_closest(g, best[2], 0.0, within=None, exclude=first)
        g.chains.append(_Chain(a, b, np.vstack([g.nodes[a], g.nodes[b]])))


def _points_of(g: _Graph, comp: set[int]) -> FloatArray:
    pts = [c.pts for c in g.chains if c.a in comp]
    if not pts:
        return np.vstack([g.nodes[n] for n in comp])
    return np.vstack(pts)


def _split_at_closest(
    g: _Graph,
    target: FloatArray,
    snap: float,
    within: set[int] | None = None,
    exclude: set[int] | None = None,
) -> int:
    """Return a node at the skeleton point closest to target, splitting a chain if needed."""

    def allowed(n: int) -> bool:
        if within is not None:
            return n in within
        return exclude is None or n not in exclude

    members = set().union(*_components(g))
    node_d = {n: float(np.linalg.norm(g.nodes[n] - target)) for n in members if allowed(n)}
    best_node = min(node_d, key=lambda n: node_d[n])
    best_d, best = np.inf, (-1, -1)
    for ci, c in enumerate(g.chains):
        if not allowed(c.a) or len(c.pts) < 3:
            continue
        d = np.linalg.norm(c.pts[1:-1] - target, axis=1)
        k = int(np.argmin(d))
        if d[k] < best_d:
            best_d, best = float(d[k]), (ci, k + 1)
    if best[0] < 0 or node_d[best_node] <= best_d + snap:
        return best_node
    c = g.chains.pop(best[0])
    node = len(g.nodes)
    g.nodes.append(c.pts[best[1]])
    g.chains.append(_Chain(c.a, node, c.pts[: best[1] + 1]))
    g.chains.append(_Chain(node, c.b, c.pts[best[1] :]))
    return node


def _joint_tree(
    g: _Graph,
    root: int,
    spacing: float,
    bend: float,
    radius_at: RadiusAt,
    opt: SkeletonOptions,
) -> Skeleton:
    """Walk the graph from the root, placing joints at nodes, bends and along long chains.

    A loop shorter than `opt.tunnel` x the thickness along it is left out when the body has
    limbs; a ring, or a long loop (an arm resting on the hip), is rigged half way round.
    """
    waist, tunnel = opt.waist, opt.tunnel
    names = ["root"]
    parents = [-1]
    positions = [_xyz(g.nodes[root])]
    joint_of = {root: 0}
    deg = g.degree()
    limbs = any(d == 1 for d in deg.values())
    via = _shortest_chains(g, root)
    queue = [root]
    used = [False] * len(g.chains)
    counter = {"end": 0, "junction": 0, "chain": 0}

    def add(kind: str, parent: int, p: FloatArray) -> int:
        counter[kind] += 1
        names.append(f"{kind}_{counter[kind]}")
        parents.append(parent)
        positions.append(_xyz(p))
        return len(names) - 1

    while queue:
        node = queue.pop(0)
        for ci, c in enumerate(g.chains):
            if used[ci] or node not in (c.a, c.b):
                continue
            used[ci] = True
            pts = c.pts if c.a == node else c.pts[::-1]
            other = c.b if c.a == node else c.a
            parent = joint_of[node]
            if other in joint_of or via.get(other) != ci:
                if limbs and _length(pts) < tunnel * max(radius_at(q) for q in pts):
                    # A short loop in a body with limbs is a tunnel between touching parts (a
                    # mech's plates, a tail against a leg): the tree already reaches round it.
                    continue
                # A ring, or a long loop (an arm resting on the hip): a tree cannot close it,
                # so it is rigged as a chain out of this node, up to where it comes back (or
                # half way round).
                ring = other == node
                part = pts if ring else pts[: len(pts) // 2 + 1]
                for p in _chain_points(part, spacing, bend, radius_at, waist):
                    parent = add("chain", parent, p)
                if not ring and len(part) > 1:
                    add("end", parent, part[-1])
                continue
            for p in _chain_points(pts, spacing, bend, radius_at, waist):
                parent = add("chain", parent, p)
            joint_of[other] = add(
                "end" if deg.get(other, 0) == 1 else "junction", parent, g.nodes[other]
            )
            queue.append(other)
    return Skeleton(names=names, parents=parents, positions=positions)


def _shortest_chains(g: _Graph, root: int) -> dict[int, int]:
    """For each node, the chain by which the shortest way from the root reaches it.

    Where the graph loops, the tree follows the shorter way round (the body through which
    a mech's plates touch, not the plates), and the chain closing the loop is the longer.
    """
    import heapq

    best = {root: 0.0}
    via: dict[int, int] = {}
    heap = [(0.0, root)]
    while heap:
        d, node = heapq.heappop(heap)
        if d > best[node]:
            continue
        for ci, c in enumerate(g.chains):
            if node not in (c.a, c.b) or c.a == c.b:
                continue
            other = c.b if c.a == node else c.a
            length = d + _length(c.pts)
            if length < best.get(other, np.inf):
                best[other] = length
                via[other] = ci
                heapq.heappush(heap, (length, other))
    return via


def _chain_points(
    pts: FloatArray, spacing: float, bend: float, radius_at: RadiusAt, waist: float
) -> list[FloatArray]:
    """Interior joints of a chain: bends, narrow waists (elbows, necks), then even spacing."""
    if len(pts) > 4:
        kernel = np.ones(5) / 5.0
        smooth = pts.copy()
        for d in range(3):
            smooth[2:-2, d] = np.convolve(pts[:, d], kernel, mode="valid")
        pts = smooth
    keep = _corners(pts, bend) if bend > 0 else [0, len(pts) - 1]
    if waist > 0 and len(pts) > 6:
        keep = sorted(set(keep) | set(_waists(pts, radius_at, waist, 0.5 * spacing)))
    out: list[FloatArray] = []
    for i, j in pairwise(keep):
        piece = pts[i : j + 1]
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(piece, axis=0), axis=1))])
        n = max(1, round(float(arc[-1]) / spacing))
        for k in range(1, n):
            out.append(np.array([np.interp(arc[-1] * k / n, arc, piece[:, d]) for d in range(3)]))
        if j != keep[-1]:
            out.append(pts[j])
    return out


def _waists(pts: FloatArray, radius_at: RadiusAt, ratio: float, gap: float) -> list[int]:
    """Indices where the chain narrows between thicker parts on both sides."""
    r = np.array([radius_at(p) for p in pts])
    r = np.convolve(np.pad(r, 2, mode="edge"), np.ones(5) / 5.0, mode="valid")
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    before = np.maximum.accumulate(r)
    after = np.maximum.accumulate(r[::-1])[::-1]
    depth = np.minimum(before, after) - r
    found: list[int] = []
    for i in np.argsort(-depth):
        if depth[i] <= 0 or r[i] > ratio * min(before[i], after[i]):
            break
        if arc[i] < gap or arc[-1] - arc[i] < gap:
            continue
        if all(abs(arc[i] - arc[j]) >= gap for j in found):
            found.append(int(i))
    return found


def _corners(pts: FloatArray, tol: float) -> list[int]:
    """Indices kept by Ramer-Douglas-Peucker simplification of a polyline."""
    keep = {0, len(pts) - 1}
    stack = [(0, len(pts) - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        a, b = pts[i], pts[j]
        ab = b - a
        rel = pts[i + 1 : j] - a
        norm = float(np.linalg.norm(ab))
        if norm < 1e-12:
            d = np.linalg.norm(rel, axis=1)
        else:
            d = np.linalg.norm(np.cross(rel, ab / norm), axis=1)
        k = int(np.argmax(d))
        if d[k] > tol:
            keep.add(i + 1 + k)
            stack.extend([(i, i + 1 + k), (i + 1 + k, j)])
    return sorted(keep)


def _piece_finder(verts: FloatArray, faces: IntArray) -> Callable[[FloatArray], IntArray]:
    """Map points to the separate mesh piece of their nearest vertex, the largest piece as 0."""
    from scipy.spatial import cKDTree

    _, labels = pieces(len(verts), faces)
    largest = int(np.bincount(labels).argmax())
    # Swap the largest piece's label with 0, so that 0 always means the main body.
    labels = np.where(labels == largest, -1, labels)
    labels = np.where(labels == 0, largest, labels)
    labels[labels == -1] = 0
    tree = cKDTree(verts)

    def piece_of(points: FloatArray) -> IntArray:
        _, nearest = tree.query(points)
        return np.asarray(labels[nearest], dtype=np.int64)

    return piece_of


def rigid_pieces(skel: Skeleton, piece: IntArray) -> Skeleton:
    """Keep one joint of a branching end of the skeleton that lies in one loose mesh piece.

    A separate piece cannot bend without tearing from the rest, and artists bind antlers,
    wings and brims whole to one joint; a curve skeleton gives each tine or corner of such a
    plate joints of its own, which match nothing and spend the budget. Where a joint lies in
    a piece that is not the main body (piece 0, or the root's piece), so does every joint
    below it, and the joints below reach two or more ends all in the joint's own piece, what
    lies beyond the piece's first branching goes: the piece still turns there. The joints on
    the way to those ends may lie in other small pieces: a band or a buckle on a hat, hair
    locks lying on a helmet. An unbranched chain in a loose piece keeps its joints, a leg
    modelled apart from the body as much as the arm that leads a ghost's floating hand out
    to where its fingers branch; so does a limb whose ends lie in other pieces than its top
    (a mech's leg of plates, fingers each a piece of their own).
    """
    n = len(skel.names)
    children: list[list[int]] = [[] for _ in range(n)]
    for i, p in enumerate(skel.parents):
        if p >= 0:
            children[p].append(i)
    body = {0, *(int(piece[i]) for i, p in enumerate(skel.parents) if p < 0)}
    # Joints come parent first, so walking backwards sees every child before its parent.
    off_body = [False] * n
    ends = [0] * n
    end_pieces: list[set[int]] = [set() for _ in range(n)]
    for i in reversed(range(n)):
        kids = children[i]
        off_body[i] = int(piece[i]) not in body and all(off_body[c] for c in kids)
        ends[i] = sum(ends[c] for c in kids) if kids else 1
        end_pieces[i] = set().union(*(end_pieces[c] for c in kids)) if kids else {int(piece[i])}

    def rigid(i: int) -> bool:
        return (
            skel.parents[i] >= 0
            and off_body[i]
            and ends[i] >= 2
            and end_pieces[i] == {int(piece[i])}
        )

    drop: set[int] = set()
    for i, p in enumerate(skel.parents):
        if rigid(i) and not (p >= 0 and rigid(p)):
            fork = i
            while len(children[fork]) == 1:
                fork = children[fork][0]
            stack = list(children[fork])
            while stack:
                j = stack.pop()
                drop.add(j)
                stack += children[j]
    if not drop:
        return skel
    keep = [i for i in range(n) if i not in drop]
    index = {old: new for new, old in enumerate(keep)}
    return Skeleton(
        names=[skel.names[i] for i in keep],
        parents=[index.get(skel.parents[i], -1) for i in keep],
        positions=[skel.positions[i] for i in keep],
    )


def largest_ball(depth: np.ndarray, origin: FloatArray, pitch: float) -> tuple[FloatArray, float]:
    """Centre and radius of the largest ball inside the solid (depth: distance to outside).

    The centre is the middle of the deepest voxels round the deepest one, not that one voxel:
    a ball's depth peaks on a plateau, and its first voxel lies off the mirror plane.
    """
    at = np.unravel_index(int(np.argmax(depth)), depth.shape)
    deep, _ = ndimage.label(depth >= 0.9 * depth[at])
    core = np.argwhere(deep == deep[at]).mean(axis=0)
    return origin + (core + 0.5) * pitch, float(depth[at]) * pitch


def ball_column(skel: Skeleton, centre: FloatArray, radius: float, bumps: float = 0.0) -> Skeleton:
    """Rig a ball-shaped body as a column of joints up through the ball (Y up, as in glTF).

    A ball thins to no axis at all: a short wandering path joining whatever sticks out
    (horns, eyebrows, wings), and its joints match nothing an artist places. Round creatures
    are rigged with a squash-and-stretch column through the middle, from below the centre to
    near the top (`BALL_COLUMN`). The joints inside the ball give way to that column; a part
    that stuck out hangs from the column joint nearest it.

    Where no joint lies more than `bumps` radii beyond the ball, the creature is its ball:
    what sticks out (spikes, ears, stubby wings, a mushroom's rim) squashes and stretches
    with it, and the column alone is its rig.
    """
    pos = skel.array()
    n = len(pos)
    dist = np.linalg.norm(pos - centre, axis=1)
    inside = dist < radius
    if bumps > 0 and dist.max() < (1.0 + bumps) * radius:
        inside[:] = True  # all of it gives way to the column
    column = centre + np.outer(BALL_COLUMN * radius, [0.0, 1.0, 0.0])
    kept = [i for i in range(n) if not inside[i]]
    index = {old: new for new, old in enumerate(kept)}
    first = len(kept)
    # The column hangs from the joint where the tree enters the ball; from the nearest joint
    # when no joint lies in the ball; and it is the root when the root lay in the ball.
    entry = next(
        (p for i, p in enumerate(skel.parents) if inside[i] and p >= 0 and not inside[p]), -1
    )
    if not inside.any():
        entry = int(np.argmin(np.linalg.norm(pos - column[0], axis=1)))
    parents: list[int] = []
    for i in kept:
        p = skel.parents[i]
        if p >= 0 and inside[p]:
            parents.append(first + int(np.argmin(np.linalg.norm(column - pos[i], axis=1))))
        else:
            parents.append(index[p] if p >= 0 else -1)
    parents += [index[entry] if entry >= 0 else -1, *range(first, first + len(column) - 1)]
    return _parent_first(
        names=[skel.names[i] for i in kept] + [f"column_{k + 1}" for k in range(len(column))],
        parents=parents,
        positions=[skel.positions[i] for i in kept] + [_xyz(c) for c in column],
    )


def _parent_first(
    names: list[str], parents: list[int], positions: list[tuple[float, float, float]]
) -> Skeleton:
    """The joints reordered so that every parent comes before its children."""
    order = parent_first(parents)
    new = {old: i for i, old in enumerate(order)}
    return Skeleton(
        names=[names[i] for i in order],
        parents=[new[parents[i]] if parents[i] >= 0 else -1 for i in order],
        positions=[positions[i] for i in order],
    )


def _truncate(skel: Skeleton, budget: int) -> Skeleton:
    """Keep the budget's worth of joints closest to the root (by tree depth, then distance)."""
    pos = skel.array()
    depth = [0] * len(skel.names)
    for i, p in enumerate(skel.parents):
        depth[i] = 0 if p < 0 else depth[p] + 1
    order = sorted(range(len(skel.names)), key=lambda i: (depth[i], float(np.linalg.norm(pos[i]))))
    keep = sorted(order[:budget])
    remap = {old: new for new, old in enumerate(keep)}
    return Skeleton(
        names=[skel.names[i] for i in keep],
        parents=[remap.get(skel.parents[i], -1) for i in keep],
        positions=[skel.positions[i] for i in keep],
    )


class Symmetry(msgspec.Struct, frozen=True):
    """A mirror plane: points p with (p - origin) . normal == 0; score is the mean mismatch."""

    normal: tuple[float, float, float]
    origin: tuple[float, float, float]
    score: float


def detect_symmetry(
    verts: FloatArray, tolerance: float = 0.02, samples: int = 4000
) -> Symmetry | None:
    """Find the mesh's mirror plane among the box axes and principal axes, if it has one,
    and failing those among the vertical planes (up is Y) through the mean.

    A candidate plane mirrors a sample of the vertices; the mean distance from each mirrored
    point to the nearest vertex, over the largest box side, must stay under the tolerance.
    The vertical planes are for a round body turned on the spot, whose principal axes no
    longer show its plane: every 5 degrees on 1,000 vertices, then every half degree round
    the best (some 0.04 s; 0.1 s at 9,000 vertices).
    """
    from scipy.spatial import cKDTree

    if len(verts) < 4:
        return None
    rng = np.random.default_rng(0)
    extent = float((verts.max(axis=0) - verts.min(axis=0)).max())
    if extent <= 0:
        return None
    tree = cKDTree(verts)

    def sample(n: int) -> FloatArray:
        return verts if len(verts) <= n else verts[rng.choice(len(verts), n, replace=False)]

    def mismatch(pick: FloatArray, normal: FloatArray, origin: FloatArray) -> float:
        mirrored = pick - 2.0 * ((pick - origin) @ normal)[:, None] * normal[None]
        dist, _ = tree.query(mirrored)
        return float(dist.mean()) / extent

    pick = sample(samples)
    box_centre = 0.5 * (verts.min(axis=0) + verts.max(axis=0))
    mean = verts.mean(axis=0)
    _, _, axes = np.linalg.svd(verts - mean, full_matrices=False)
    candidates = [(np.eye(3)[k], box_centre) for k in range(3)]
    candidates += [(axes[k] / np.linalg.norm(axes[k]), mean) for k in range(3)]
    best: Symmetry | None = None
    for k, (normal, origin) in enumerate(candidates):
        if k == 3 and best is not None:
            break  # Models are built along their axes; a tilted plane only when none fits.
        score = mismatch(pick, normal, origin)
        if score < tolerance and (best is None or score < best.score):
            best = Symmetry(normal=_xyz(normal), origin=_xyz(origin), score=score)
    if best is not None:
        return best
    few = sample(1000)

    def vertical(deg: float) -> FloatArray:
        a = np.radians(deg)
        return np.array([np.cos(a), 0.0, np.sin(a)])

    _, coarse = min((mismatch(few, vertical(d), mean), d) for d in range(0, 180, 5))
    score, deg = min(
        (mismatch(few, vertical(d), mean), d) for d in np.arange(coarse - 5.0, coarse + 5.01, 0.5)
    )
    if score >= tolerance:
        return None
    return Symmetry(normal=_xyz(vertical(deg)), origin=_xyz(mean), score=score)


def squared(
    verts: FloatArray, tolerance: float = 0.02
) -> tuple[FloatArray, FloatArray | None, Symmetry | None]:
    """The vertices turned so that their mirror plane is square to the grid, the turn (None
    if none was needed) and the plane as it lies after it (None if there is none).

    Voxels, thinning and piece boxes are square to the axes: without this, the same body
    turned about the up axis gets another skeleton and other weights.
    """
    plane = detect_symmetry(verts, tolerance) if tolerance > 0 else None
    turn = square_turn(plane) if plane is not None else None
    if plane is None or turn is None:
        return verts, None, plane
    return verts @ turn.T, turn, turned(plane, turn)


def square_turn(plane: Symmetry, least_deg: float = 1.0) -> FloatArray | None:
    """The turn about the up axis (Y) that brings a vertical mirror plane square to the X or
    Z axis, whichever is nearer; None when the plane is not vertical or already square to
    within `least_deg`."""
    n = np.asarray(plane.normal)
    if abs(n[1]) > 0.1:
        return None
    angle = float(np.arctan2(n[2], n[0]))
    # The nearest multiple of 90 degrees: turning by the rest leaves the normal on an axis.
    rest = (angle + np.pi / 4) % (np.pi / 2) - np.pi / 4
    if abs(np.degrees(rest)) < least_deg:
        return None
    return about_up(rest)


def about_up(angle: float) -> FloatArray:
    """The turn by `angle` radians about the up axis (Y), from Z towards X."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def turned(plane: Symmetry, turn: FloatArray) -> Symmetry:
    """The plane after the points are turned by `turn` (p -> turn @ p)."""
    return Symmetry(
        normal=_xyz(turn @ np.asarray(plane.normal)),
        origin=_xyz(turn @ np.asarray(plane.origin)),
        score=plane.score,
    )


def mirror(points: FloatArray, plane: Symmetry) -> FloatArray:
    """Reflect points through the plane."""
    n, o = np.asarray(plane.normal), np.asarray(plane.origin)
    return np.asarray(points - 2.0 * ((points - o) @ n)[:, None] * n[None], dtype=np.float64)


def symmetrise(skel: Skeleton, plane: Symmetry, reach: float) -> Skeleton:
    """Make a skeleton mirror-symmetric: pair joints across the plane, centre the unpaired.

    Joints are matched one to one with the mirror images (the matching of least total
    distance, so that a hand pairs with the other hand, not with the wrist beside it); a
    matched pair within reach is moved to the average of one and the other's reflection. A
    joint matched to itself, or to nothing near, that lies close to the plane (spine, head,
    tail: within 0.3 x reach, so that the legs of a narrow body stay apart) goes onto it.
    """
    pos = skel.array()
    if len(pos) == 0:
        return skel
    from scipy.optimize import linear_sum_assignment

    n, o = np.asarray(plane.normal), np.asarray(plane.origin)
    flipped = mirror(pos, plane)
    cost = np.linalg.norm(pos[:, None] - flipped[None], axis=2)
    rows, cols = linear_sum_assignment(cost)
    partner = np.empty(len(pos), dtype=np.int64)
    partner[rows] = cols
    out = pos.copy()
    side = (pos - o) @ n
    for i in range(len(pos)):
        j = int(partner[i])
        if j != i and int(partner[j]) == i and cost[j, i] < reach:
            out[i] = 0.5 * (pos[i] + flipped[j])
        elif abs(side[i]) < 0.3 * reach:
            out[i] = pos[i] - side[i] * n
    return Skeleton(names=skel.names, parents=skel.parents, positions=[_xyz(p) for p in out])


def leaf_bases(
    skel: Skeleton, verts: FloatArray, reach: float, limit: int | None = None
) -> Skeleton:
    """Give every end joint a base joint where the end part starts (wrist, ankle, skull base).

    A curve skeleton ends inside the tip of each part (fingertips, the crown, the toes), but
    an artist puts the joint that moves the part at its root. The base goes reach x the
    part's thickness in from the tip, along the last bone, when that bone is long enough;
    with a limit, only that many bases are added, on the longest end bones.
    """
    from scipy.spatial import cKDTree

    pos = skel.array()
    thickness, _ = cKDTree(verts).query(pos)
    has_child = set(skel.parents)
    wanted: dict[int, FloatArray] = {}
    for i, p in enumerate(skel.parents):
        if p < 0 or i in has_child:
            continue
        bone = pos[p] - pos[i]
        length = float(np.linalg.norm(bone))
        step = reach * float(thickness[i])
        if 0 < step < 0.8 * length:
            wanted[i] = pos[i] + bone * (step / length)
    if limit is not None and len(wanted) > limit:
        # Longest first, and bones of one length (a left and a right hand) together or not at
        # all, so that a symmetric body keeps a symmetric skeleton.
        bone_length = {i: float(np.linalg.norm(pos[i] - pos[skel.parents[i]])) for i in wanted}
        unit = 0.02 * max(bone_length.values())
        groups: dict[int, list[int]] = {}
        for i in wanted:
            groups.setdefault(round(bone_length[i] / unit), []).append(i)
        chosen: list[int] = []
        for key in sorted(groups, reverse=True):
            if len(chosen) + len(groups[key]) > limit:
                break
            chosen += groups[key]
        wanted = {i: wanted[i] for i in chosen}
    names: list[str] = []
    parents: list[int] = []
    positions: list[tuple[float, float, float]] = []
    index: dict[int, int] = {}
    # Joints stay in parent-before-child order: a base goes in just before its end joint.
    for i, p in enumerate(skel.parents):
        parent = index[p] if p >= 0 else -1
        if i in wanted:
            names.append(f"{skel.names[i]}_base")
            parents.append(parent)
            positions.append(_xyz(wanted[i]))
            parent = len(names) - 1
        index[i] = len(names)
        names.append(skel.names[i])
        parents.append(parent)
        positions.append(skel.positions[i])
    return Skeleton(names=names, parents=parents, positions=positions)
