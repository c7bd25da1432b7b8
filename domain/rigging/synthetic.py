"""Synthetic rigged models with known skeletons and weights, for tests and benchmarks."""

from __future__ import annotations

import numpy as np

from domain.rigging.model import FloatArray, IntArray, Mesh, Model, Skeleton

# (name, parent, position, radius of the capsule from the parent to this joint)
JointSpec = tuple[str, str | None, tuple[float, float, float], float]

CHARACTER: list[JointSpec] = [
    ("hips", None, (0.0, 0.95, 0.0), 0.0),
    ("spine", "hips", (0.0, 1.15, 0.0), 0.14),
    ("chest", "spine", (0.0, 1.36, 0.0), 0.15),
    ("neck", "chest", (0.0, 1.52, 0.0), 0.06),
    ("head", "neck", (0.0, 1.62, 0.02), 0.05),
    ("head_end", "head", (0.0, 1.80, 0.02), 0.10),
    ("shoulder_l", "chest", (0.20, 1.44, 0.0), 0.06),
    ("elbow_l", "shoulder_l", (0.47, 1.44, 0.0), 0.05),
    ("wrist_l", "elbow_l", (0.72, 1.44, 0.0), 0.04),
    ("hand_end_l", "wrist_l", (0.86, 1.44, 0.0), 0.035),
    ("shoulder_r", "chest", (-0.20, 1.44, 0.0), 0.06),
    ("elbow_r", "shoulder_r", (-0.47, 1.44, 0.0), 0.05),
    ("wrist_r", "elbow_r", (-0.72, 1.44, 0.0), 0.04),
    ("hand_end_r", "wrist_r", (-0.86, 1.44, 0.0), 0.035),
    ("hip_l", "hips", (0.10, 0.88, 0.0), 0.10),
    ("knee_l", "hip_l", (0.11, 0.50, 0.0), 0.075),
    ("ankle_l", "knee_l", (0.11, 0.09, 0.0), 0.06),
    ("toe_l", "ankle_l", (0.11, 0.05, 0.16), 0.045),
    ("hip_r", "hips", (-0.10, 0.88, 0.0), 0.10),
    ("knee_r", "hip_r", (-0.11, 0.50, 0.0), 0.075),
    ("ankle_r", "knee_r", (-0.11, 0.09, 0.0), 0.06),
    ("toe_r", "ankle_r", (-0.11, 0.05, 0.16), 0.045),
]

TREE: list[JointSpec] = [
    ("trunk_0", None, (0.0, 0.0, 0.0), 0.0),
    ("trunk_1", "trunk_0", (0.0, 0.7, 0.0), 0.12),
    ("trunk_2", "trunk_1", (0.05, 1.4, 0.0), 0.10),
    ("trunk_3", "trunk_2", (0.05, 2.0, 0.05), 0.07),
    ("branch_a1", "trunk_1", (0.5, 1.1, 0.1), 0.06),
    ("branch_a2", "branch_a1", (0.9, 1.5, 0.2), 0.045),
    ("branch_b1", "trunk_2", (-0.5, 1.8, -0.1), 0.05),
    ("branch_b2", "branch_b1", (-0.8, 2.2, -0.2), 0.04),
    ("branch_c1", "trunk_2", (0.2, 1.7, -0.5), 0.045),
    ("twig_a", "branch_a1", (0.6, 1.2, 0.55), 0.035),
]

# A four-legged animal, added after the defaults were tuned, as a held-out check.
QUADRUPED: list[JointSpec] = [
    ("pelvis", None, (0.0, 0.75, -0.35), 0.0),
    ("spine", "pelvis", (0.0, 0.78, 0.0), 0.16),
    ("chest", "spine", (0.0, 0.80, 0.32), 0.17),
    ("neck", "chest", (0.0, 1.00, 0.50), 0.08),
    ("head", "neck", (0.0, 1.10, 0.62), 0.07),
    ("snout", "head", (0.0, 1.05, 0.82), 0.08),
    ("tail_1", "pelvis", (0.0, 0.80, -0.65), 0.04),
    ("tail_2", "tail_1", (0.0, 0.70, -0.90), 0.03),
    ("front_l", "chest", (0.14, 0.62, 0.36), 0.07),
    ("front_knee_l", "front_l", (0.15, 0.35, 0.38), 0.05),
    ("front_paw_l", "front_knee_l", (0.15, 0.06, 0.40), 0.045),
    ("front_r", "chest", (-0.14, 0.62, 0.36), 0.07),
    ("front_knee_r", "front_r", (-0.15, 0.35, 0.38), 0.05),
    ("front_paw_r", "front_knee_r", (-0.15, 0.06, 0.40), 0.045),
    ("back_l", "pelvis", (0.13, 0.60, -0.36), 0.08),
    ("back_knee_l", "back_l", (0.14, 0.33, -0.30), 0.055),
    ("back_paw_l", "back_knee_l", (0.14, 0.06, -0.38), 0.045),
    ("back_r", "pelvis", (-0.13, 0.60, -0.36), 0.08),
    ("back_knee_r", "back_r", (-0.14, 0.33, -0.30), 0.055),
    ("back_paw_r", "back_knee_r", (-0.14, 0.06, -0.38), 0.045),
]

