"""Read OBJ, FBX, glTF/GLB and VRM files (recognised by content) into one Y-up metre model."""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from domain.rigging.error import (
    CorruptFileError,
    InvalidMeshError,
    LimitExceededError,
    UnsupportedFormatError,
)
from domain.rigging.geometry import unique_rows
from domain.rigging.model import FloatArray, IntArray, Limits, Mesh, Model, Progress, Skeleton

GLB_MAGIC = b"glTF"
FBX_BINARY_MAGIC = b"Kaydara FBX Binary"
_OBJ_LINE = re.compile(rb"^\s*(v|vt|vn|f|o|g|s|usemtl|mtllib|l|#)(\s|$)", re.MULTILINE)
_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
# Draco is decoded (DracoPy); meshopt's filters would need a decoder of our own.
_COMPRESSION = {"EXT_meshopt_compression", "KHR_meshopt_compression"}
_DRACO = "KHR_draco_mesh_compression"
_DTYPES = {
    5120: np.int8,
    5121: np.uint8,
    5122: np.int16,
    5123: np.uint16,
    5125: np.uint32,
    5126: np.float32,
}


def detect_format(data: bytes) -> str:
    """Name the format of a file from its content: glb, vrm0, vrm1, gltf, fbx or obj."""
    if data[:4] == GLB_MAGIC:
        return _glb_flavour(data)
    head = data[:65536]
    if head.startswith(FBX_BINARY_MAGIC) or head.lstrip().startswith(b"; FBX"):
        return "fbx"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{") and b'"asset"' in data:
        return "gltf"
    if text[:1] != b"{" and _looks_like_obj(head):
        return "obj"
    raise UnsupportedFormatError("unrecognised 3D file: expected OBJ, FBX, glTF/GLB or VRM content")


def _looks_like_obj(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    lines = [ln for ln in head.splitlines()[:200] if ln.strip()]
    if not lines:
        return False
    known = sum(1 for ln in lines if _OBJ_LINE.match(ln))
    return known >= max(1, int(0.8 * len(lines[:-1] or lines)))


def _glb_flavour(head: bytes) -> str:
    try:
        chunk_len, chunk_type = struct.unpack_from("<II", head, 12)
    except struct.error:
        return "glb"
    if chunk_type != 0x4E4F534A:
        return "glb"
    js = head[20 : 20 + chunk_len]
    if b'"VRMC_vrm"' in js:
        return "vrm1"
    if b'"VRM"' in js:
        return "vrm0"
    return "glb"


def load_model(path: Path, limits: Limits, progress: Progress | None = None) -> Model:
    """Load a model file, refusing unknown, broken or over-limit content with a RiggingError."""
    size = path.stat().st_size
    if size == 0:
        raise InvalidMeshError(f"{path.name}: file is empty")
    if size > limits.max_file_bytes:
        raise LimitExceededError(
            f"{path.name}: {size} bytes exceeds the limit of {limits.max_file_bytes} bytes"
        )
    data = path.read_bytes()
    if progress:
        progress(5.0, "reading model")
    fmt = detect_format(data)
    if fmt == "obj":
        mesh = _load_obj(data, limits)
        model = Model(mesh=mesh, source_format="obj")
    elif fmt == "fbx":
        model = _load_fbx(data, limits)
    else:
        model = _load_gltf(data, fmt, path.parent, limits)
    checked = Model(
        mesh=validate_mesh(model.mesh, limits),
        skeleton=model.skeleton,
        weights=model.weights,
        source_format=model.source_format,
    )
    if progress:
        progress(15.0, "model loaded")
    return checked


def check_counts(vertices: int, faces: int, limits: Limits) -> None:
    """Refuse counts over the limits before any array of that size is built."""
    if faces > limits.max_faces:
        raise LimitExceededError(f"{faces} faces exceeds the limit of {limits.max_faces}")
    if vertices > limits.max_vertices:
        raise LimitExceededError(f"{vertices} vertices exceeds the limit of {limits.max_vertices}")


def validate_mesh(mesh: Mesh, limits: Limits) -> Mesh:
    """Check a mesh is finite, non-empty and repairable; drop degenerate faces."""
    v, f = mesh.vertices, mesh.faces
    check_counts(len(v), len(f), limits)
    if len(v) == 0 or len(f) == 0:
        raise InvalidMeshError("mesh has no faces")
    if not np.isfinite(v).all():
        raise InvalidMeshError("mesh has NaN or infinite vertex coordinates")
    if f.min() < 0 or f.max() >= len(v):
        raise CorruptFileError("a face refers to a vertex that does not exist")
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    f = f[keep]
    if len(f) == 0:
        raise InvalidMeshError("mesh has no faces with three distinct vertices")
    extent = float((v.max(axis=0) - v.min(axis=0)).max())
    if extent <= 0.0:
        raise InvalidMeshError("mesh has zero extent")
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, inverse, counts = unique_rows(edges)
    bad_face = (counts[inverse.reshape(-1)] > 2).reshape(3, -1).any(axis=0)
    # A few fans of >2 faces per edge are repairable for voxel and heat methods; a mesh whose
    # faces mostly hang on such edges is triangle soup with no surface to rig.
    if float(np.mean(bad_face)) > 0.5:
        raise InvalidMeshError(
            "mesh is non-manifold beyond repair (most faces share edges >2 ways)"
        )
    return Mesh(vertices=v.astype(np.float64), faces=f.astype(np.int64))


# --- OBJ -------------------------------------------------------------------------------------


def _load_obj(data: bytes, limits: Limits) -> Mesh:
    # Counting line starts is cheap and lets a face bomb be refused before parsing it.
    n_faces = data.count(b"\nf ") + int(data.startswith(b"f "))
    n_verts = data.count(b"\nv ") + int(data.startswith(b"v "))
    check_counts(n_verts, n_faces, limits)
    fast = _obj_plain_triangles(data)
    if fast is not None:
        return fast
    verts: list[list[float]] = []
    faces: list[list[int]] = []
    try:
        for raw in data.splitlines():
            parts = raw.split()
            if not parts:
                continue
            tag = parts[0]
            if tag == b"v":
                verts.append([float(x) for x in parts[1:4]])
            elif tag == b"f":
                idx = [int(p.split(b"/")[0]) for p in parts[1:]]
                idx = [i - 1 if i > 0 else len(verts) + i for i in idx]
                faces.extend([idx[0], idx[k], idx[k + 1]] for k in range(1, len(idx) - 1))
    except ValueError as exc:
        raise CorruptFileError(f"OBJ line could not be parsed: {exc}") from exc
    if any(len(v) != 3 for v in verts):
        raise CorruptFileError("OBJ vertex line with fewer than three coordinates")
    return Mesh(
        vertices=np.asarray(verts, dtype=np.float64).reshape(-1, 3),
        faces=np.asarray(faces, dtype=np.int64).reshape(-1, 3),
    )


def _obj_plain_triangles(data: bytes) -> Mesh | None:
    """Parse an OBJ of plain "v x y z" and "f a b c" lines with numpy; None if it is not one."""
    lines = data.splitlines()
    v_text = b" ".join(ln[2:] for ln in lines if ln.startswith(b"v "))
    f_lines = [ln[2:] for ln in lines if ln.startswith(b"f ")]
    f_text = b" ".join(f_lines)
    if b"/" in f_text:
        return None
    try:
        v = np.array(v_text.split(), dtype=np.float64)
        f = np.array(f_text.split(), dtype=np.int64)
    except ValueError:
        return None
    if len(v) % 3 or len(f) != 3 * len(f_lines) or (len(f) and f.min() < 1):
        return None
    return Mesh(vertices=v.reshape(-1, 3), faces=f.reshape(-1, 3) - 1)


def load_rignet(obj_path: Path, rig_path: Path, limits: Limits) -> Model:
    """Load a RigNet pair: X.obj and X_rig.txt (joints, root, hier and skin lines)."""
    mesh = validate_mesh(_load_obj(obj_path.read_bytes(), limits), limits)
    names: list[str] = []
    pos: list[tuple[float, float, float]] = []
    hier: list[tuple[str, str]] = []
    skin_lines: list[list[str]] = []
    for line in rig_path.read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "joints":
            names.append(parts[1])
            pos.append((float(parts[2]), float(parts[3]), float(parts[4])))
        elif parts[0] == "hier":
            hier.append((parts[1], parts[2]))
        elif parts[0] == "skin":
            skin_lines.append(parts[1:])
    index = {n: i for i, n in enumerate(names)}
    parents = [-1] * len(names)
    for parent, child in hier:
        parents[index[child]] = index[parent]
    weights = np.zeros((len(mesh.vertices), len(names)))
    for parts in skin_lines:
        vi = int(parts[0])
        for name, w in zip(parts[1::2], parts[2::2], strict=True):
            weights[vi, index[name]] = float(w)
    return Model(
        mesh=mesh,
        skeleton=Skeleton(names=names, parents=parents, positions=pos),
        weights=weights,
        source_format="rignet",
    )


# --- glTF / GLB / VRM -------------------------------------------------------------------------


def _split_glb(data: bytes) -> tuple[dict[str, Any], bytes]:
    if len(data) < 20:
        raise CorruptFileError("GLB file is truncated (no header)")
    _, version, total = struct.unpack_from("<4sII", data, 0)
    if version != 2:
        raise CorruptFileError(f"GLB version {version} is not supported (need 2)")
    if total > len(data):
        raise CorruptFileError(f"GLB file is truncated ({len(data)} of {total} bytes)")
    js_len, js_type = struct.unpack_from("<II", data, 12)
    if js_type != 0x4E4F534A or 20 + js_len > len(data):
        raise CorruptFileError("GLB JSON chunk is missing or truncated")
    doc = _parse_json(data[20 : 20 + js_len])
    off = 20 + js_len
    blob = b""
    if off + 8 <= len(data):
        bin_len, bin_type = struct.unpack_from("<II", data, off)
        if bin_type == 0x004E4942:
            if off + 8 + bin_len > len(data):
                raise CorruptFileError("GLB binary chunk is truncated")
            blob = data[off + 8 : off + 8 + bin_len]
    return doc, blob


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"glTF JSON cannot be parsed: {exc}") from exc
    if not isinstance(doc, dict):
        raise CorruptFileError("glTF JSON is not an object")
    return doc


def _buffers(doc: dict[str, Any], blob: bytes, root: Path) -> list[bytes]:
    out: list[bytes] = []
    for i, buf in enumerate(doc.get("buffers", [])):
        uri = buf.get("uri")
        if uri is None:
            out.append(blob)
        elif uri.startswith("data:"):
            try:
                out.append(base64.b64decode(uri.split(",", 1)[1], validate=False))
            except (IndexError, ValueError) as exc:
                raise CorruptFileError(f"buffer {i} has a malformed data URI") from exc
        else:
            target = (root / uri).resolve()
            if not target.is_relative_to(root.resolve()):
                raise CorruptFileError(f"buffer {i} URI escapes the model's folder")
            if not target.is_file():
                raise CorruptFileError(f"buffer {i} file {uri!r} is missing")
            out.append(target.read_bytes())
        if len(out[-1]) < int(buf.get("byteLength", 0)):
            raise CorruptFileError(f"buffer {i} is shorter than its declared byteLength")
    return out


def _accessor(doc: dict[str, Any], buffers: list[bytes], index: int) -> np.ndarray[Any, Any]:
    try:
        acc = doc["accessors"][index]
        count = int(acc["count"])
        ncomp = _COMPONENTS[acc["type"]]
        dtype = np.dtype(_DTYPES[acc["componentType"]])
        if "sparse" in acc:
            raise UnsupportedFormatError(f"accessor {index} is sparse, which is not supported")
        if "bufferView" not in acc:
            return np.zeros((count, ncomp), dtype=np.float64)
        view = doc["bufferViews"][acc["bufferView"]]
        buf = buffers[view["buffer"]]
    except (KeyError, IndexError, TypeError) as exc:
        raise CorruptFileError(f"accessor {index} is malformed: {exc}") from exc
    start = int(view.get("byteOffset", 0)) + int(acc.get("byteOffset", 0))
    elem = dtype.itemsize * ncomp
    stride = int(view.get("byteStride", 0)) or elem
    end = start + stride * (count - 1) + elem if count else start
    if end > len(buf) or end > int(view.get("byteOffset", 0)) + int(view["byteLength"]):
        raise CorruptFileError(f"accessor {index} reads past the end of its buffer")
    raw = np.frombuffer(buf, dtype=np.uint8, count=end - start, offset=start)
    if stride == elem:
        arr = raw.view(dtype).reshape(count, ncomp)
    else:
        padded = np.zeros(stride * count, dtype=np.uint8)
        padded[: len(raw)] = raw
        arr = padded.reshape(count, stride)[:, :elem].copy().view(dtype).reshape(count, ncomp)
    out = arr.astype(np.float64)
    if acc.get("normalized") and dtype.kind in "iu":
        out /= float(2 ** (8 * dtype.itemsize - (1 if dtype.kind == "i" else 0)) - 1)
    return out


def _node_local(node: dict[str, Any]) -> FloatArray:
    if "matrix" in node:
        return np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4).T
    t = np.asarray(node.get("translation", [0, 0, 0]), dtype=np.float64)
    x, y, z, w = node.get("rotation", [0, 0, 0, 1])
    s = np.asarray(node.get("scale", [1, 1, 1]), dtype=np.float64)
    rot = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    m = np.eye(4)
    m[:3, :3] = rot * s
    m[:3, 3] = t
    return m


