"""The interactive and batch runtime's core (no bpy): what one body evaluation is, and who runs it.

Reading order: :mod:`.threads` (torch's thread policy) -> :mod:`.body_mesh` (a request of plain
numbers in, mesh + attributes + rest rig out) -> :mod:`.evaluator` (the worker thread with its
latest-wins queue and the synchronous drain that headless code and tests call).
"""
