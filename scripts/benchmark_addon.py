"""Benchmark the add-on's interactive loop in real Blender (bpy module), for each Mesh > Topology
(template, the default, and adaptive): a slider change -> new preview mesh applied to the body (the
Weight phenotype, and for the template body a modifier, nose-scale-vert, dragged the same way)
(evaluation on the worker thread, then mesh, UVs, attributes and vertex groups written on the main
thread; adaptive at the default preview resolution), plus a final update and a 10-frame bake.

    python scripts/benchmark_addon.py [--out docs/benchmarks/addon.json]

Enables this checkout as the add-on in a throw-away Blender user folder first.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

def main() -> None:
    """Print and record the timings."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from imghum_blender.batch.session import addon_api, enable_addon

    module = enable_addon()
    import bpy
    import numpy as np

    runtime = addon_api(module)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 10

    def measure(topology: str) -> dict:
        bpy.ops.imghum.add_body(topology=topology)
        arm = bpy.context.active_object
        p = arm.imghum
        def drag(group, name: str, start: float) -> list[float]:
            times = []
            for i in range(args.repeats + 1):
                t0 = time.perf_counter()
                setattr(group, name, start + 0.04 * i)  # what dragging a slider does
                errors = runtime.drain()
                times.append(time.perf_counter() - t0)
                assert not errors, errors
            return times[1:]

        slider = drag(p, "weight", 0.3)
        modifier = drag(p.modifiers, "nose_scale_vert_decr_incr", -0.2) if topology == "TEMPLATE" else None
        vertices = len(p.mesh_object.data.vertices)
        t0 = time.perf_counter()
        bpy.ops.imghum.update_mesh()
        final = time.perf_counter() - t0
        final_vertices = len(p.mesh_object.data.vertices)
        t0 = time.perf_counter()
        bpy.ops.imghum.bake_animation(resolution=p.preview_resolution)
        bake = (time.perf_counter() - t0) / 10
        return {"preview_resolution": p.preview_resolution, "preview_vertices": vertices,
                "slider_to_mesh_seconds_median": float(np.median(slider)),
                "slider_to_mesh_seconds_max": float(max(slider)),
                **({"modifier_to_mesh_seconds_median": float(np.median(modifier)),
                    "modifier_to_mesh_seconds_max": float(max(modifier))} if modifier else {}),
                "final_resolution": p.final_resolution, "final_vertices": final_vertices, "final_update_seconds": final,
                "bake_seconds_per_frame": bake}

    result = {"template": measure("TEMPLATE"), "adaptive": measure("ADAPTIVE"), "blender": bpy.app.version_string,
              "cores": len(os.sched_getaffinity(0))}
    for topology in ("template", "adaptive"):
        for k, v in result[topology].items():
            print(f"{topology:9s} {k:36s} {v:.3f}" if isinstance(v, float) else f"{topology:9s} {k:36s} {v}")
    bpy.ops.preferences.addon_disable(module=module)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
