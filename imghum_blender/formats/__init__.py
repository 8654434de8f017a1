"""Files people bring and take away (no bpy; only :mod:`.mocap`'s retargeting uses torch).

Reading order: :mod:`.atomic` (every writer's all-or-nothing write, output path checks) -> :mod:`.parsing`
(JSON / TOML of files people bring, unreadable ones as decode errors) -> :mod:`.validate` (the checks
specs, presets and joint maps share) -> :mod:`.mesh_files` (OBJ / PLY out) -> :mod:`.scans` (PLY /
OBJ / XYZ in) -> :mod:`.latents_file` (one body's latents as JSON) -> :mod:`.presets` (character
presets) -> :mod:`.animation` (ARKit CSV, pose JSON) -> :mod:`.mocap` (BVH, joint maps, retargeting).
"""