def _world_matrices(doc: dict[str, Any]) -> tuple[list[FloatArray], list[int]]:
    nodes = doc.get("nodes", [])
    parent = [-1] * len(nodes)
    for i, node in enumerate(nodes):
        for c in node.get("children", []):
            if not 0 <= c < len(nodes) or parent[c] != -1:
                raise CorruptFileError(f"node {i} has an invalid or shared child {c}")
            parent[c] = i
    world: list[FloatArray | None] = [None] * len(nodes)

    def resolve(i: int, depth: int = 0) -> FloatArray:
        if depth > len(nodes):
            raise CorruptFileError("node hierarchy has a cycle")
        cached = world[i]
        if cached is not None:
            return cached
        local = _node_local(nodes[i])
        m = local if parent[i] < 0 else resolve(parent[i], depth + 1) @ local
        world[i] = m
        return m

    return [resolve(i) for i in range(len(nodes))], parent


def _check_gltf_counts(doc: dict[str, Any], limits: Limits) -> None:
    accessors = doc.get("accessors", [])
    n_verts = n_faces = 0
    try:
        for mesh in doc.get("meshes", []):
            for prim in mesh.get("primitives", []):
                n_verts += int(accessors[prim["attributes"]["POSITION"]]["count"])
                if "indices" in prim:
                    n_faces += int(accessors[prim["indices"]]["count"]) // 3
                else:
                    n_faces += int(accessors[prim["attributes"]["POSITION"]]["count"]) // 3
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise CorruptFileError(f"glTF mesh primitives are malformed: {exc}") from exc
    check_counts(n_verts, n_faces, limits)


