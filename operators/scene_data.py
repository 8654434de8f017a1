"""Blender data of a body (main thread only): armature bones, the skinned mesh with its UVs,
attributes and vertex groups, the material, and baked per-frame meshes. Bulk data goes through
``foreach_set``; nothing loops over vertices in Python.

What an update of a body keeps (:func:`write_mesh` says which case it was):

- **Same topology** (a template-topology body re-meshed over its template mesh: every shape,
  expression or pose update, also after the .blend is saved and reloaded): only the vertex
  positions change. Every vertex group stays as it is, *including the bone groups and any weights
  painted into them* (bone groups are not rewritten: the model's weights of a template vertex never
  change), and so do the artist's own groups, modifiers, UVs and shape keys (each keeps its
  offsets from the basis).
- **New topology** (the first mesh of a body, every adaptive re-mesh, a switch between Template
  and Adaptive, a merged layer or limb cut that makes a template body mesh adaptively, every
  separate garment mesh): the geometry is replaced, and with it every vertex group (Blender drops
  the groups with the vertices they weighted, the artist's own included); the bone groups are
  then written afresh from the model's skin weights.
- **Reset Bone Weights** (``imghum.reset_weights``, :func:`write_bone_weights`): only when the
  artist asks, the bone groups of the current mesh get the model's weights again (painted bone
  weights are replaced); groups not named after a bone are never touched.

:func:`fit_armature` switches the armature into edit mode with an operator
(``bpy.ops.object.mode_set``): it runs from operators (the modal preview applier included),
scripts and headless drains, never from a ``bpy.app.timers`` callback.
"""
import logging

import bpy
import numpy as np

from ..imghum_blender.formats.presets import DEFAULT_COLOR_MODE
from ..imghum_blender.surface.attributes import part_colors
from . import skin

SEMANTIC_ATTR = "imghum_semantic"
PART_ATTR = "imghum_part"
PART_COLOR_ATTR = "imghum_part_color"
UV_NAME = "UVMap"
GRID_IMAGE = "imGHUM UV Grid"
#: Mesh > Colour: the modes of the body material (a new body's: ``DEFAULT_COLOR_MODE``, skin).
COLOR_MODES = [("UV", "UV Texture", "The texture through the semantic UVs"),
               ("PARTS", "Body Parts", "One colour per body part"),
               ("SKIN", "Skin", "Skin and eyes in the body's skin tone and eye colour (procedural: no hair, "
                "brows or lashes)")]
#: The material's mix between the UV / part-colour shading and the skin.
SKIN_MODE = "Skin Mode"
#: Mesh custom property naming how the body was meshed ("template" or "adaptive").
TOPOLOGY_PROP = "imghum_topology"
#: Mesh > Topology: the template's quads, or marching cubes.
TOPOLOGIES = [("TEMPLATE", "Template", "The template's quads laid onto the body: the same vertices for every "
               "shape, face and pose, so vertex groups, painted weights and shape keys survive re-meshing "
               "(bodies with merged layers or limb cuts mesh adaptively; garments always do)"),
              ("ADAPTIVE", "Adaptive", "Marching cubes at the preview / final resolution (new topology on "
               "every re-mesh; follows layers and limb cuts)")]
log = logging.getLogger("imghum")
#: Vertex-group weights are written in this many levels (Blender normalizes per vertex).
WEIGHT_LEVELS = 1000


