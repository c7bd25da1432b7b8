"""FBX writer through Blender's Python module; the only module that imports bpy."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from domain.rigging.error import RiggingError
from domain.rigging.model import FloatArray, Model, Skeleton

# Our models are Y-up; Blender is Z-up. Its FBX exporter turns Z-up back into FBX's Y-up.
_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
# bpy is one global Blender session per process, and it crashes its process (SIGSEGV) when
# used from a thread other than the one that imported it, and at exit when that was not the
# main thread. Exports therefore run in a process of their own, on its main thread, one at a
# time (which also keeps two exports from sharing the scene); it is started on first use and
# kept, so Blender is imported once.
_LOCK = threading.Lock()
_POOL: ProcessPoolExecutor | None = None


def write_fbx(model: Model, path: Path) -> None:
    """Write the mesh, its armature (if any) and its vertex weights (if any) as binary FBX."""
    global _POOL
    with _LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        try:
            _POOL.submit(_export, model, path).result()
        except BrokenProcessPool as exc:
            _POOL = None  # the next export starts a fresh Blender
            raise RiggingError("the FBX writer crashed on this model") from exc


def _export(model: Model, path: Path) -> None:
    """In the export process: Blender imported and used on its main thread."""
    # A parent that had imported bpy hands its sys.path on (spawn copies it), with Blender's
    # script folders in it, where a package named bpy shadows the module itself.
    sys.path[:] = [p for p in sys.path if f"{os.sep}bpy{os.sep}" not in p]
    try:
        import bpy  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the installed extra
        raise RiggingError("FBX export needs the 'bpy' package (rigging extra)") from exc
    _write(model, path)


def _write(model: Model, path: Path) -> None:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    verts = model.mesh.vertices @ _TO_BLENDER.T
    me = bpy.data.meshes.new("mesh")
    me.from_pydata(verts.tolist(), [], model.mesh.faces.tolist())
    me.update()
    obj = bpy.data.objects.new("mesh", me)
    scene.collection.objects.link(obj)
    skel = model.skeleton
    if skel is not None:
        arm = bpy.data.armatures.new("armature")
        arm_obj = bpy.data.objects.new("armature", arm)
        scene.collection.objects.link(arm_obj)
        bpy.context.view_layer.objects.active = arm_obj
        bpy.ops.object.mode_set(mode="EDIT")
        in_blender = skel.turned(_TO_BLENDER)
        pos = in_blender.array()
        tails = _bone_tails(in_blender, float(np.ptp(verts, axis=0).max()))
        bones = []
        for j, name in enumerate(skel.names):
            eb = arm.edit_bones.new(name)
            eb.head = pos[j].tolist()
            eb.tail = tails[j].tolist()
            bones.append(eb)
        for j, p in enumerate(skel.parents):
            if p >= 0:
                bones[j].parent = bones[p]
        names = [eb.name for eb in bones]
        bpy.ops.object.mode_set(mode="OBJECT")
        obj.parent = arm_obj
        if model.weights is not None:
            groups = [obj.vertex_groups.new(name=n) for n in names]
            rows, cols = np.nonzero(model.weights > 0)
            for v, j in zip(rows.tolist(), cols.tolist(), strict=True):
                groups[j].add([v], float(model.weights[v, j]), "REPLACE")
            mod = obj.modifiers.new("armature", "ARMATURE")
            mod.object = arm_obj
    bpy.ops.export_scene.fbx(
        filepath=str(path),
        use_selection=False,
        add_leaf_bones=False,
        bake_anim=False,
        axis_forward="-Z",
        axis_up="Y",
        use_armature_deform_only=False,
        primary_bone_axis="Y",
        secondary_bone_axis="X",
    )
    bpy.ops.wm.read_factory_settings(use_empty=True)


def _bone_tails(skel: Skeleton, extent: float) -> FloatArray:
    """Point each bone at its child (or along its parent's direction for a leaf)."""
    pos, parents = skel.array(), skel.parents
    tails = np.empty_like(pos)
    children = skel.children()
    floor = 1e-3 * extent
    for j in range(len(pos)):
        kids = children.get(j, [])
        direction = np.zeros(3)
        if len(kids) == 1:
            direction = pos[kids[0]] - pos[j]
        elif parents[j] >= 0:
            direction = 0.5 * (pos[j] - pos[parents[j]])
        if np.linalg.norm(direction) < floor:
            direction = np.array([0.0, 0.0, 0.05 * extent])
        tails[j] = pos[j] + direction
    return tails
