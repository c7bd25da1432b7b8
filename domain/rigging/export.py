"""Write rigged, skeleton-only and skin files as GLB (pygltflib) or FBX (Blender's bpy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from domain.rigging.error import InvalidMeshError, UnsupportedFormatError
from domain.rigging.model import FloatArray, Model

OUTPUT_FORMATS = ("glb", "fbx")
GENERATOR = "switchyard rigging"


def save_model(model: Model, path: Path, fmt: str) -> None:
    """Write the model (mesh, optional skeleton, optional weights) in the given format."""
    if fmt not in OUTPUT_FORMATS:
        raise UnsupportedFormatError(f"output format {fmt!r} is not one of {OUTPUT_FORMATS}")
    if model.weights is not None and model.skeleton is None:
        raise InvalidMeshError("weights need a skeleton to be written")
    if model.weights is not None and model.skeleton is not None:
        if model.weights.shape != (len(model.mesh.vertices), len(model.skeleton.names)):
            raise InvalidMeshError("weights do not match the mesh and skeleton sizes")
    tmp = path.with_name(path.name + ".part")
    # Write then rename, so a failed export never leaves a half file where a good one was.
    if fmt == "glb":
        tmp.write_bytes(glb_bytes(model))
    else:
        from domain.rigging.fbx import write_fbx

        write_fbx(model, tmp)
    tmp.replace(path)


def _top4(weights: FloatArray) -> tuple[np.ndarray, np.ndarray]:
    k = min(4, weights.shape[1])
    order = np.argsort(-weights, axis=1, kind="stable")[:, :k]
    w = np.take_along_axis(weights, order, axis=1).astype(np.float32)
    j = order.astype(np.uint16)
    if k < 4:
        w = np.hstack([w, np.zeros((len(w), 4 - k), dtype=np.float32)])
        j = np.hstack([j, np.zeros((len(j), 4 - k), dtype=np.uint16)])
    # Unused slots point at joint 0 with weight 0, as the validator expects.
    j[w <= 0] = 0
    w = w / w.sum(axis=1, keepdims=True)
    # Renormalising in float32 keeps each sum within the validator's tolerance of 1.
    w[:, 0] += np.float32(1.0) - w.sum(axis=1)
    return j, w


def glb_bytes(model: Model) -> bytes:
    """Encode the model as a binary glTF 2.0 file with an optional skin."""
    import pygltflib as g

    verts = model.mesh.vertices.astype(np.float32)
    faces = model.mesh.faces.astype(np.uint32)
    blob = bytearray()
    views: list[Any] = []
    accessors: list[Any] = []

    def add(data: np.ndarray, ctype: int, atype: str, target: int | None, minmax: bool) -> int:
        while len(blob) % 4:
            blob.append(0)
        raw = np.ascontiguousarray(data).tobytes()
        views.append(
            g.BufferView(buffer=0, byteOffset=len(blob), byteLength=len(raw), target=target)
        )
        blob.extend(raw)
        acc = g.Accessor(
            bufferView=len(views) - 1,
            componentType=ctype,
            count=len(data),
            type=atype,
        )
        if minmax:
            acc.min = data.min(axis=0).tolist()
            acc.max = data.max(axis=0).tolist()
        accessors.append(acc)
        return len(accessors) - 1

    attrs = g.Attributes(POSITION=add(verts, g.FLOAT, g.VEC3, g.ARRAY_BUFFER, True))
    idx = add(faces.reshape(-1), g.UNSIGNED_INT, g.SCALAR, g.ELEMENT_ARRAY_BUFFER, False)
    skel = model.skeleton
    nodes: list[Any] = []
    skins: list[Any] = []
    mesh_node = g.Node(name="mesh", mesh=0)
    nodes.append(mesh_node)
    scene_nodes = [0]
    if skel is not None:
        if model.weights is not None:
            joints, weights = _top4(model.weights)
            attrs.JOINTS_0 = add(joints, g.UNSIGNED_SHORT, g.VEC4, g.ARRAY_BUFFER, False)
            attrs.WEIGHTS_0 = add(weights, g.FLOAT, g.VEC4, g.ARRAY_BUFFER, False)
            mesh_node.skin = 0
        pos = skel.array()
        ibm = np.tile(np.eye(4, dtype=np.float32), (len(pos), 1, 1))
        ibm[:, :3, 3] = -pos
        ibm_acc = add(np.transpose(ibm, (0, 2, 1)).reshape(-1, 16), g.FLOAT, g.MAT4, None, False)
        first = len(nodes)
        children = skel.children()
        for j, name in enumerate(skel.names):
            p = skel.parents[j]
            local = pos[j] - (pos[p] if p >= 0 else 0.0)
            nodes.append(
                g.Node(
                    name=name,
                    translation=[float(x) for x in local],
                    children=[first + c for c in children.get(j, [])] or None,
                )
            )
        roots = [first + r for r, p in enumerate(skel.parents) if p < 0]
        scene_nodes.extend(roots)
        skins.append(
            g.Skin(
                name="skeleton",
                inverseBindMatrices=ibm_acc,
                joints=list(range(first, first + len(pos))),
                skeleton=roots[0] if len(roots) == 1 else None,
            )
        )
    doc = g.GLTF2(
        asset=g.Asset(version="2.0", generator=GENERATOR),
        scene=0,
        scenes=[g.Scene(nodes=scene_nodes)],
        nodes=nodes,
        meshes=[g.Mesh(name="mesh", primitives=[g.Primitive(attributes=attrs, indices=idx)])],
        skins=skins,
        accessors=accessors,
        bufferViews=views,
        buffers=[g.Buffer(byteLength=len(blob))],
    )
    doc.set_binary_blob(bytes(blob))
    return bytes(b"".join(doc.save_to_bytes()))
