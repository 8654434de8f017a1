"""The model bundle on disk, read without torch (nothing here imports torch or bpy).

Reading order: :mod:`.tensorfile` (the safetensors layout, no pickle) -> :mod:`.header` (a bundle's
JSON document, its digest and the default bundle's path) -> :mod:`.vocabulary` (names, sizes, ranges
and defaults of every latent and edit, the one spec for UI, CLI and batch) -> :mod:`.summary` (a
short human summary for status lines). The tensors become a model in :mod:`imghum_blender.field`.
"""