def _load_gltf(data: bytes, fmt: str, root: Path, limits: Limits) -> Model:
    if fmt == "gltf":
        doc, blob = _parse_json(data), b""
    else:
        doc, blob = _split_glb(data)
    required = set(doc.get("extensionsRequired", [])) & _COMPRESSION
    if required:
        raise UnsupportedFormatError(
            f"compressed glTF geometry is not supported: {sorted(required)}"
        )
    # The declared counts are checked before a single buffer is decoded.
    _check_gltf_counts(doc, limits)
    buffers = _buffers(doc, blob, root)
    world, parent = _world_matrices(doc)
    nodes = doc.get("nodes", [])
    skins = doc.get("skins", [])
    skin_joints: list[int] = list(skins[0]["joints"]) if skins else []
    joint_slot = {n: k for k, n in enumerate(skin_joints)}
    bind_world = np.eye(4)
    bind_joint = np.zeros((0, 4, 4))
    skeleton = None
    if skins:
        skeleton, bind_world, bind_joint = _gltf_skeleton(doc, buffers, world, parent)
    verts: list[FloatArray] = []
    faces: list[IntArray] = []
    weight_rows: list[FloatArray] = []
    offset = 0
    for ni, node in enumerate(nodes):
        if "mesh" not in node:
            continue
        skinned = "skin" in node and skins
        # A skinned primitive is placed by its own skin's bind pose (a backpack bound by a
        # second skin has its own inverse bind matrices); its joints are mapped onto the
        # first skin's by node where they are shared.
        m = world[ni]
        holder = _joint_ancestor(ni, parent, joint_slot) if not skinned else -1
        if skinned:
            m = bind_world
            if node["skin"] != 0:
                m = _skin_bind_world(doc, buffers, world, node, bind_world)
        elif holder >= 0:
            # A part hung under a bone goes where that bone is in the bind pose, not where the
            # scene's pose (an idle stance, a pistol by the leg) has moved it.
            m = bind_joint[holder] @ np.linalg.inv(world[skin_joints[holder]]) @ world[ni]
        for prim in doc["meshes"][node["mesh"]].get("primitives", []):
            if prim.get("mode", 4) != 4:
                continue
            attrs = prim["attributes"]
            read, idx = _primitive_reader(doc, buffers, prim)
            pos = read("POSITION")
            n = len(pos)
            if idx is None:
                idx = np.arange(n - n % 3, dtype=np.int64)
            if len(idx) % 3:
                raise CorruptFileError("triangle primitive index count is not a multiple of 3")
            verts.append(pos @ m[:3, :3].T + m[:3, 3])
            faces.append(idx.reshape(-1, 3) + offset)
            rows = np.zeros((n, len(skin_joints)))
            if holder >= 0:
                # A rigid part parented to a bone (a robot's plates, a helmet) moves with it.
                rows[:, holder] = 1.0
            if skinned and "JOINTS_0" in attrs and "WEIGHTS_0" in attrs:
                node_skin = skins[node["skin"]]["joints"]
                for set_i in range(4):
                    jk, wk = f"JOINTS_{set_i}", f"WEIGHTS_{set_i}"
                    if jk not in attrs or wk not in attrs:
                        break
                    # A NaN weight (seen in shipped files) means no influence, not a broken mesh.
                    ws = np.nan_to_num(read(wk), nan=0.0, posinf=0.0)
                    js, valid = _joint_indices(read(jk), ws, n, len(node_skin), jk)
                    for c in range(js.shape[1]):
                        slots = np.array(
                            [joint_slot.get(node_skin[j], -1) for j in js[:, c]], dtype=np.int64
                        )
                        ok = (slots >= 0) & valid[:, c]
                        np.add.at(rows, (np.nonzero(ok)[0], slots[ok]), ws[ok, c])
            weight_rows.append(rows)
            offset += n
    if not verts:
        raise InvalidMeshError("glTF file has no triangle mesh")
    weights = None
    if skeleton is not None and any(r.any() for r in weight_rows):
        weights = np.concatenate(weight_rows)
    vertices = np.concatenate(verts)
    if fmt == "vrm0":
        # VRM 0.x characters face -Z; turn them to face +Z like glTF and VRM 1.0.
        flip = np.diag([-1.0, 1.0, -1.0])
        vertices = vertices @ flip
        if skeleton is not None:
            skeleton = Skeleton(
                names=skeleton.names,
                parents=skeleton.parents,
                positions=[(p[0], p[1], p[2]) for p in (skeleton.array() @ flip).tolist()],
            )
    return Model(
        mesh=Mesh(vertices=vertices, faces=np.concatenate(faces)),
        skeleton=skeleton,
        weights=weights,
        source_format=fmt,
    )


