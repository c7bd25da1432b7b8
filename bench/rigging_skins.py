"""Other skinning methods, for `bench.rigging --skin`: the issue asks bone heat to be compared.

Each is a `skinning.Solver`: it gets the same bones as bone heat (bones through the air left
out, end bones stretched to the surface) and its weights go through the same passes over
loose pieces, so the figures compare the weighting itself.

- `voxel`: geodesic voxel binding (Dionne and de Lasa, SCA 2013) on `BodyPaths`.
- `bbw`: bounded biharmonic weights (Jacobson et al., SIGGRAPH 2011) by libigl's `bbw`, on
  a tetrahedral grid of the solid voxels (five tetrahedra per voxel), the lattice points
  along each bone held at 1 for its joint and 0 for the others. libigl is a dev dependency.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from domain.rigging.geometry import sample_segments
from domain.rigging.model import FloatArray, IntArray
from domain.rigging.skeleton import cap_holes, voxelise
from domain.rigging.skinning import BodyPaths, Solver, nearest_solid, segment_distances

VOXEL_RESOLUTION = 128
# The paper's falloff a in [0, 1]; 1 measured best of 0, 0.5 and 1 on the 43 real characters.
VOXEL_FALLOFF = 1.0
BBW_RESOLUTION = 40
BBW_ITERATIONS = 8


def geodesic_voxel_weights(
    verts: FloatArray,
    faces: IntArray,
    heads: FloatArray,
    tails: FloatArray,
    owner: IntArray,
    n_joints: int,
) -> FloatArray:
    """A vertex takes 1 / ((1 - a) d + a d^2)^2 from each joint, d its distance to the joint's
    bones through the body over the model's size; a piece no bone reaches takes the straight
    distance."""
    scale = float((verts.max(axis=0) - verts.min(axis=0)).max())
    paths = BodyPaths(
        verts, cap_holes(verts, faces), heads, tails, owner, n_joints, VOXEL_RESOLUTION
    )
    d = np.column_stack([paths.from_joint(j) for j in range(n_joints)]) / scale
    alone = ~np.isfinite(d).any(axis=1)
    straight, _ = segment_distances(verts[alone], heads, tails)
    for b in range(len(owner)):
        d[alone, owner[b]] = np.minimum(d[alone, owner[b]], straight[:, b] / scale)
    a = VOXEL_FALLOFF
    weights = np.zeros_like(d)
    reach = np.isfinite(d)
    weights[reach] = 1.0 / np.maximum((1 - a) * d[reach] + a * d[reach] ** 2, 1e-9) ** 2
    return weights


# A voxel's corners by (x, y, z) bits, and its split into five tetrahedra; voxels of odd
# parity take the mirror image, so that neighbours share their faces' diagonals.
CORNERS = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)])
FIVE = np.array([[0, 4, 2, 1], [6, 4, 2, 7], [5, 4, 7, 1], [3, 2, 1, 7], [4, 2, 1, 7]])
FIVE_MIRRORED = (FIVE + 4) % 8  # x -> 1 - x flips the top bit of the corner index


def bbw_weights(
    verts: FloatArray,
    faces: IntArray,
    heads: FloatArray,
    tails: FloatArray,
    owner: IntArray,
    n_joints: int,
) -> FloatArray:
    """Bounded biharmonic weights on the solid voxels, read at each vertex trilinearly."""
    import igl

    v, f = cap_holes(verts, faces)
    solid, origin, pitch = voxelise(v, f, BBW_RESOLUTION)
    cells = np.argwhere(solid)
    lattice, corner = np.unique(
        (cells[:, None, :] + CORNERS[None]).reshape(-1, 3), axis=0, return_inverse=True
    )
    corner = corner.reshape(len(cells), 8)
    odd = cells.sum(axis=1) % 2 == 1
    tets = np.vstack([corner[~odd][:, FIVE], corner[odd][:, FIVE_MIRRORED]]).reshape(-1, 4)
    points = origin + lattice * pitch
    tree = cKDTree(points)
    joints = np.unique(owner)
    handle: dict[int, int] = {}
    for col, j in enumerate(joints):
        d, k = tree.query(sample_segments(heads[owner == j], tails[owner == j], 0.5 * pitch))
        for kk in k[d < pitch]:
            handle.setdefault(int(kk), col)
        if col not in handle.values():  # a bone off the grid: its nearest lattice point
            handle.setdefault(int(tree.query(heads[owner == j][0])[1]), col)
    fixed = np.fromiter(handle, dtype=np.int64)
    values = np.zeros((len(fixed), len(joints)))
    values[np.arange(len(fixed)), list(handle.values())] = 1.0
    field = igl.bbw(points, tets.astype(np.int64), fixed, values, max_iter=BBW_ITERATIONS)
    field = np.clip(field, 0.0, None)
    # Each vertex reads the corners of its nearest solid voxel.
    cell = nearest_solid(solid, origin, pitch)(verts)
    frac = np.clip((verts - origin) / pitch - cell, 0.0, 1.0)
    lookup = {tuple(p): i for i, p in enumerate(lattice)}
    out = np.zeros((len(verts), n_joints))
    for c in CORNERS:
        ids = np.fromiter((lookup[tuple(p)] for p in cell + c), dtype=np.int64, count=len(cell))
        share = np.prod(np.where(c[None] == 1, frac, 1.0 - frac), axis=1)
        out[:, joints] += share[:, None] * field[ids]
    return out


SOLVERS: dict[str, Solver | None] = {
    "heat": None,
    "voxel": geodesic_voxel_weights,
    "bbw": bbw_weights,
}
