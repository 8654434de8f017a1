"""imGHUM-style implicit human body model: signed distance + semantics from shape, expression, pose.

Core library (no bpy). Public surface::

    import imghum_blender as ih
    model = ih.load_model()                 # the shipped default bundle
    lat = model.latents(phenotypes={"age": 0.7}, expression={"jawOpen": 0.5})
    sdf, sem = model.query(points, lat)     # (N,3) -> (N,), (N,3)
    mesh = model.mesh(lat, resolution=256)
    attrs = ih.surface_attributes(model, mesh)  # seam-aware UVs, part labels, skin weights
    fit = ih.fit_points(model, scan_points)     # .latents, .mesh, .residual
    body = ih.template_mesh(model, lat)         # the template's quads on this body (same vertices always)

Subpackages, in reading order (each one's docstring orders its modules): :mod:`.bundle` (the model
files on disk, torch-free) -> :mod:`.field` (latents in, signed distance and semantics out: the exact
and the neural backend) -> :mod:`.surface` (meshes, template topology, attributes, edits, rig) ->
:mod:`.fitting` (bodies from scans and images) -> :mod:`.formats` (files in and out, torch-free but
for retargeting) -> :mod:`.runtime` (one body evaluation and the background evaluator) -> :mod:`.batch`
(the headless renderer; its Blender side is the one place bpy is imported) -> :mod:`.training` (build
time only).
"""
import importlib

__version__ = "0.1.0"
#: Public name -> the submodule defining it. No public name may equal a submodule's name: importing
#: a submodule binds it on the package and would hide the function of that name (a test checks this).
_LAZY = {"load_model": "field.model", "Model": "field.model", "Latents": "field.latents",
         "LatentError": "field.latents", "load_bundle": "field.loader", "BundleError": "field.loader",
         "Mesh": "surface.meshing", "ResolutionError": "surface.meshing",
         "surface_attributes": "surface.attributes", "SurfaceAttributes": "surface.attributes",
         "fit_points": "fitting.points", "fit_image": "fitting.image", "FitResult": "fitting.optimiser",
         "template_mesh": "surface.template_layout", "template_attributes": "surface.template_layout",
         "TemplateMesh": "surface.template_layout"}


def __getattr__(name: str):
    """Import torch-based parts on first use, so the torch-free subpackage :mod:`.bundle` stays light."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["load_model", "load_bundle", "Model", "Latents", "Mesh", "BundleError", "LatentError",
           "ResolutionError", "surface_attributes", "SurfaceAttributes", "fit_points", "fit_image", "FitResult",
           "template_mesh", "template_attributes", "TemplateMesh", "__version__"]
