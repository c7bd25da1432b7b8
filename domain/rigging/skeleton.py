"""Curve-skeleton rigging: voxelise, thin, turn the thinned voxels into a named joint tree."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from domain.rigging.error import InvalidMeshError
from domain.rigging.model import FloatArray, IntArray, Mesh, Progress, Skeleton


class SkeletonOptions:
    """Tuning of skeleton extraction; the defaults are what the benchmark measures."""

    def __init__(
        self,
        *,
        resolution: int = 88,
        simplify_faces: int = 30_000,
        prune_ratio: float = 2.2,
        spacing: float = 0.12,
        joint_budget: int = 40,
    ) -> None:
        self.resolution = resolution
        self.simplify_faces = simplify_faces
        self.prune_ratio = prune_ratio
        self.spacing = spacing
        self.joint_budget = joint_budget


@dataclass
class _Chain:
    a: int
    b: int
    pts: FloatArray  # polyline from node a to node b, endpoints included


@dataclass
class _Graph:
    nodes: list[FloatArray] = field(default_factory=list)
    chains: list[_Chain] = field(default_factory=list)

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
    verts, faces = _simplified(mesh, opt.simplify_faces)
    if progress:
        progress(20.0, "voxelising")
    solid, origin, pitch = voxelise(verts, faces, opt.resolution)
    if progress:
        progress(40.0, "thinning")
    from skimage.morphology import skeletonize

    thin = skeletonize(solid).astype(bool)
    dist = ndimage.distance_transform_edt(solid) * pitch
    if not thin.any():
        thin = np.zeros_like(solid)
        thin[tuple(np.argwhere(solid).mean(axis=0).astype(int))] = True
    if progress:
        progress(60.0, "building the joint graph")
    graph = _voxel_graph(thin, origin, pitch)
    radius_at = _sampler(dist, origin, pitch)
    centre = origin + (np.argwhere(solid).mean(axis=0) + 0.5) * pitch
    extent = float((verts.max(axis=0) - verts.min(axis=0)).max())
    prune = opt.prune_ratio
    spacing = opt.spacing * extent
    for _ in range(40):
        g = _copy(graph)
        _prune(g, radius_at, prune, 2.0 * pitch)
        _merge_close(g, radius_at, 1.5 * pitch)
        _connect_components(g)
        root = _split_at_closest(g, centre, 2.5 * pitch)
        skel = _joint_tree(g, root, spacing, radius_at)
        if len(skel.names) <= opt.joint_budget:
            break
        # Over budget: fewer joints along chains first, then fewer side branches.
        spacing *= 1.25
        if spacing > extent:
            prune *= 1.3
    else:
        skel = _truncate(skel, opt.joint_budget)
    if len(skel.names) > opt.joint_budget:
        skel = _truncate(skel, opt.joint_budget)
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


def voxelise(
    verts: FloatArray, faces: IntArray, resolution: int
) -> tuple[np.ndarray, FloatArray, float]:
    """Return a solid occupancy grid of the mesh (surface + filled inside), its origin and pitch."""
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    pitch = float((hi - lo).max()) / resolution
    origin = lo - 3 * pitch
    shape = tuple(np.ceil((hi - lo) / pitch).astype(int) + 7)
    surface = np.zeros(shape, dtype=bool)
    tri = verts[faces]
    edge = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(axis=1)
    steps = np.clip(np.ceil(edge / (0.5 * pitch)).astype(int), 1, 64)
    for n in np.unique(steps):
        sel = tri[steps == n]
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        keep = (i + j) <= n
        u, w = i[keep] / n, j[keep] / n
        bary = np.stack([1 - u - w, u, w], axis=1)
        pts = np.einsum("kb,tbd->tkd", bary, sel).reshape(-1, 3)
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


def _sampler(dist: np.ndarray, origin: FloatArray, pitch: float):  # type: ignore[no-untyped-def]
    top = np.array(dist.shape) - 1

    def radius_at(p: FloatArray) -> float:
        idx = np.clip(np.floor((p - origin) / pitch).astype(int), 0, top)
        return float(dist[idx[0], idx[1], idx[2]])

    return radius_at


def _voxel_graph(thin: np.ndarray, origin: FloatArray, pitch: float) -> _Graph:
    coords = np.argwhere(thin)
    lookup = -np.ones(np.array(thin.shape) + 2, dtype=np.int64)
    lookup[tuple((coords + 1).T)] = np.arange(len(coords))
    offsets = [
        (dx, dy, dz)
        for dx in (-1, 0, 1)
        for dy in (-1, 0, 1)
        for dz in (-1, 0, 1)
        if (dx, dy, dz) != (0, 0, 0)
    ]
    nbrs: list[list[int]] = [[] for _ in range(len(coords))]
    for off in offsets:
        other = lookup[tuple((coords + 1 + np.array(off)).T)]
        for i, o in zip(np.nonzero(other >= 0)[0], other[other >= 0], strict=True):
            nbrs[int(i)].append(int(o))
    pos = origin + (coords + 0.5) * pitch
    deg = np.array([len(n) for n in nbrs])
    is_key = deg != 2
    # Adjacent junction voxels are one junction.
    key_id = -np.ones(len(coords), dtype=np.int64)
    g = _Graph()
    for start in np.nonzero(is_key)[0]:
        if key_id[start] >= 0:
            continue
        members, stack = [], [int(start)]
        key_id[start] = len(g.nodes)
        while stack:
            cur = stack.pop()
            members.append(cur)
            for nb in nbrs[cur]:
                if is_key[nb] and key_id[nb] < 0:
                    key_id[nb] = len(g.nodes)
                    stack.append(nb)
        g.nodes.append(pos[members].mean(axis=0))
    seen_edge: set[tuple[int, int]] = set()
    visited = np.zeros(len(coords), dtype=bool)
    for start in np.nonzero(is_key)[0]:
        for nb in nbrs[start]:
            if is_key[nb] or visited[nb]:
                continue
            path, prev, cur = [int(start)], int(start), nb
            while not is_key[cur]:
                visited[cur] = True
                path.append(cur)
                nxt = [n for n in nbrs[cur] if n != prev and not (visited[n] and not is_key[n])]
                if not nxt:
                    break
                prev, cur = cur, nxt[0]
            a, b = int(key_id[start]), int(key_id[cur]) if is_key[cur] else -1
            if b < 0:
                continue
            pts = np.vstack([g.nodes[a], pos[path[1:]], g.nodes[b]])
            if a == b and len(path) < 4:
                continue
            g.chains.append(_Chain(a, b, pts))
        for nb in nbrs[start]:
            if is_key[nb] and key_id[nb] != key_id[start]:
                e = (min(key_id[nb], key_id[start]), max(key_id[nb], key_id[start]))
                if e not in seen_edge:
                    seen_edge.add(e)
                    g.chains.append(_Chain(e[0], e[1], np.vstack([g.nodes[e[0]], g.nodes[e[1]]])))
    # Loops with no key voxel at all (a ring) become one node on the ring.
    for start in range(len(coords)):
        if visited[start] or is_key[start]:
            continue
        ring, cur, prev = [start], start, -1
        visited[start] = True
        while True:
            nxt = [n for n in nbrs[cur] if n != prev and not visited[n]]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            visited[cur] = True
            ring.append(cur)
        node = len(g.nodes)
        g.nodes.append(pos[start])
        g.chains.append(_Chain(node, node, np.vstack([pos[ring], pos[start]])))
    return g


def _copy(g: _Graph) -> _Graph:
    return _Graph(nodes=list(g.nodes), chains=[_Chain(c.a, c.b, c.pts) for c in g.chains])


def _length(pts: FloatArray) -> float:
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


def _prune(g: _Graph, radius_at, ratio: float, min_len: float) -> None:  # type: ignore[no-untyped-def]
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


def _merge_close(g: _Graph, radius_at, min_len: float) -> None:  # type: ignore[no-untyped-def]
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
    used = {c.a for c in g.chains} | {c.b for c in g.chains}
    if not g.chains:
        used = set(range(len(g.nodes)))
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


def _joint_tree(g: _Graph, root: int, spacing: float, radius_at) -> Skeleton:  # type: ignore[no-untyped-def]
    """Walk the graph from the root, placing joints at nodes and evenly along long chains."""
    names = ["root"]
    parents = [-1]
    positions = [tuple(float(x) for x in g.nodes[root])]
    joint_of = {root: 0}
    deg = g.degree()
    queue = [root]
    used = [False] * len(g.chains)
    counter = {"end": 0, "junction": 0, "chain": 0}
    while queue:
        node = queue.pop(0)
        for ci, c in enumerate(g.chains):
            if used[ci] or node not in (c.a, c.b) or c.a == c.b:
                continue
            used[ci] = True
            pts = c.pts if c.a == node else c.pts[::-1]
            other = c.b if c.a == node else c.a
            if other in joint_of:
                continue
            seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
            arc = np.concatenate([[0.0], np.cumsum(seg)])
            total = float(arc[-1])
            n = max(1, int(round(total / spacing)))
            parent = joint_of[node]
            for k in range(1, n):
                p = np.array([np.interp(total * k / n, arc, pts[:, d]) for d in range(3)])
                counter["chain"] += 1
                names.append(f"chain_{counter['chain']}")
                parents.append(parent)
                positions.append(tuple(float(x) for x in p))
                parent = len(names) - 1
            kind = "end" if deg.get(other, 0) == 1 else "junction"
            counter[kind] += 1
            names.append(f"{kind}_{counter[kind]}")
            parents.append(parent)
            positions.append(tuple(float(x) for x in g.nodes[other]))
            joint_of[other] = len(names) - 1
            queue.append(other)
    return Skeleton(names=names, parents=parents, positions=positions)  # type: ignore[arg-type]


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