def _joint_indices(
    raw: FloatArray, weights: FloatArray, n_verts: int, n_joints: int, name: str
) -> tuple[IntArray, np.ndarray]:
    """A JOINTS_n attribute as indices into the skin's joints, and which of them are real.

    An index past the skin's joints with no weight on it influences nothing (and is left
    out); with weight on it the file is broken, as it is when joints and weights are not one
    row of the same width for each vertex.
    """
    if raw.shape != weights.shape or len(raw) != n_verts:
        shapes = "x".join(map(str, raw.shape)), "x".join(map(str, weights.shape))
        raise CorruptFileError(
            f"{name} ({shapes[0]}) and its weights ({shapes[1]}) do not match {n_verts} vertices"
        )
    valid = np.isfinite(raw) & (raw >= 0) & (raw < n_joints)
    if (~valid & (weights != 0)).any():
        raise CorruptFileError(f"{name} weights a joint the skin does not have ({n_joints} joints)")
    return np.where(valid, raw, 0).astype(np.int64), valid


def _primitive_reader(
    doc: dict[str, Any], buffers: list[bytes], prim: dict[str, Any]
) -> tuple[Callable[[str], FloatArray], IntArray | None]:
    """A reader of the primitive's attributes by name, and its triangle indices if it has any.

    A Draco-compressed primitive is decoded once; the attributes it does not hold are
    read from their accessors, as the extension says.
    """
    attrs = prim["attributes"]
    draco = prim.get("extensions", {}).get(_DRACO)
    if draco is None:
        idx = None
        if "indices" in prim:
            idx = _accessor(doc, buffers, prim["indices"]).astype(np.int64).reshape(-1)
        return lambda name: _accessor(doc, buffers, attrs[name]), idx
    decoded, faces = _draco_decode(doc, buffers, prim, draco)

    def read(name: str) -> FloatArray:
        return decoded[name] if name in decoded else _accessor(doc, buffers, attrs[name])

    return read, faces


