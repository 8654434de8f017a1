"""From the field to surfaces with attributes (no bpy).

Reading order: :mod:`.graph` (mesh connectivity) -> :mod:`.snapping` (the exact field's head grown
for marching cubes, vertices moved onto its surface) -> :mod:`.meshing` (coarse-to-fine marching
cubes) -> :mod:`.correspondence` and :mod:`.attributes` (semantics -> template point, seam-aware UVs,
part labels, skin weights, skin regions of :mod:`.regions`) -> :mod:`.edits` (garment layers and limb
differences applied to the field) -> :mod:`.template_layout` (the template's own quads on any body)
-> :mod:`.hybrid` (edited bodies on the exact field: template + marching cubes) -> :mod:`.face_keys`
(ARKit shape keys) -> :mod:`.rig` (the skeleton as an armature) -> :mod:`.keypoints` (COCO /
OpenPose points on a body) -> :mod:`.placement` (several bodies on one floor) -> :mod:`.sampling`
(random points on a mesh) -> :mod:`.appearance` (skin tones, eye colours and the skin's albedo, as
numbers).
"""
