"""Export: valid GLB, FBX through Blender, and the skeleton → skinning → merge round trip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from domain.rigging.error import InvalidMeshError, RigMismatchError, UnsupportedFormatError
from domain.rigging.export import save_model
from domain.rigging.loader import load_model
from domain.rigging.model import Limits, Model
from domain.rigging.pipeline import merge_job, skeleton_job, skinning_job, transfer_weights


def errors(report: dict[str, Any]) -> list[str]:
    return [m["code"] for m in report["issues"]["messages"] if m["severity"] == 0]


def assert_same_rig(loaded: Model, original: Model) -> None:
    """Joints by name and position; weights per vertex matched by position."""
    assert loaded.skeleton is not None and original.skeleton is not None
    assert sorted(loaded.skeleton.names) == sorted(original.skeleton.names)
    order = [loaded.skeleton.names.index(n) for n in original.skeleton.names]
    assert np.allclose(loaded.skeleton.array()[order], original.skeleton.array(), atol=1e-5)
    parents = [loaded.skeleton.parents[i] for i in order]
    names = [loaded.skeleton.names[p] if p >= 0 else None for p in parents]
    assert names == [
        original.skeleton.names[p] if p >= 0 else None for p in original.skeleton.parents
    ]
    assert loaded.weights is not None and original.weights is not None
    moved = transfer_weights(
        loaded.mesh, loaded.weights, loaded.skeleton, original.mesh, original.skeleton
    )
    # Coincident vertices of touching parts may swap: compare the weights at that position.
    assert np.mean(np.abs(moved - original.weights).max(axis=1) < 1e-5) > 0.99


@pytest.mark.parametrize("name", ["character", "multipart"])
def test_glb_round_trip_and_validator(
    tmp_path: Path,
    synthetic: dict[str, Model],
    limits: Limits,
    validate_gltf: Callable[[Path], dict[str, Any]],
    name: str,
) -> None:
    model = synthetic[name]
    path = tmp_path / f"{name}.glb"
    save_model(model, path, "glb")
    report = validate_gltf(path)
    assert errors(report) == [] and report["issues"]["numErrors"] == 0
    assert_same_rig(load_model(path, limits), model)


def test_skeleton_only_glb_is_valid_and_keeps_joints(
    tmp_path: Path,
    synthetic: dict[str, Model],
    limits: Limits,
    validate_gltf: Callable[[Path], dict[str, Any]],
) -> None:
    model = synthetic["tree"]
    path = tmp_path / "tree_skeleton.glb"
    save_model(Model(mesh=model.mesh, skeleton=model.skeleton), path, "glb")
    assert validate_gltf(path)["issues"]["numErrors"] == 0
    loaded = load_model(path, limits)
    assert loaded.weights is None and loaded.skeleton is not None
    assert loaded.skeleton.names == model.skeleton.names  # type: ignore[union-attr]


def test_khronos_sample_re_export_is_valid(
    tmp_path: Path,
    fixtures_dir: Path,
    limits: Limits,
    validate_gltf: Callable[[Path], dict[str, Any]],
) -> None:
    model = load_model(fixtures_dir / "RiggedFigure.gltf", limits)
    path = tmp_path / "figure.glb"
    save_model(model, path, "glb")
    assert validate_gltf(path)["issues"]["numErrors"] == 0
    assert_same_rig(load_model(path, limits), model)


def test_fbx_round_trip(tmp_path: Path, synthetic: dict[str, Model], limits: Limits) -> None:
    pytest.importorskip("bpy", reason="FBX files are written with the rigging extra's bpy")
    model = synthetic["character"]
    path = tmp_path / "character.fbx"
    save_model(model, path, "fbx")
    assert path.read_bytes().startswith(b"Kaydara FBX Binary")
    assert_same_rig(load_model(path, limits), model)


@pytest.mark.parametrize("fmt", ["glb", "fbx"])
def test_three_jobs_end_to_end(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits, fmt: str
) -> None:
    if fmt == "fbx":
        pytest.importorskip("bpy", reason="FBX files are written with the rigging extra's bpy")
    source = tmp_path / "upload.glb"
    bare = synthetic["tree"]
    save_model(Model(mesh=bare.mesh), source, "glb")
    seen: list[float] = []
    skel_file, skin_file, out = (tmp_path / f"{n}.{fmt}" for n in ("skeleton", "skinning", "rig"))
    s1 = skeleton_job(source, skel_file, limits, fmt, progress=lambda p, _: seen.append(p))
    s2 = skinning_job(skel_file, skin_file, limits, fmt, progress=lambda p, _: seen.append(p))
    s3 = merge_job(skel_file, skin_file, out, limits, fmt)
    assert s1.joints == s2.joints == s3.joints > 3
    assert seen[-1] == 100.0 and all(0.0 <= p <= 100.0 for p in seen)
    rigged = load_model(out, limits)
    assert rigged.weights is not None and rigged.skeleton is not None
    assert np.allclose(rigged.weights.sum(axis=1), 1.0, atol=1e-5)
    assert ((rigged.weights > 0).sum(axis=1) <= 4).all()
    assert len(rigged.mesh.vertices) == len(bare.mesh.vertices)


def test_skinning_needs_a_skeleton(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    source = tmp_path / "bare.glb"
    save_model(Model(mesh=synthetic["tree"].mesh), source, "glb")
    with pytest.raises(RigMismatchError, match="skeleton job"):
        skinning_job(source, tmp_path / "out.glb", limits)


def test_merge_refuses_files_of_different_models(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    tree, lamp = synthetic["tree"], synthetic["multipart"]
    save_model(Model(mesh=tree.mesh, skeleton=tree.skeleton), tmp_path / "s.glb", "glb")
    save_model(lamp, tmp_path / "w.glb", "glb")
    with pytest.raises(RigMismatchError):
        merge_job(tmp_path / "s.glb", tmp_path / "w.glb", tmp_path / "out.glb", limits)
    assert not (tmp_path / "out.glb").exists()


def test_failed_export_keeps_the_existing_file(tmp_path: Path, synthetic: dict[str, Model]) -> None:
    model = synthetic["tree"]
    path = tmp_path / "tree.glb"
    save_model(model, path, "glb")
    before = path.read_bytes()
    assert model.weights is not None
    broken = Model(mesh=model.mesh, skeleton=model.skeleton, weights=model.weights[:10])
    with pytest.raises(InvalidMeshError):
        save_model(broken, path, "glb")
    with pytest.raises(UnsupportedFormatError):
        save_model(model, path, "usdz")
    assert path.read_bytes() == before