# A desk lamp built from separate parts with gaps between them: one rigid part per joint.
MULTIPART: list[JointSpec] = [
    ("base", None, (0.0, 0.03, 0.0), 0.0),
    ("arm_low", "base", (0.0, 0.10, 0.0), 0.0),
    ("arm_mid", "arm_low", (0.15, 0.45, 0.0), 0.0),
    ("arm_top", "arm_mid", (0.45, 0.65, 0.0), 0.0),
    ("shade_end", "arm_top", (0.60, 0.50, 0.0), 0.0),
]


def capsule(
    a: FloatArray, b: FloatArray, radius: float, detail: int
) -> tuple[FloatArray, IntArray]:
    """Return a closed capsule mesh (vertices, faces) around the segment a-b."""
    seg = max(8, 4 * detail)
    half = max(3, detail)
    axis = b - a
    length = float(np.linalg.norm(axis))
    z = axis / length
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    rings: list[FloatArray] = []
    # Polar angle from the a-pole (pi) to the b-pole (0); the cylinder sits between the caps.
    for k in range(1, half + 1):
        th = np.pi - (np.pi / 2) * k / half
        rings.append(np.array([radius * np.sin(th), radius * np.cos(th), 0.0]))
    cyl = max(1, round(length / (radius * np.pi / (2 * half))))
    for k in range(1, cyl):
        rings.append(np.array([radius, 0.0, length * k / cyl]))
    for k in range(0, half):
        th = (np.pi / 2) * (1 - k / half)
        rings.append(np.array([radius * np.sin(th), radius * np.cos(th), length]))
    phi = np.linspace(0, 2 * np.pi, seg, endpoint=False)
    pts = [a - z * radius]
    for r, dz, off in rings:
        h = off + dz
        for p in phi:
            pts.append(a + z * h + r * (np.cos(p) * x + np.sin(p) * y))
    pts.append(b + z * radius)
    verts = np.asarray(pts)
    faces: list[tuple[int, int, int]] = []
    n_r = len(rings)
    for j in range(seg):
        faces.append((0, 1 + (j + 1) % seg, 1 + j))
    for i in range(n_r - 1):
        r0, r1 = 1 + i * seg, 1 + (i + 1) * seg
        for j in range(seg):
            j1 = (j + 1) % seg
            faces.append((r0 + j, r0 + j1, r1 + j1))
            faces.append((r0 + j, r1 + j1, r1 + j))
    last, top = 1 + (n_r - 1) * seg, len(verts) - 1
    for j in range(seg):
        faces.append((last + j, last + (j + 1) % seg, top))
    return verts, np.asarray(faces, dtype=np.int64)


def box(lo: FloatArray, hi: FloatArray, detail: int) -> tuple[FloatArray, IntArray]:
    """Return a closed box mesh with each face split into a detail x detail grid."""
    n = max(1, detail)
    verts: list[FloatArray] = []
    faces: list[tuple[int, int, int]] = []
    for axis in range(3):
        for side in (0, 1):
            u_ax, v_ax = [a for a in range(3) if a != axis]
            base = len(verts)
            for i in range(n + 1):
                for j in range(n + 1):
                    p = np.empty(3)
                    p[axis] = hi[axis] if side else lo[axis]
                    p[u_ax] = lo[u_ax] + (hi[u_ax] - lo[u_ax]) * i / n
                    p[v_ax] = lo[v_ax] + (hi[v_ax] - lo[v_ax]) * j / n
                    verts.append(p)
            flip = (axis == 1) ^ (not side)
            for i in range(n):
                for j in range(n):
                    q = [base + i * (n + 1) + j, base + (i + 1) * (n + 1) + j]
                    q += [base + (i + 1) * (n + 1) + j + 1, base + i * (n + 1) + j + 1]
                    tri = [(q[0], q[1], q[2]), (q[0], q[2], q[3])]
                    faces.extend((t[0], t[2], t[1]) if flip else t for t in tri)
    v = np.asarray(verts)
    # Shared grid corners between faces are welded so the box is one closed surface.
    uniq, inv = np.unique(np.round(v, 9), axis=0, return_inverse=True)
    return uniq, inv.reshape(-1)[np.asarray(faces, dtype=np.int64)]


def _skeleton(spec: list[JointSpec]) -> Skeleton:
    names = [s[0] for s in spec]
    index = {n: i for i, n in enumerate(names)}
    parents = [-1 if s[1] is None else index[s[1]] for s in spec]
    return Skeleton(names=names, parents=parents, positions=[s[2] for s in spec])


