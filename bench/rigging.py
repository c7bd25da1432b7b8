"""Rigging quality and speed against ground-truth rigs.

`python -m bench.rigging` scores the Khronos fixtures and the synthetic set;
`python -m bench.rigging --gt DIR [--gt DIR2 ...]` adds every skinned .glb/.gltf/.vrm/.fbx and
every RigNet pair (X.obj + X_rig.txt) under each DIR, each set with its own mean line
(`--gt-only` leaves out the fixtures and the synthetic set). Skeleton metrics come from
rigging the bare mesh, skin metrics from skinning the bare mesh onto the ground-truth
skeleton. `j2j` counts every true joint; `j2j_def` only those that move some vertex (IK and
pole targets and ground roots left out, as sets made for learned riggers keep them out).
`leak` is the mean share of a vertex's weight on joints three or more bones away from every
joint the artist weighted it to: weight that crossed to another part (leg to leg, finger to
finger).

`--turn DEG` rigs every model turned DEG degrees about the up axis and scores what comes back
turned back, against the same truth and box: a rigger should not care which way a character
faces.

`--skin voxel` or `--skin bbw` skins with geodesic voxel binding or bounded biharmonic weights
instead of bone heat (`bench.rigging_skins`), on the same bones and piece passes.

`python -m bench.rigging --http` times the service end to end (upload → skeleton → skinning →
merge to GLB → download, through `/rigging` with a real API and rigging worker) beside the
engine alone on the same files, for a small and a ~50k-face model: the difference is what the
platform adds per model.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from domain.rigging.error import RiggingError
from domain.rigging.loader import load_model, load_rignet
from domain.rigging.metrics import deforming_j2j, skeleton_metrics, skin_metrics
from domain.rigging.model import Limits, Mesh, Model, Skeleton
from domain.rigging.skeleton import SkeletonOptions, about_up, build_skeleton
from domain.rigging.skinning import Solver, compute_weights
from domain.rigging.synthetic import character, synthetic_set

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "rigging"
LIMITS = Limits()


def ground_truth(folder: Path) -> Iterator[tuple[str, Model]]:
    """Yield (name, model) for every rigged model under a folder."""
    for path in sorted(folder.rglob("*")):
        try:
            if path.suffix.lower() in {".glb", ".gltf", ".vrm", ".fbx"}:
                yield path.name, load_model(path, LIMITS)
            elif path.name.endswith("_rig.txt"):
                obj = path.with_name(path.name[: -len("_rig.txt")] + ".obj")
                if obj.is_file():
                    yield obj.name, load_rignet(obj, path, LIMITS)
        except RiggingError as exc:
            print(f"{path.name}: skipped ({exc})")


def default_set() -> Iterator[tuple[str, Model]]:
    """The fixtures, the synthetic set and a 47k-face character for the speed target."""
    if FIXTURES.is_dir():
        yield from ground_truth(FIXTURES)
    yield from generated_set()


def generated_set() -> Iterator[tuple[str, Model]]:
    """The synthetic set and a 47k-face character for the speed target."""
    yield from synthetic_set(4).items()
    yield "character_47k", character(8)


def report(
    label: str,
    models: Iterator[tuple[str, Model]],
    solver: Solver | None = None,
    turn_deg: float = 0.0,
) -> dict[str, float] | None:
    """Score a set of models, one line each, then the set's mean line; return the mean."""
    print(f"== {label}", flush=True)
    rows = [r for name, m in models if (r := score(name, m, solver, turn_deg)) is not None]
    if not rows:
        print("no ground-truth models found")
        return None
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    print(
        f"mean ({label}, {len(rows)} models) " + " ".join(f"{k}={v:.4f}" for k, v in mean.items())
    )
    return mean