def write_mesh(me: bpy.types.Mesh, data, n_parts: int) -> bool:
    """Write a meshed body into ``me``; returns whether its topology is new (then the caller writes
    the bone groups: the old vertex groups went with the old geometry). A template-topology body
    written over a mesh of the same topology only moves its vertices, so every vertex group (bone
    groups with painted weights included), modifiers and shape keys (sculpt layers: each keeps its
    offsets from the basis) survive. Otherwise the geometry is replaced: UVs per corner, semantic
    point, part label and part colour per vertex, smooth shading (with the field's normals as custom
    normals where the data has them) and one float attribute per skin region (:data:`skin.REGION_ATTRS`)."""
    v, f = data.vertices, data.faces
    topology = data.topology
    if (topology == "template" and me.get(TOPOLOGY_PROP) == "template" and len(me.vertices) == len(v)
            and len(me.polygons) == len(f)):
        _move_vertices(me, v.astype(np.float32))
        return False
    me.clear_geometry()
    me.vertices.add(len(v))
    me.vertices.foreach_set("co", v.astype(np.float32).ravel())
    me.loops.add(f.size)
    me.loops.foreach_set("vertex_index", f.astype(np.int32).ravel())
    me.polygons.add(len(f))
    me.polygons.foreach_set("loop_start", np.arange(0, f.size, f.shape[1], dtype=np.int32))
    uv = me.uv_layers.new(name=UV_NAME) if UV_NAME not in me.uv_layers else me.uv_layers[UV_NAME]
    uv.data.foreach_set("uv", data.attributes.corner_uvs.astype(np.float32).ravel())
    for name, kind, key, values in ((SEMANTIC_ATTR, "FLOAT_VECTOR", "vector", data.semantics.astype(np.float32)),
                                    (PART_ATTR, "INT", "value", data.attributes.parts.astype(np.int32)),
                                    (PART_COLOR_ATTR, "FLOAT_COLOR", "color",
                                     part_colors(n_parts)[data.attributes.parts]),
                                    *((name, "FLOAT", "value", data.attributes.regions[:, k])
                                      for k, name in enumerate(skin.REGION_ATTRS.values()))):
        attr = me.attributes.get(name) or me.attributes.new(name, kind, "POINT")
        attr.data.foreach_set(key, values.ravel())
    me.polygons.foreach_set("use_smooth", np.ones(len(f), dtype=bool))
    me[TOPOLOGY_PROP] = topology
    me.update()
    if data.normals is not None:  # the field's shading normals (adaptive meshes)
        me.normals_split_custom_set_from_vertices(data.normals.astype(np.float32))
    return True


def _move_vertices(me: bpy.types.Mesh, co: np.ndarray) -> None:
    """New vertex positions (V,3) for a mesh; its shape keys keep their offsets from the basis."""
    keys = me.shape_keys.key_blocks if me.shape_keys else []
    if len(keys):
        basis = keys[0]
        old = np.empty(co.size, dtype=np.float32)
        basis.data.foreach_get("co", old)
        buf = np.empty(co.size, dtype=np.float32)
        for kb in keys[1:]:
            kb.data.foreach_get("co", buf)
            kb.data.foreach_set("co", co.ravel() + (buf - old))
        basis.data.foreach_set("co", co.ravel())
    me.vertices.foreach_set("co", co.ravel())
    me.update()


def write_face_keys(ob: bpy.types.Object, keys) -> None:
    """Relative shape keys named after the facial actions (replaced where present) on the mesh's
    Basis (created from the mesh when it has none): the Basis plus each action's offsets, so they
    add to any sculpted layer."""
    if ob.data.shape_keys is None:
        ob.shape_key_add(name="Basis", from_mix=False)
    blocks = ob.data.shape_keys.key_blocks
    basis = np.empty(3 * len(ob.data.vertices), dtype=np.float32)
    blocks[0].data.foreach_get("co", basis)
    for name in keys.keys:
        kb = blocks.get(name) or ob.shape_key_add(name=name, from_mix=False)
        kb.data.foreach_set("co", (basis + keys.offsets(name).astype(np.float32).ravel()))


def write_bone_weights(ob: bpy.types.Object, skin_indices: np.ndarray, skin_weights: np.ndarray, bone_names) -> None:
    """One vertex group per bone with the model's skin weights (``skin_indices`` / ``skin_weights``
    (V,k) for the mesh's V vertices): the bone groups are replaced, weights painted into them
    included; groups named after no bone stay. Called for a new topology and by Reset Bone Weights
    only (see the module docstring)."""
    bones = set(bone_names)
    for group in [g for g in ob.vertex_groups if g.name in bones]:
        ob.vertex_groups.remove(group)
    idx, w = skin_indices, skin_weights
    level = np.rint(w * WEIGHT_LEVELS).astype(np.int64)
    verts = np.broadcast_to(np.arange(len(idx))[:, None], idx.shape)
    keep = level > 0
    bone, lev, vert = idx[keep], level[keep], verts[keep]
    order = np.lexsort((vert, lev, bone))
    bone, lev, vert = bone[order], lev[order], vert[order]
    cuts = np.flatnonzero(np.diff(bone * (WEIGHT_LEVELS + 1) + lev)) + 1
    groups = {}
    for start, end in zip(np.r_[0, cuts], np.r_[cuts, len(bone)]):
        b = int(bone[start])
        if b not in groups:
            groups[b] = ob.vertex_groups.new(name=bone_names[b])
        groups[b].add(vert[start:end].tolist(), float(lev[start]) / WEIGHT_LEVELS, "REPLACE")


