"""The benchmark finds every kind of ground-truth rig in a folder and scores it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bench.rigging import ground_truth, report, score
from domain.rigging.export import save_model
from domain.rigging.metrics import skin_metrics
from domain.rigging.skinning import SkinOptions, compute_weights
from domain.rigging.synthetic import character, multipart, quadruped, tree


def test_ground_truth_folder_reads_glb_fbx_and_rignet_pairs(tmp_path: Path) -> None:
    pytest.importorskip("bpy", reason="FBX ground truth is written with the rigging extra's bpy")
    lamp = multipart(2)
    save_model(lamp, tmp_path / "lamp.glb", "glb")
    save_model(lamp, tmp_path / "lamp.fbx", "fbx")
    rig = tree(2)
    assert rig.skeleton is not None and rig.weights is not None
    (tmp_path / "t.obj").write_text(
        "".join(f"v {x} {y} {z}\n" for x, y, z in rig.mesh.vertices)
        + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in rig.mesh.faces)
    )
    lines = [
        f"joints {n} {x} {y} {z}"
        for n, (x, y, z) in zip(rig.skeleton.names, rig.skeleton.positions, strict=True)
    ]
    lines.append(f"root {rig.skeleton.names[0]}")
    lines += [
        f"hier {rig.skeleton.names[p]} {rig.skeleton.names[c]}"
        for c, p in enumerate(rig.skeleton.parents)
        if p >= 0
    ]
    for v, row in enumerate(rig.weights):
        pairs = " ".join(f"{rig.skeleton.names[j]} {w}" for j, w in enumerate(row) if w > 0)
        lines.append(f"skin {v} {pairs}")
    (tmp_path / "t_rig.txt").write_text("\n".join(lines) + "\n")
    found = dict(ground_truth(tmp_path))
    assert set(found) == {"lamp.glb", "lamp.fbx", "t.obj"}
    row = score("t.obj", found["t.obj"])
    assert row is not None and all(math.isfinite(v) for v in row.values())
    assert row["skin_l1"] < 0.6 and row["j2j"] < 0.1


def test_each_set_gets_its_own_mean_line(capsys: pytest.CaptureFixture[str]) -> None:
    lamp = multipart(2)
    mean = report("lamps", iter([("a", lamp), ("b", lamp)]))
    out = capsys.readouterr().out
    assert mean is not None and math.isclose(mean["skin_l1"], 0.0, abs_tol=1e-9)
    assert "mean (lamps, 2 models)" in out and out.count("\na ") + out.count("\nb ") == 2
    assert report("empty", iter(())) is None


@pytest.mark.parametrize("method", ["voxel", "bbw"])
@pytest.mark.parametrize("name", ["character", "quadruped"])
def test_other_skinning_methods_weight_the_generated_characters(method: str, name: str) -> None:
    """Geodesic voxel binding and bounded biharmonic weights, on bone heat's bones: valid
    weights that deform the generated characters as closely as heat does."""
    from bench.rigging_skins import SOLVERS

    model = (character if name == "character" else quadruped)(2)
    assert model.skeleton is not None and model.weights is not None
    blended = SkinOptions(rigid_share=2.0)
    weights = compute_weights(model.mesh, model.skeleton, blended, solver=SOLVERS[method])
    assert weights.shape == model.weights.shape
    assert np.allclose(weights.sum(axis=1), 1.0) and ((weights > 0).sum(axis=1) <= 4).all()
    score = skin_metrics(weights, model.weights, model.skeleton, model.mesh)
    assert score.deformation < 0.01 and score.recall > 0.8