def _draco_decode(
    doc: dict[str, Any], buffers: list[bytes], prim: dict[str, Any], draco: dict[str, Any]
) -> tuple[dict[str, FloatArray], IntArray]:
    """Decode a KHR_draco_mesh_compression primitive: its attributes by glTF name, and indices.

    The decoded counts must match the accessors', which the limits were checked against
    before anything was decoded.
    """
    import DracoPy

    try:
        view = doc["bufferViews"][draco["bufferView"]]
        start = int(view.get("byteOffset", 0))
        raw = buffers[view["buffer"]][start : start + int(view["byteLength"])]
        ids = {str(name): int(uid) for name, uid in draco["attributes"].items()}
        declared = {name: doc["accessors"][prim["attributes"][name]] for name in ids}
        count = int(doc["accessors"][prim["attributes"]["POSITION"]]["count"])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise CorruptFileError(f"Draco primitive is malformed: {exc}") from exc
    try:
        mesh = DracoPy.decode(raw)
    except (DracoPy.FileTypeException, ValueError, RuntimeError) as exc:
        raise CorruptFileError(f"Draco primitive does not decode: {exc}") from exc
    faces = np.asarray(mesh.faces, dtype=np.int64).reshape(-1)
    if "indices" in prim and len(faces) != int(doc["accessors"][prim["indices"]]["count"]):
        raise CorruptFileError("Draco primitive decodes to more or fewer indices than declared")
    out: dict[str, FloatArray] = {}
    for name, uid in ids.items():
        attr = mesh.get_attribute_by_unique_id(uid)
        if attr is None:
            raise CorruptFileError(f"Draco primitive has no attribute {uid} for {name}")
        data = np.asarray(attr["data"])
        if len(data) != count:
            raise CorruptFileError(f"Draco attribute {name} does not hold {count} vertices")
        width = _COMPONENTS.get(str(declared[name].get("type")))
        if data.size != count * (width or 0):
            raise CorruptFileError(f"Draco attribute {name} is not the accessor's {width} values")
        # A damaged stream can decode to signalling NaNs, which the cast flags: NaN positions
        # are refused by validate_mesh, NaN weights read as no influence, as in plain files.
        with np.errstate(invalid="ignore"):
            values = data.reshape(count, -1).astype(np.float64)
        if declared[name].get("normalized") and data.dtype.kind in "iu":
            values /= float(np.iinfo(data.dtype).max)
        out[name] = values
    if faces.size and (faces.min() < 0 or faces.max() >= count):
        raise CorruptFileError("Draco primitive indexes a vertex it does not hold")
    return out, faces