def fit_armature(context, arm: bpy.types.Object, rig, tolerance: float = 5e-5) -> bool:
    """Create or move the bones of ``arm`` to the rest rig (bones keep their orientation, so pose
    keyframes keep their meaning); returns whether the bones had to change. Moving rest bones needs
    edit mode: an armature in edit mode already is edited in place; otherwise this switches it into
    edit mode and back with ``bpy.ops.object.mode_set`` (an operator: call it from an operator, a
    modal operator's step or a script, never from a timer) and restores the active object, its mode
    (e.g. weight paint on the body mesh) and the armature's own mode and visibility."""
    bones = arm.data.bones
    if len(bones) == len(rig.names):
        heads = np.empty(3 * len(bones), dtype=np.float32)
        bones.foreach_get("head_local", heads)
        order = [bones.find(n) for n in rig.names]
        if min(order) >= 0 and np.abs(heads.reshape(-1, 3)[order] - rig.heads).max() < tolerance:
            return False
    if arm.mode == "EDIT":  # the artist edits the bones: no mode switch
        _write_edit_bones(arm.data.edit_bones, rig)
        return True
    view_layer = context.view_layer
    prev_active = view_layer.objects.active
    prev_mode = prev_active.mode if prev_active is not None else "OBJECT"
    arm_mode, hidden = arm.mode, arm.hide_get()
    if prev_active is not None and prev_active != arm and prev_mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")  # e.g. weight paint on the body mesh: back to it below
    arm.hide_set(False)
    view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        _write_edit_bones(arm.data.edit_bones, rig)
    finally:
        bpy.ops.object.mode_set(mode=arm_mode if arm_mode in ("POSE", "OBJECT") else "OBJECT")
        arm.hide_set(hidden)
        view_layer.objects.active = prev_active
        if prev_active is not None and prev_active.mode != prev_mode:
            try:
                bpy.ops.object.mode_set(mode=prev_mode)
            except RuntimeError as exc:  # the bones moved; only the artist's mode could not come back
                log.warning("could not restore %s to %s mode: %s", prev_active.name, prev_mode, exc)
    return True


def _write_edit_bones(eb, rig) -> None:
    for name, head, tail, z in zip(rig.names, rig.heads, rig.tails, rig.z_axes):
        b = eb.get(name) or eb.new(name)
        b.head, b.tail = head.tolist(), tail.tolist()
        b.align_roll(z.tolist())
    for name, parent in zip(rig.names, rig.parents):
        eb[name].parent = eb[rig.names[parent]] if parent >= 0 else None
        eb[name].use_connect = False


def bone_rest_rotations(arm: bpy.types.Object, names) -> np.ndarray:
    """Rest rotations Q (J,3,3) of the armature's bones (armature space), in model bone order."""
    bones = arm.data.bones
    m = np.empty(16 * len(bones), dtype=np.float32)
    bones.foreach_get("matrix_local", m)
    m = m.reshape(-1, 4, 4).transpose(0, 2, 1)  # foreach_get yields column-major matrices
    return m[[bones.find(n) for n in names], :3, :3].astype(np.float64)


def pose_rotations(arm: bpy.types.Object, names) -> tuple[np.ndarray, np.ndarray]:
    """Pose-bone local rotations L (J,3,3) and the root bone's location (3,), as evaluated now."""
    pb = arm.pose.bones
    m = np.empty(16 * len(pb), dtype=np.float32)
    pb.foreach_get("matrix_basis", m)
    m = m.reshape(-1, 4, 4).transpose(0, 2, 1)[[pb.find(n) for n in names]].astype(np.float64)
    rot = m[:, :3, :3]
    u, _, vt = np.linalg.svd(rot)  # drop any scale the artist keyed
    rot = u @ vt
    return rot, m[0, :3, 3]