def score(
    name: str, model: Model, solver: Solver | None = None, turn_deg: float = 0.0
) -> dict[str, float] | None:
    """Rig the bare mesh and skin it on the true skeleton (by bone heat, or `solver`), the
    model turned `turn_deg` about the up axis and the skeleton turned back; print and return
    the row."""
    if model.skeleton is None or model.weights is None:
        print(f"{name}: skipped (no ground-truth skin)")
        return None
    skel, weights, seconds = rig(model.mesh, model.skeleton, solver, turn_deg)
    s = skeleton_metrics(skel, model.skeleton, model.mesh)
    k = skin_metrics(weights, model.weights, model.skeleton, model.mesh)
    row = {
        "j2j": s.j2j,
        "j2j_def": deforming_j2j(skel, model.skeleton, model.weights, model.mesh),
        "j2b": s.j2b,
        "b2b": s.b2b,
        "skin_l1": k.l1,
        "deform": k.deformation,
        "leak": k.leak,
        "s_per_model": seconds,
    }
    print(
        f"{name:24s} faces={len(model.mesh.faces):7d} joints={len(skel.names):3d}/"
        f"{len(model.skeleton.names):<3d} j2j={s.j2j:.4f} j2j_def={row['j2j_def']:.4f} "
        f"j2b={s.j2b:.4f} b2b={s.b2b:.4f} "
        f"prec={k.precision:.3f} rec={k.recall:.3f} skin_l1={k.l1:.3f} "
        f"deform={k.deformation:.4f} leak={k.leak:.4f} s={seconds:.2f}"
        f"{unscored_note(model.weights)}",
        flush=True,
    )
    return row


def rig(
    mesh: Mesh, truth: Skeleton, solver: Solver | None = None, turn_deg: float = 0.0
) -> tuple[Skeleton, np.ndarray, float]:
    """Rig the bare mesh and skin it on the true skeleton, both turned `turn_deg` about the up
    axis; return the skeleton and weights in the mesh's own frame and the seconds both took."""
    turn = about_up(np.radians(turn_deg))
    turned = Mesh(vertices=mesh.vertices @ turn.T, faces=mesh.faces)
    start = time.perf_counter()
    skel = build_skeleton(turned, SkeletonOptions(joint_budget=LIMITS.joint_budget))
    weights = compute_weights(turned, truth.turned(turn), solver=solver)
    return skel.turned(turn.T), weights, time.perf_counter() - start


def unscored_note(weights: np.ndarray) -> str:
    """Say how many vertices the file gives no weight (left out of the skin figures)."""
    n = int((weights.sum(axis=1) <= 0).sum())
    return f" unscored={n}/{len(weights)}" if n else ""


def main() -> None:
    """Score the fixtures and the generated set, then every --gt folder, each with its mean
    (or, with --http, time the service)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--gt", type=Path, action="append", default=[], help="folder of ground-truth rigs"
    )
    parser.add_argument(
        "--gt-only", action="store_true", help="skip the fixtures and the generated set"
    )
    parser.add_argument(
        "--skin", choices=["heat", "voxel", "bbw"], default="heat", help="skin weighting method"
    )
    parser.add_argument(
        "--turn", type=float, default=0.0, help="turn every model DEG about the up axis"
    )
    parser.add_argument("--http", action="store_true", help="time the service end to end")
    parser.add_argument("--runs", type=int, default=3, help="runs per model with --http")
    args = parser.parse_args()
    if args.http:
        from bench.rigging_http import run

        run(args.runs)
        return
    from bench.rigging_skins import SOLVERS

    solver = SOLVERS[args.skin]
    # A worker imports these once per process; the first model should not pay for them.
    import robust_laplacian  # noqa: F401
    import skimage.morphology  # noqa: F401
    import trimesh  # noqa: F401

    if not args.gt_only:
        fixtures = ground_truth(FIXTURES) if FIXTURES.is_dir() else iter(())
        report("fixtures", fixtures, solver, args.turn)
        report("generated set", generated_set(), solver, args.turn)
    for folder in args.gt:
        report(str(folder), ground_truth(folder), solver, args.turn)


if __name__ == "__main__":
    main()