def _segment_distance(p: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.asarray(np.linalg.norm(p - (a + t[:, None] * ab), axis=1), dtype=np.float64)


def _limb_model(spec: list[JointSpec], detail: int) -> Model:
    skel = _skeleton(spec)
    pos = skel.array()
    segs = [(skel.parents[c], c) for c in range(len(spec)) if skel.parents[c] >= 0]
    parts_v: list[FloatArray] = []
    parts_f: list[IntArray] = []
    part_seg: list[int] = []
    offset = 0
    for k, (p, c) in enumerate(segs):
        v, f = capsule(pos[p], pos[c], spec[c][3], detail)
        parts_v.append(v)
        parts_f.append(f + offset)
        part_seg.extend([k] * len(v))
        offset += len(v)
    verts = np.concatenate(parts_v)
    owner_seg = np.asarray(part_seg)
    dists = np.stack([_segment_distance(verts, pos[p], pos[c]) for p, c in segs], axis=1)
    radii = np.array([spec[c][3] for _, c in segs])
    # Known weights: a vertex follows its own limb and blends with the limbs that share an end,
    # by how close it is to their surfaces (a smooth, plausible painted weight).
    adjacent = np.array([[set(s1) & set(s2) != set() for s2 in segs] for s1 in segs])
    mask = adjacent[owner_seg]
    closeness = np.exp(-(((dists - radii[None, :]).clip(0.0) / (0.6 * radii[None, :])) ** 2))
    seg_w = np.where(mask, closeness, 0.0)
    seg_w[np.arange(len(verts)), owner_seg] = np.maximum(seg_w[np.arange(len(verts)), owner_seg], 1)
    weights = np.zeros((len(verts), len(spec)))
    for k, (p, _) in enumerate(segs):
        weights[:, p] += seg_w[:, k]
    return Model(
        mesh=Mesh(vertices=verts, faces=np.concatenate(parts_f)),
        skeleton=skel,
        weights=_top4(weights),
        source_format="synthetic",
    )


def _top4(weights: FloatArray) -> FloatArray:
    order = np.argsort(-weights, axis=1)
    cut = np.zeros_like(weights)
    rows = np.arange(len(weights))[:, None]
    cut[rows, order[:, :4]] = weights[rows, order[:, :4]]
    cut[cut < 0.01] = 0.0
    return np.asarray(cut / cut.sum(axis=1, keepdims=True), dtype=np.float64)


def character(detail: int = 4) -> Model:
    """A T-posed humanoid of capsule limbs with a 22-joint skeleton."""
    return _limb_model(CHARACTER, detail)


def tree(detail: int = 4) -> Model:
    """A branching tree of capsules with a 10-joint skeleton."""
    return _limb_model(TREE, detail)


def quadruped(detail: int = 4) -> Model:
    """A four-legged animal of capsules with a tail, 20 joints."""
    return _limb_model(QUADRUPED, detail)


def join(parts: list[tuple[FloatArray, IntArray]]) -> tuple[Mesh, IntArray]:
    """One mesh of separate pieces (vertices, faces), and the index of each piece's first
    vertex in it."""
    starts = np.cumsum([0] + [len(v) for v, _ in parts[:-1]]).astype(np.int64)
    mesh = Mesh(
        vertices=np.vstack([v for v, _ in parts]),
        faces=np.vstack([f + s for (_, f), s in zip(parts, starts, strict=True)]),
    )
    return mesh, starts


def multipart(detail: int = 4) -> Model:
    """A desk lamp of four separate rigid parts, one joint each, with gaps between parts."""
    skel = _skeleton(MULTIPART)
    pos = skel.array()
    parts = [
        box(np.array([-0.15, 0.0, -0.15]), np.array([0.15, 0.06, 0.15]), detail),
        capsule(pos[1] + [0, 0.02, 0], pos[2] - [0.015, 0.03, 0], 0.025, detail),
        capsule(pos[2] + [0.03, 0.02, 0], pos[3] - [0.03, 0.02, 0], 0.025, detail),
        capsule(pos[3] + [0.03, -0.03, 0], pos[4], 0.07, detail),
    ]
    mesh, _ = join(parts)
    # Each part is bound wholly to its own joint, the i-th part to joint i.
    owner = np.repeat(np.arange(len(parts)), [len(v) for v, _ in parts])
    weights = np.zeros((len(mesh.vertices), len(MULTIPART)))
    weights[np.arange(len(owner)), owner] = 1.0
    return Model(mesh=mesh, skeleton=skel, weights=weights, source_format="synthetic")


def synthetic_set(detail: int = 4) -> dict[str, Model]:
    """Return every synthetic model by name."""
    return {
        "character": character(detail),
        "quadruped": quadruped(detail),
        "tree": tree(detail),
        "multipart": multipart(detail),
    }


def obj_bytes(mesh: Mesh) -> bytes:
    """The mesh as a Wavefront OBJ file (1-based faces), as a modelling tool writes it."""
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in mesh.faces]
    return ("\n".join(lines) + "\n").encode()
