"""Loading every input format by content, and refusing bad input with a clear error."""

from __future__ import annotations

import base64
import json
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from domain.rigging.error import (
    CorruptFileError,
    InvalidMeshError,
    LimitExceededError,
    UnsupportedFormatError,
)
from domain.rigging.export import glb_bytes, save_model
from domain.rigging.loader import detect_format, load_model, load_rignet
from domain.rigging.model import Limits, Mesh, Model


def obj_text(mesh: Mesh) -> str:
    lines = [f"v {x:.9f} {y:.9f} {z:.9f}" for x, y, z in mesh.vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in mesh.faces]
    return "# synthetic\n" + "\n".join(lines) + "\n"


def glb_json(data: bytes) -> tuple[dict[str, Any], int]:
    """A GLB's JSON, and where its binary chunk's data starts."""
    js_len = struct.unpack_from("<I", data, 12)[0]
    return json.loads(data[20 : 20 + js_len]), 20 + js_len + 8


def first_row_at(data: bytes, attribute: str) -> tuple[int, str]:
    """Where the first vertex's values of an attribute of the first primitive lie, and
    their type."""
    doc, bin_at = glb_json(data)
    acc = doc["accessors"][doc["meshes"][0]["primitives"][0]["attributes"][attribute]]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype = {5121: "<u1", 5123: "<u2", 5126: "<f4"}[acc["componentType"]]
    return bin_at + view.get("byteOffset", 0) + acc.get("byteOffset", 0), dtype


def patch_glb_json(data: bytes, change: dict[str, Any]) -> bytes:
    doc, bin_at = glb_json(data)
    doc.update(change)
    raw = json.dumps(doc).encode()
    raw += b" " * (-len(raw) % 4)
    rest = data[bin_at - 8 :]
    body = struct.pack("<II", len(raw), 0x4E4F534A) + raw + rest
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def test_khronos_samples_keep_skeleton_and_skin(fixtures_dir: Path, limits: Limits) -> None:
    simple = load_model(fixtures_dir / "RiggedSimple.gltf", limits)
    figure = load_model(fixtures_dir / "RiggedFigure.gltf", limits)
    assert simple.source_format == "gltf"
    assert simple.mesh.vertices.shape == (160, 3) and simple.mesh.faces.shape == (188, 3)
    assert simple.skeleton is not None and simple.skeleton.names == ["Bone", "Bone.001"]
    assert figure.skeleton is not None and len(figure.skeleton.names) == 19
    assert figure.skeleton.parents.count(-1) == 1
    assert figure.weights is not None and np.allclose(figure.weights.sum(axis=1), 1.0, atol=1e-6)
    # Y-up: the figure stands on the ground, head at the top.
    lo, hi = figure.mesh.vertices.min(axis=0), figure.mesh.vertices.max(axis=0)
    assert hi[1] - lo[1] > hi[2] - lo[2]
    neck = figure.skeleton.names.index("neck_joint_2")
    legs = figure.skeleton.names.index("leg_joint_L_5")
    assert figure.skeleton.array()[neck][1] > figure.skeleton.array()[legs][1]


def test_obj_keeps_vertex_order(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    mesh = synthetic["tree"].mesh
    path = tmp_path / "tree.obj"
    path.write_text(obj_text(mesh))
    loaded = load_model(path, limits)
    assert loaded.source_format == "obj" and loaded.skeleton is None
    assert np.allclose(loaded.mesh.vertices, mesh.vertices, atol=1e-8)
    assert np.array_equal(loaded.mesh.faces, mesh.faces)


def test_obj_polygons_and_slashes_are_triangulated(tmp_path: Path, limits: Limits) -> None:
    path = tmp_path / "quad.obj"
    path.write_text(
        "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\nvt 0 0\n"
        "f 1/1 2/1 3/1 4/1\nf -5//1 -4//1 -1//1\n"
    )
    loaded = load_model(path, limits)
    assert loaded.mesh.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 4]]