def set_pose_rotations(arm: bpy.types.Object, names, local: np.ndarray, bones=None) -> None:
    """Set pose-bone rotations (J,3,3) of the named ``bones`` (default: all) in any rotation mode."""
    from mathutils import Matrix

    wanted = set(names if bones is None else bones)
    for name, rot in zip(names, local):
        if name not in wanted:
            continue
        pb = arm.pose.bones[name]
        mat = Matrix(rot.tolist())
        if pb.rotation_mode == "QUATERNION":
            pb.rotation_quaternion = mat.to_quaternion()
        elif pb.rotation_mode == "AXIS_ANGLE":
            axis, angle = mat.to_quaternion().to_axis_angle()
            pb.rotation_axis_angle = (angle, *axis)
        else:
            pb.rotation_euler = mat.to_euler(pb.rotation_mode)


def body_material(name: str) -> bpy.types.Material:
    """A material showing the skin (:mod:`.skin`), the UV texture (a colour grid the artist can swap)
    or the part colours, in :data:`DEFAULT_COLOR_MODE` and the default skin tone and eye colour."""
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nt = mat.node_tree
    bsdf = next(n for n in nt.nodes if n.type == "BSDF_PRINCIPLED")
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.name = tex.label = "UV Texture"
    image = bpy.data.images.get(GRID_IMAGE) or bpy.data.images.new(GRID_IMAGE, 1024, 1024)
    image.generated_type = "COLOR_GRID"
    tex.image = image
    uvmap = nt.nodes.new("ShaderNodeUVMap")
    uvmap.uv_map = UV_NAME
    nt.links.new(uvmap.outputs["UV"], tex.inputs["Vector"])
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_name = PART_COLOR_ATTR
    mix = nt.nodes.new("ShaderNodeMix")
    mix.name = "Colour Mode"
    mix.data_type = "RGBA"
    nt.links.new(tex.outputs["Color"], mix.inputs[6])
    nt.links.new(attr.outputs["Color"], mix.inputs[7])
    nt.links.new(mix.outputs[2], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.6
    out = next(n for n in nt.nodes if n.type == "OUTPUT_MATERIAL")
    show = nt.nodes.new("ShaderNodeMixShader")
    show.name = show.label = SKIN_MODE
    show.location = out.location.x - 200, out.location.y - 200
    nt.links.new(bsdf.outputs["BSDF"], show.inputs[1])
    nt.links.new(skin.add_skin(nt, SEMANTIC_ATTR), show.inputs[2])
    nt.links.new(show.outputs[0], out.inputs["Surface"])
    skin.default_look(mat)
    _show(mat, DEFAULT_COLOR_MODE)
    return mat


def set_color_mode(arm: bpy.types.Object, mode: str) -> None:
    """Switch the body material between skin, UV texture and part colours."""
    ob = arm.imghum.mesh_object
    if ob and ob.active_material:
        _show(ob.active_material, mode)


def _show(mat: bpy.types.Material, mode: str) -> None:
    nodes = mat.node_tree.nodes if mat.node_tree else {}
    if "Colour Mode" in nodes:
        nodes["Colour Mode"].inputs[0].default_value = 1.0 if mode == "PARTS" else 0.0
    if SKIN_MODE in nodes:
        nodes[SKIN_MODE].inputs[0].default_value = 1.0 if mode == "SKIN" else 0.0


GARMENT_PROP = "imghum_garment_of"


def write_garments(arm: bpy.types.Object, body: bpy.types.Object, garments: list, bone_names, n_parts: int) -> None:
    """Separate garment layers as rigged child objects of the armature (created, updated, removed)."""
    old = sorted((o for o in arm.children if o.get(GARMENT_PROP) == arm.imghum.body_id), key=lambda o: o.name)
    for ob in old[len(garments):]:
        me = ob.data
        bpy.data.objects.remove(ob)
        if me.users == 0:
            bpy.data.meshes.remove(me)
    for k, data in enumerate(garments):
        if k < len(old):
            ob = old[k]
        else:
            name = f"{arm.name} Layer {k + 1}"
            ob = bpy.data.objects.new(name, bpy.data.meshes.new(name))
            ob.parent = arm
            ob[GARMENT_PROP] = arm.imghum.body_id
            for coll in body.users_collection:
                coll.objects.link(ob)
            mod = ob.modifiers.new("Armature", "ARMATURE")
            mod.object = arm
            if body.active_material:
                ob.data.materials.append(body.active_material)
        if write_mesh(ob.data, data, n_parts):  # (garments: always a new topology)
            write_bone_weights(ob, data.attributes.skin_indices, data.attributes.skin_weights, bone_names)
