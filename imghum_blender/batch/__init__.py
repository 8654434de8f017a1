"""Headless batch rendering from a TOML spec (see ``python -m imghum_blender.batch --help``).

``spec``, ``keyframes`` and ``manifest`` are plain Python; ``session`` and ``render`` import bpy
(the one place in the core library that does, after ``session`` chose Blender's user folder) and
drive the add-on's own operators.
"""