def _joint_ancestor(node: int, parent: list[int], joint_slot: dict[int, int]) -> int:
    """Slot of the nearest joint above an unskinned mesh node, or -1 when it hangs off none."""
    p = parent[node]
    while p >= 0:
        if p in joint_slot:
            return joint_slot[p]
        p = parent[p]
    return -1


def _skin_bind_world(
    doc: dict[str, Any],
    buffers: list[bytes],
    world: list[FloatArray],
    node: dict[str, Any],
    bind_world: FloatArray,
) -> FloatArray:
    """Place another skin's bind space in the first skin's bind pose.

    Through a joint both skins share: the first skin's bind frame of that joint, times this
    skin's inverse bind matrix of it. With none shared, the joint's frame in the scene.
    """
    skins = doc["skins"]
    skin = skins[node["skin"]]
    joints = list(skin.get("joints", []))
    if not joints or "inverseBindMatrices" not in skin:
        return np.eye(4)
    ibm = _accessor(doc, buffers, skin["inverseBindMatrices"]).reshape(-1, 4, 4)
    first = list(skins[0].get("joints", []))
    shared = [k for k, n in enumerate(joints) if n in first]
    if shared and "inverseBindMatrices" in skins[0]:
        k = shared[0]
        ibm0 = _accessor(doc, buffers, skins[0]["inverseBindMatrices"]).reshape(-1, 4, 4)
        frame = bind_world @ np.linalg.inv(ibm0[first.index(joints[k])].T)
        return np.asarray(frame @ ibm[k].T, dtype=np.float64)
    return np.asarray(world[joints[0]] @ ibm[0].T, dtype=np.float64)


