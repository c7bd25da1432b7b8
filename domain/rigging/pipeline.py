"""The contract's three jobs over local files: skeleton, skinning and merge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from domain.rigging.error import RigMismatchError
from domain.rigging.export import save_model
from domain.rigging.loader import load_model
from domain.rigging.model import FloatArray, Limits, Mesh, Model, Progress, RigSummary, Skeleton
from domain.rigging.skeleton import SkeletonOptions, build_skeleton
from domain.rigging.skinning import SkinOptions, compute_weights


def _scaled(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    if progress is None:
        return None
    outer = progress

    def inner(pct: float, msg: str) -> None:
        outer(lo + (hi - lo) * pct / 100.0, msg)

    return inner


def _summary(model: Model, path: Path, fmt: str) -> RigSummary:
    return RigSummary(
        output_file=str(path),
        format=fmt,
        joints=len(model.skeleton.names) if model.skeleton else 0,
        vertices=len(model.mesh.vertices),
        faces=len(model.mesh.faces),
    )


def skeleton_job(
    source: Path,
    output: Path,
    limits: Limits,
    fmt: str = "glb",
    options: SkeletonOptions | None = None,
    progress: Progress | None = None,
) -> RigSummary:
    """Load a model, generate its skeleton and write the skeleton file (mesh + joints)."""
    model = load_model(source, limits, _scaled(progress, 0, 20))
    opt = options or SkeletonOptions(joint_budget=limits.joint_budget)
    skel = build_skeleton(model.mesh, opt, _scaled(progress, 20, 90))
    out = Model(mesh=model.mesh, skeleton=skel, source_format=model.source_format)
    save_model(out, output, fmt)
    if progress:
        progress(100.0, "skeleton written")
    return _summary(out, output, fmt)


def skinning_job(
    source: Path,
    output: Path,
    limits: Limits,
    fmt: str = "glb",
    options: SkinOptions | None = None,
    progress: Progress | None = None,
) -> RigSummary:
    """Load a skeleton file, compute skin weights and write the skin file (mesh + rig)."""
    model = load_model(source, limits, _scaled(progress, 0, 15))
    if model.skeleton is None:
        raise RigMismatchError("the input has no skeleton; run the skeleton job on it first")
    weights = compute_weights(model.mesh, model.skeleton, options, _scaled(progress, 15, 90))
    out = Model(mesh=model.mesh, skeleton=model.skeleton, weights=weights)
    save_model(out, output, fmt)
    if progress:
        progress(100.0, "skin written")
    return _summary(out, output, fmt)


def merge_job(
    skeleton_file: Path,
    skinning_file: Path,
    output: Path,
    limits: Limits,
    fmt: str = "glb",
    progress: Progress | None = None,
) -> RigSummary:
    """Combine a skeleton file and a skin file into one rigged model in the chosen format."""
    base = load_model(skeleton_file, limits, _scaled(progress, 0, 30))
    skin = load_model(skinning_file, limits, _scaled(progress, 30, 60))
    if base.skeleton is None:
        raise RigMismatchError("the skeleton file has no skeleton")
    if skin.skeleton is None or skin.weights is None:
        raise RigMismatchError("the skinning file has no skin weights")
    weights = transfer_weights(skin.mesh, skin.weights, skin.skeleton, base.mesh, base.skeleton)
    out = Model(mesh=base.mesh, skeleton=base.skeleton, weights=weights)
    save_model(out, output, fmt)
    if progress:
        progress(100.0, "rigged model written")
    return _summary(out, output, fmt)


def transfer_weights(
    src_mesh: Mesh,
    src_weights: FloatArray,
    src_skel: Skeleton,
    dst_mesh: Mesh,
    dst_skel: Skeleton,
    tolerance: float = 1e-4,
) -> FloatArray:
    """Carry weights to another copy of the mesh: joints by name, vertices by position."""
    if sorted(src_skel.names) != sorted(dst_skel.names):
        raise RigMismatchError("the two files have different joints")
    scale = float(max(src_mesh.bbox_sides().max(), dst_mesh.bbox_sides().max()))
    dist, nearest = cKDTree(src_mesh.vertices).query(dst_mesh.vertices)
    # Exporters split vertices on seams but never move them; a far match means another mesh.
    if float(np.mean(dist > tolerance * scale)) > 0.01:
        raise RigMismatchError("the two files do not hold the same mesh")
    column = {n: i for i, n in enumerate(src_skel.names)}
    order = [column[n] for n in dst_skel.names]
    return np.asarray(src_weights[nearest][:, order], dtype=np.float64)