def test_format_is_recognised_by_content_not_extension(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    path = tmp_path / "actually_a_glb.obj"
    path.write_bytes(glb_bytes(synthetic["character"]))
    loaded = load_model(path, limits)
    assert loaded.source_format == "glb" and loaded.skeleton is not None


def test_vrm_0_and_1_load_facing_the_same_way(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    model = synthetic["character"]
    base = glb_bytes(model)
    v0 = patch_glb_json(
        base, {"extensionsUsed": ["VRM"], "extensions": {"VRM": {"specVersion": "0.0"}}}
    )
    v1 = patch_glb_json(
        base, {"extensionsUsed": ["VRMC_vrm"], "extensions": {"VRMC_vrm": {"specVersion": "1.0"}}}
    )
    (tmp_path / "a.vrm").write_bytes(v0)
    (tmp_path / "b.vrm").write_bytes(v1)
    m0 = load_model(tmp_path / "a.vrm", limits)
    m1 = load_model(tmp_path / "b.vrm", limits)
    assert (m0.source_format, m1.source_format) == ("vrm0", "vrm1")
    assert np.allclose(m1.mesh.vertices, model.mesh.vertices, atol=1e-6)
    # VRM 0.x faces -Z: turned half a turn about Y so both versions face +Z.
    assert np.allclose(m0.mesh.vertices, model.mesh.vertices * [-1, 1, -1], atol=1e-6)
    assert m0.skeleton is not None and m0.weights is not None
    assert np.allclose(m0.skeleton.array(), m1.skeleton.array() * [-1, 1, -1], atol=1e-6)


def test_fbx_loads_skeleton_and_weights(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    pytest.importorskip("bpy", reason="FBX files are written with the rigging extra's bpy")
    model = synthetic["multipart"]
    path = tmp_path / "lamp.fbx"
    save_model(model, path, "fbx")
    assert detect_format(path.read_bytes()[:64]) == "fbx"
    loaded = load_model(path, limits)
    assert loaded.skeleton is not None and loaded.weights is not None
    assert sorted(loaded.skeleton.names) == sorted(model.skeleton.names)  # type: ignore[union-attr]
    # Units and axes are converted: metres, Y-up, same place as written.
    assert np.allclose(loaded.mesh.vertices.min(axis=0), model.mesh.vertices.min(axis=0), atol=1e-5)
    assert np.allclose(loaded.mesh.vertices.max(axis=0), model.mesh.vertices.max(axis=0), atol=1e-5)


def test_rignet_pair_loads_rig(tmp_path: Path, limits: Limits) -> None:
    (tmp_path / "stick.obj").write_text(
        "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 3 4\nf 1 4 2\nf 2 4 3\n"
    )
    (tmp_path / "stick_rig.txt").write_text(
        "joints hip 0 0 0\njoints knee 0 0.5 0\nroot hip\nhier hip knee\n"
        "skin 0 hip 1.0\nskin 1 hip 0.5 knee 0.5\nskin 2 knee 1.0\nskin 3 hip 1.0\n"
    )
    model = load_rignet(tmp_path / "stick.obj", tmp_path / "stick_rig.txt", limits)
    assert model.skeleton is not None and model.skeleton.parents == [-1, 0]
    assert model.weights is not None and model.weights[1].tolist() == [0.5, 0.5]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"PK\x03\x04 a zip file, not a model", UnsupportedFormatError),
        (b"\x89PNG\r\n\x1a\n\x00\x00", UnsupportedFormatError),
        (b"glTF\x02\x00\x00\x00\xff\xff\x00\x00", CorruptFileError),
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", InvalidMeshError),
        (b"v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n", InvalidMeshError),
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n", CorruptFileError),
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 1 2\n", InvalidMeshError),
        (b"", InvalidMeshError),
    ],
    ids=["zip", "png", "truncated-glb", "zero-faces", "nan", "bad-index", "degenerate", "empty"],
)
def test_bad_input_is_refused_clearly(
    tmp_path: Path, limits: Limits, content: bytes, error: type[Exception]
) -> None:
    path = tmp_path / "upload.obj"
    path.write_bytes(content)
    with pytest.raises(error):
        load_model(path, limits)


def test_truncated_glb_body_is_refused(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    data = glb_bytes(synthetic["tree"])
    path = tmp_path / "cut.glb"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="truncated"):
        load_model(path, limits)


