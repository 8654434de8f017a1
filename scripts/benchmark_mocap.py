"""Benchmark motion-capture retargeting: read a BVH clip and retarget it onto a body (core, no Blender);
also records how far the lowest foot point strays from the body's ground over the clip.

    python scripts/benchmark_mocap.py [--clip examples/walk.bvh] [--repeats 5] [--out docs/benchmarks/mocap.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import imghum_blender as ih
from imghum_blender.formats import mocap
from timing import best_of  # scripts/timing.py

ROOT = Path(__file__).resolve().parents[1]



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=str(ROOT / "examples" / "walk.bvh"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    model = ih.load_model()
    lat = model.latents(phenotypes={"age": 0.7})
    motion = mocap.read_bvh(args.clip)
    mocap.retarget(model, lat, motion)  # warm-up (the rest rig is cached per model)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "clip": Path(args.clip).name,
              "frames": motion.frames, "joints": len(motion.names),
              "read_bvh_s": round(best_of(lambda: mocap.read_bvh(args.clip), args.repeats)[0], 4),
              "retarget_s": round(best_of(lambda: mocap.retarget(model, lat, motion), args.repeats)[0], 4),
              "resample_to_24fps_s": round(best_of(lambda: motion.resampled(24.0), args.repeats)[0], 4)}
    result["retarget_ms_per_frame"] = round(1000 * result["retarget_s"] / motion.frames, 3)
    track = mocap.retarget(model, lat, motion)
    result["lowest_foot_above_ground_max_mm"] = round(1000 * float(abs(mocap.foot_heights(model, lat, track)).max()), 3)
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