def _gltf_skeleton(
    doc: dict[str, Any], buffers: list[bytes], world: list[FloatArray], parent: list[int]
) -> tuple[Skeleton, FloatArray, FloatArray]:
    """The first skin's joint tree in its bind pose, the mesh's bind placement, joint frames."""
    nodes = doc["nodes"]
    skin = doc["skins"][0]
    joints: list[int] = list(skin["joints"])
    slot = {n: k for k, n in enumerate(joints)}
    if "inverseBindMatrices" in skin:
        ibm = _accessor(doc, buffers, skin["inverseBindMatrices"]).reshape(-1, 4, 4)
        ibm = np.transpose(ibm, (0, 2, 1))
    else:
        ibm = np.stack([np.linalg.inv(world[n]) for n in joints])
    parents: list[int] = []
    for n in joints:
        p = parent[n]
        while p >= 0 and p not in slot:
            p = parent[p]
        parents.append(slot.get(p, -1))
    root = next(k for k, p in enumerate(parents) if p < 0)
    # The mesh's bind placement in the scene: where the root joint's bind frame sits today.
    bind_world = world[joints[root]] @ ibm[root]
    bind_joint = np.einsum("ij,njk->nik", bind_world, np.linalg.inv(ibm))
    positions = [_xyz(m[:3, 3]) for m in bind_joint]
    names = [str(nodes[n].get("name") or f"joint_{k}") for k, n in enumerate(joints)]
    return Skeleton(names=names, parents=parents, positions=positions), bind_world, bind_joint


# --- FBX --------------------------------------------------------------------------------------


def _fbx_declared_counts(data: bytes) -> tuple[int, int]:
    """(vertices, at least this many triangles) from FBX array headers, without decoding them."""
    totals = {}
    for name in (b"Vertices", b"PolygonVertexIndex"):
        count = 0
        if data.startswith(FBX_BINARY_MAGIC):
            # A node record ends with NameLen (1 byte) + Name, then its first property: a type
            # code and, for arrays, the element count; compressed arrays say their size here.
            at = data.find(name)
            while at >= 0:
                end = at + len(name)
                if data[at - 1] == len(name) and data[end : end + 1] in (b"d", b"f", b"i", b"l"):
                    count += struct.unpack_from("<I", data, end + 1)[0]
                at = data.find(name, end)
        else:
            pattern = re.escape(name) + rb":\s*\*(\d+)"
            count = sum(int(m.group(1)) for m in re.finditer(pattern, data))
        totals[name] = count
    return totals[b"Vertices"] // 3, totals[b"PolygonVertexIndex"] // 3


def _load_fbx(data: bytes, limits: Limits) -> Model:
    import concurrent.futures
    import multiprocessing

    # ufbx decodes (and inflates) every array before counts can be asked, so a face bomb is
    # refused from the array headers first.
    check_counts(*_fbx_declared_counts(data), limits)
    # ufbx 0.0.5's Python wrappers crash the interpreter when the cyclic garbage collector
    # frees one after its scene; a fresh single-use process keeps that away from the worker.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        try:
            return pool.submit(_read_fbx_isolated, data, limits).result()
        except concurrent.futures.process.BrokenProcessPool as exc:
            raise CorruptFileError("the FBX reader crashed on this file") from exc


def _read_fbx_isolated(data: bytes, limits: Limits) -> Model:
    """Read an FBX file in a process of its own (see _load_fbx)."""
    import gc

    import ufbx

    # Wrappers must die by reference count, in order, before their scene; never by the GC.
    gc.disable()
    try:
        scene = ufbx.load_memory(
            data,
            target_axes=ufbx.axes_right_handed_y_up,
            target_unit_meters=1.0,
            space_conversion=ufbx.SpaceConversion.MODIFY_GEOMETRY,
            ignore_animation=True,
        )
    except ufbx.UfbxError as exc:
        raise CorruptFileError(f"FBX cannot be read: {exc}") from exc
    return _read_fbx(scene, limits)