def test_face_bomb_obj_is_refused_before_parsing(tmp_path: Path, limits: Limits) -> None:
    path = tmp_path / "bomb.obj"
    path.write_bytes(b"v 0 0 0\nv 1 0 0\nv 0 1 0\n" + b"f 1 2 3\n" * 10_000_000)
    started = time.process_time()
    with pytest.raises(LimitExceededError, match="10000000 faces"):
        load_model(path, limits)
    # Parsing 10M lines in Python takes tens of seconds; refusing must not parse them.
    assert time.process_time() - started < 10.0


def test_face_bomb_glb_header_is_refused(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    data = glb_bytes(synthetic["tree"])
    doc, _ = glb_json(data)
    doc["accessors"][1]["count"] = 30_000_000
    bomb = patch_glb_json(data, {"accessors": doc["accessors"]})
    path = tmp_path / "bomb.glb"
    path.write_bytes(bomb)
    with pytest.raises(LimitExceededError, match="10000000 faces"):
        load_model(path, limits)


def test_oversized_file_and_vertex_limits(tmp_path: Path, synthetic: dict[str, Model]) -> None:
    path = tmp_path / "tree.glb"
    path.write_bytes(glb_bytes(synthetic["tree"]))
    with pytest.raises(LimitExceededError, match="bytes"):
        load_model(path, Limits(max_file_bytes=1000))
    with pytest.raises(LimitExceededError, match="vertices"):
        load_model(path, Limits(max_vertices=100))


def test_gltf_buffer_uri_cannot_escape_its_folder(tmp_path: Path, limits: Limits) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x00" * 36)
    inner = tmp_path / "upload"
    inner.mkdir()
    doc = {
        "asset": {"version": "2.0"},
        "buffers": [{"uri": "../secret.bin", "byteLength": 36}],
        "bufferViews": [{"buffer": 0, "byteLength": 36}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "nodes": [{"mesh": 0}],
    }
    path = inner / "model.gltf"
    path.write_text(json.dumps(doc))
    with pytest.raises(CorruptFileError, match="escapes"):
        load_model(path, limits)


def test_non_manifold_soup_is_refused(tmp_path: Path, limits: Limits) -> None:
    # Eight triangles stacked on one edge pair: no surface to rig.
    lines = ["v 0 0 0", "v 1 0 0"] + [f"v 0.5 {np.cos(a):.4f} {np.sin(a):.4f}" for a in range(8)]
    lines += [f"f 1 2 {k + 3}" for k in range(8)]
    path = tmp_path / "soup.obj"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidMeshError, match="non-manifold"):
        load_model(path, limits)


def test_face_bomb_fbx_header_is_refused(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    pytest.importorskip("bpy", reason="FBX files are written with the rigging extra's bpy")
    path = tmp_path / "lamp.fbx"
    save_model(synthetic["multipart"], path, "fbx")
    data = bytearray(path.read_bytes())
    at = data.find(b"PolygonVertexIndex")
    # The array header claims 30M indices (10M triangles); its compressed body is unchanged.
    struct.pack_into("<I", data, at + len(b"PolygonVertexIndex") + 1, 30_000_000)
    path.write_bytes(bytes(data))
    with pytest.raises(LimitExceededError, match="10000000 faces"):
        load_model(path, limits)


def draco_compressed(data: bytes, joint_width: int = 4) -> bytes:
    """The GLB with its first primitive's positions, indices, joints and weights in Draco
    (the joints' first `joint_width` values a vertex, for a stream that disagrees).

    The compressed attributes' accessors lose their buffer views, as the extension has it,
    so that a reader which fell back to them would read zeros.
    """
    import DracoPy

    doc, bin_at = glb_json(data)
    blob = bytearray(data[bin_at:])
    dtypes = {5121: np.uint8, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
    sizes = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}

    def array(index: int) -> np.ndarray[Any, Any]:
        acc = doc["accessors"][index]
        view = doc["bufferViews"][acc.pop("bufferView")]
        start = view.get("byteOffset", 0) + acc.pop("byteOffset", 0)
        count, width = acc["count"], sizes[acc["type"]]
        out = np.frombuffer(blob, dtypes[acc["componentType"]], count * width, start)
        return out.reshape(count, width)

    prim = doc["meshes"][0]["primitives"][0]
    attrs = prim["attributes"]
    encoded = DracoPy.encode(
        array(attrs["POSITION"]),
        faces=array(prim["indices"]).reshape(-1, 3),
        quantization_bits=16,
        preserve_order=True,
        generic_attributes={
            1: array(attrs["JOINTS_0"])[:, :joint_width].astype(np.uint16),
            2: array(attrs["WEIGHTS_0"]).astype(np.float32),
        },
    )
    blob += b"\0" * (-len(blob) % 4)
    doc["bufferViews"].append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(encoded)})
    blob += encoded + b"\0" * (-len(encoded) % 4)
    doc["buffers"][0]["byteLength"] = len(blob)
    # DracoPy numbers the positions after the generic attributes.
    position = next(a for a in DracoPy.decode(encoded).attributes if a["attribute_type"] == 0)
    ids = {"POSITION": position["unique_id"], "JOINTS_0": 1, "WEIGHTS_0": 2}
    extension = {"bufferView": len(doc["bufferViews"]) - 1, "attributes": ids}
    prim["extensions"] = {"KHR_draco_mesh_compression": extension}
    doc["extensionsUsed"] = doc["extensionsRequired"] = ["KHR_draco_mesh_compression"]
    raw = json.dumps(doc).encode()
    raw += b" " * (-len(raw) % 4)
    body = struct.pack("<II", len(raw), 0x4E4F534A) + raw
    body += struct.pack("<II", len(blob), 0x004E4942) + bytes(blob)
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def test_draco_compressed_glb_loads_like_the_plain_one(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    plain_path, draco_path = tmp_path / "plain.glb", tmp_path / "draco.glb"
    plain_path.write_bytes(glb_bytes(synthetic["tree"]))
    draco_path.write_bytes(draco_compressed(plain_path.read_bytes()))
    plain, draco = load_model(plain_path, limits), load_model(draco_path, limits)
    extent = float(np.ptp(plain.mesh.vertices, axis=0).max())
    assert np.abs(draco.mesh.vertices - plain.mesh.vertices).max() < 1e-4 * extent
    assert np.array_equal(draco.mesh.faces, plain.mesh.faces)
    assert draco.skeleton == plain.skeleton
    assert draco.weights is not None and plain.weights is not None
    assert np.allclose(draco.weights, plain.weights, atol=1e-6)


def test_corrupt_draco_primitive_is_refused_clearly(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    data = bytearray(draco_compressed(glb_bytes(synthetic["tree"])))
    at = data.find(b"DRACO")
    data[at + 5 : at + 40] = b"\xff" * 35
    path = tmp_path / "broken.glb"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="Draco"):
        load_model(path, limits)


def test_damaged_draco_streams_are_refused_or_read_consistently(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    """An upload whose Draco bytes were damaged anywhere is refused as corrupt, or reads as
    a mesh whose faces, weights and joints agree; no other error reaches the service."""
    data = draco_compressed(glb_bytes(synthetic["tree"]))
    doc, bin_at = glb_json(data)
    view = doc["bufferViews"][-1]  # the Draco stream, appended last
    start = bin_at + view["byteOffset"]
    rng = np.random.default_rng(7)
    path = tmp_path / "damaged.glb"
    outcomes = {"refused": 0, "read": 0}
    for _ in range(300):
        damaged = bytearray(data)
        for at in start + rng.integers(0, view["byteLength"], rng.integers(1, 7)):
            damaged[at] = int(rng.choice([damaged[at] ^ (1 << int(rng.integers(8))), 0, 255]))
        path.write_bytes(bytes(damaged))
        try:
            model = load_model(path, limits)
        except CorruptFileError:
            outcomes["refused"] += 1
            continue
        outcomes["read"] += 1
        n_verts = len(model.mesh.vertices)
        assert model.mesh.faces.min() >= 0 and model.mesh.faces.max() < n_verts
        assert model.skeleton is not None and model.weights is not None
        assert model.weights.shape == (n_verts, len(model.skeleton.names))
    # Both ways are exercised: damage past the header often still decodes.
    assert outcomes["refused"] > 0 and outcomes["read"] > 0, outcomes


def with_first_row(data: bytes, attribute: str, values: list[float]) -> bytes:
    """The GLB with the first vertex's values of an attribute of its first primitive set."""
    at, dtype = first_row_at(data, attribute)
    out = bytearray(data)
    row = np.asarray(values, dtype=dtype).tobytes()
    out[at : at + len(row)] = row
    return bytes(out)


def test_weight_on_a_joint_the_skin_lacks_is_refused_clearly(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    data = with_first_row(glb_bytes(synthetic["tree"]), "WEIGHTS_0", [0.5, 0.5, 0.0, 0.0])
    path = tmp_path / "stray_joint.glb"
    # Past the skin, with no weight on it: influences nothing, the file reads.
    path.write_bytes(with_first_row(data, "JOINTS_0", [0, 1, 200, 200]))
    model = load_model(path, limits)
    assert model.weights is not None and np.isclose(model.weights[0].sum(), 1.0)
    # Past the skin with weight on it: the file is broken, whatever reads it.
    path.write_bytes(with_first_row(data, "JOINTS_0", [0, 200, 0, 0]))
    with pytest.raises(CorruptFileError, match="JOINTS_0 weights a joint the skin does not have"):
        load_model(path, limits)


def test_joints_and_weights_that_disagree_are_refused_clearly(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    data = glb_bytes(synthetic["tree"])
    doc, _ = glb_json(data)
    joints = doc["meshes"][0]["primitives"][0]["attributes"]["JOINTS_0"]
    doc["accessors"][joints]["count"] -= 1
    path = tmp_path / "short_joints.glb"
    path.write_bytes(patch_glb_json(data, {"accessors": doc["accessors"]}))
    with pytest.raises(CorruptFileError, match=r"JOINTS_0 .* do not match"):
        load_model(path, limits)
    path.write_bytes(draco_compressed(data, joint_width=3))
    with pytest.raises(CorruptFileError, match="Draco attribute JOINTS_0 is not the accessor's 4"):
        load_model(path, limits)


def test_meshopt_compressed_geometry_is_refused_clearly(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    meshopt = ["EXT_meshopt_compression"]
    data = patch_glb_json(
        glb_bytes(synthetic["tree"]), {"extensionsUsed": meshopt, "extensionsRequired": meshopt}
    )
    path = tmp_path / "meshopt.glb"
    path.write_bytes(data)
    with pytest.raises(UnsupportedFormatError, match="meshopt"):
        load_model(path, limits)


def figure_with_helmet(fixtures_dir: Path) -> dict[str, Any]:
    """RiggedFigure with an unskinned copy of its body hung under the neck, as exporters
    write a rigid helmet."""
    doc: dict[str, Any] = json.loads((fixtures_dir / "RiggedFigure.gltf").read_text())
    nodes = doc["nodes"]
    mesh = next(n["mesh"] for n in nodes if "skin" in n)
    neck = next(i for i, n in enumerate(nodes) if n.get("name") == "neck_joint_2")
    nodes.append({"name": "helmet", "mesh": mesh})
    nodes[neck].setdefault("children", []).append(len(nodes) - 1)
    return doc


def test_rigid_part_parented_to_a_bone_follows_that_bone(
    tmp_path: Path, fixtures_dir: Path, limits: Limits
) -> None:
    (tmp_path / "helmet.gltf").write_text(json.dumps(figure_with_helmet(fixtures_dir)))
    model = load_model(tmp_path / "helmet.gltf", limits)
    assert model.skeleton is not None and model.weights is not None
    helmet = model.weights[370:]
    assert helmet.shape[0] == 370
    assert np.all(helmet.argmax(axis=1) == model.skeleton.names.index("neck_joint_2"))
    assert np.allclose(helmet.sum(axis=1), 1.0)


def test_rigid_part_goes_where_its_bone_is_in_the_bind_pose(
    tmp_path: Path, fixtures_dir: Path, limits: Limits
) -> None:
    """A part hung under a bone (a helmet; the space pack's pistol in the hand) stays on the
    bone when the scene is posed otherwise."""
    doc = figure_with_helmet(fixtures_dir)
    nodes = doc["nodes"]
    (tmp_path / "bind.gltf").write_text(json.dumps(doc))
    # The scene's pose bends the figure at the waist (as an idle animation's first frame
    # lowers the arms); the inverse bind matrices still say where the rig is bound.
    waist = next(i for i, n in enumerate(nodes) if n.get("name") == "torso_joint_2")
    nodes[waist]["rotation"] = [0.0, 0.0, 0.7071068, 0.7071068]
    (tmp_path / "posed.gltf").write_text(json.dumps(doc))
    bound = load_model(tmp_path / "bind.gltf", limits)
    posed = load_model(tmp_path / "posed.gltf", limits)
    assert bound.skeleton == posed.skeleton
    assert np.allclose(posed.mesh.vertices, bound.mesh.vertices, atol=1e-6)


def test_nan_skin_weight_reads_as_no_influence(
    tmp_path: Path, synthetic: dict[str, Model], limits: Limits
) -> None:
    data = bytearray(glb_bytes(synthetic["tree"]))
    at, _ = first_row_at(bytes(data), "WEIGHTS_0")
    struct.pack_into("<f", data, at, float("nan"))
    (tmp_path / "nan.glb").write_bytes(bytes(data))
    model = load_model(tmp_path / "nan.glb", limits)
    assert model.weights is not None and np.isfinite(model.weights).all()


def test_second_skin_is_placed_by_its_own_bind_matrices(
    tmp_path: Path, fixtures_dir: Path, limits: Limits
) -> None:
    """A part bound by another skin (a backpack) lands where that skin's bind pose puts it."""
    doc = json.loads((fixtures_dir / "RiggedFigure.gltf").read_text())
    body = next(i for i, n in enumerate(doc["nodes"]) if "skin" in n)
    skin = doc["skins"][0]
    first = load_model(fixtures_dir / "RiggedFigure.gltf", limits)
    first_ibm = _read_floats(doc, skin["inverseBindMatrices"]).reshape(-1, 4, 4)
    # Column-major IBMs times a 1 m shift of the mesh data: the copy sits 1 m away in bind pose.
    shift = np.eye(4)
    shift[2, 3] = 1.0
    ibm = np.stack([(m.T @ shift).T for m in first_ibm]).astype(np.float32)
    uri = "data:application/octet-stream;base64," + base64.b64encode(ibm.tobytes()).decode()
    doc["buffers"].append({"byteLength": ibm.nbytes, "uri": uri})
    doc["bufferViews"].append({"buffer": len(doc["buffers"]) - 1, "byteLength": ibm.nbytes})
    doc["accessors"].append(
        {
            "bufferView": len(doc["bufferViews"]) - 1,
            "componentType": 5126,
            "count": len(ibm),
            "type": "MAT4",
        }
    )
    doc["skins"].append(
        {"joints": skin["joints"], "inverseBindMatrices": len(doc["accessors"]) - 1}
    )
    doc["nodes"].append({"name": "copy", "mesh": doc["nodes"][body]["mesh"], "skin": 1})
    doc["scenes"][doc.get("scene", 0)]["nodes"].append(len(doc["nodes"]) - 1)
    (tmp_path / "two_skins.gltf").write_text(json.dumps(doc))
    model = load_model(tmp_path / "two_skins.gltf", limits)
    original = first.mesh.vertices
    copy = model.mesh.vertices[len(original) :]
    offset = copy - original
    assert np.allclose(offset, offset[0], atol=1e-4)
    assert np.isclose(np.linalg.norm(offset[0]), 1.0, atol=1e-4)


def _read_floats(doc: dict[str, Any], accessor: int) -> np.ndarray:
    acc = doc["accessors"][accessor]
    view = doc["bufferViews"][acc["bufferView"]]
    raw = base64.b64decode(doc["buffers"][view["buffer"]]["uri"].split(",", 1)[1])
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    return np.frombuffer(raw, dtype="<f4", count=acc["count"] * 16, offset=start).astype(float)
