"""Headless batch rendering from a TOML spec (see ``python -m imghum_blender.batch --help``).

Reading order:

- plain Python (no bpy): ``spec`` (the TOML schema, validated with :mod:`imghum_blender.formats.validate`,
  expanded into bodies, scenes and (shot, frame) items), ``keyframes`` (an item's latents),
  ``manifest`` (what a run rendered; ``--resume``, shards), ``coco`` (keypoint labels) and
  ``__main__`` (the command line: plan, render, record);
- ``session``: starts Blender with the add-on enabled (and leaves no trace); the one place in the
  core library that imports bpy first, after choosing Blender's user folder;
- ``render``: the :class:`~.render.Renderer` that renders an item and writes its files, composed of
  ``studio`` (scene, world, backgrounds, lights, the render call), ``bodies`` (bodies added, set up
  and baked through the add-on's operators), ``layout`` (a scene's bodies on the ground), ``camera``
  (aiming, OpenCV intrinsics and extrinsics), ``passes`` (per-pixel ground truth) and
  ``annotations`` (per-body latents, joints and keypoints). These import bpy and are imported
  through ``render``.
"""