def _read_fbx(scene: Any, limits: Limits) -> Model:
    # ufbx 0.0.5 keeps one wrapper per element: once a wrapper is freed, reaching the same
    # element again crashes. Every wrapper is therefore kept until the scene is freed.
    keep: list[Any] = []

    def hold(items: Any) -> list[Any]:
        out = list(items)
        keep.extend(out)
        return out

    meshes = hold(scene.meshes)
    check_counts(sum(m.num_vertices for m in meshes), sum(m.num_triangles for m in meshes), limits)
    nodes = hold(scene.nodes)
    bone_nodes: list[Any] = []
    bind: dict[int, FloatArray] = {}
    for deformer in hold(scene.skin_deformers):
        for cluster in hold(deformer.clusters):
            bone = cluster.bone_node
            keep.append(bone)
            if bone is not None and bone.element_id not in bind:
                bone_nodes.append(bone)
                bind[bone.element_id] = _ufbx_matrix(cluster.bind_to_world)
    for node in nodes:
        keep.append(node.bone)
        if node.bone is not None and node.element_id not in bind:
            bone_nodes.append(node)
            bind[node.element_id] = _ufbx_matrix(node.node_to_world)
    slot = {n.element_id: k for k, n in enumerate(bone_nodes)}
    verts: list[FloatArray] = []
    faces: list[IntArray] = []
    weight_rows: list[FloatArray] = []
    offset = 0
    for node in nodes:
        mesh = node.mesh
        keep.append(mesh)
        if mesh is None:
            continue
        pos = np.array(np.asarray(mesh.vertices), dtype=np.float64).reshape(-1, 3)
        vidx = np.array(np.asarray(mesh.vertex_indices), dtype=np.int64).reshape(-1)
        spans = np.array(np.asarray(mesh.faces), dtype=np.int64).reshape(-1, 2)
        rows = np.zeros((len(pos), len(bone_nodes)))
        m = _ufbx_matrix(node.geometry_to_world)
        deformers = hold(mesh.skin_deformers)
        if deformers:
            clusters = hold(deformers[0].clusters)
            for cluster in clusters:
                bone = cluster.bone_node
                keep.append(bone)
                if bone is None:
                    continue
                vs = np.array(np.asarray(cluster.vertices), dtype=np.int64).reshape(-1)
                ws = np.array(np.asarray(cluster.weights), dtype=np.float64).reshape(-1)
                rows[vs, slot[bone.element_id]] += ws
            if clusters:
                m = _ufbx_matrix(clusters[0].geometry_to_world)
        verts.append(pos @ m[:3, :3].T + m[:3, 3])
        faces.append(_fan(vidx, spans) + offset)
        weight_rows.append(rows)
        offset += len(pos)
    if not verts:
        raise InvalidMeshError("FBX file has no mesh")
    skeleton = None
    if bone_nodes:
        parents = []
        for node in bone_nodes:
            p = node.parent
            keep.append(p)
            while p is not None and p.element_id not in slot:
                p = p.parent
                keep.append(p)
            parents.append(-1 if p is None else slot[p.element_id])
        skeleton = Skeleton(
            names=[str(n.name) for n in bone_nodes],
            parents=parents,
            positions=[_xyz(bind[n.element_id][:3, 3]) for n in bone_nodes],
        )
    weights = np.concatenate(weight_rows) if any(r.any() for r in weight_rows) else None
    return Model(
        mesh=Mesh(vertices=np.concatenate(verts), faces=np.concatenate(faces)),
        skeleton=skeleton,
        weights=weights,
        source_format="fbx",
    )


def _xyz(p: FloatArray) -> tuple[float, float, float]:
    return (float(p[0]), float(p[1]), float(p[2]))


def _fan(corner_vertex: IntArray, spans: IntArray) -> IntArray:
    """Triangulate polygons (first corner, corner count) as fans over their corners."""
    sizes = spans[:, 1]
    spans = spans[sizes >= 3]
    n_tris = spans[:, 1] - 2
    first = np.repeat(spans[:, 0], n_tris)
    k = np.arange(int(n_tris.sum())) - np.repeat(np.cumsum(n_tris) - n_tris, n_tris) + 1
    corners = np.stack([first, first + k, first + k + 1], axis=1)
    return np.asarray(corner_vertex[corners], dtype=np.int64).reshape(-1, 3)


def _ufbx_matrix(m: Any) -> FloatArray:
    out = np.eye(4)
    out[:3, :4] = np.asarray([tuple(m.c0), tuple(m.c1), tuple(m.c2), tuple(m.c3)]).T
    return out
