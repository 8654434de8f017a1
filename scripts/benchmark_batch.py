"""Benchmark the batch renderer: seconds per 512x512 still with Cycles (16 samples, CPU) and with
Workbench, without and with the ground-truth passes, for single bodies and for scenes of several
bodies ([[scenes]]), measured from the manifest of real runs.

    python scripts/benchmark_batch.py [--bodies 4] [--people 3] [--out docs/benchmarks/batch.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = """
seed = 11
mesh_resolution = 128
[scene]
engine = "{engine}"
samples = 16
resolution = [512, 512]
[output]
passes = {passes}
[[bodies]]
name = "body"
random_shape = true
random_pose = 0.5
count = {bodies}
"""
SCENES = """
[[scenes]]
name = "crowd"
bodies = ["body"]
people = {people}
count = {bodies}
area = [3.0, 2.0]
"""


def main() -> None:
    """Render the same bodies with both engines, with and without passes; print and record."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bodies", type=int, default=4, help="stills per run (single bodies, or scenes)")
    ap.add_argument("--people", type=int, default=3, help="bodies per scene")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="imghum-batch-bench-"))
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp / "user"))
    result = {"bodies": args.bodies, "people": args.people, "resolution": [512, 512], "mesh_resolution": 128,
              "cores": len(os.sched_getaffinity(0))}
    for engine in ("WORKBENCH", "CYCLES"):
        for passes in ([], ["segmentation", "uv", "depth", "keypoints"]):
            for people in (1, args.people):
                name = f"{engine.lower()}_{'with' if passes else 'no'}_passes"
                name += f"_scene{people}" if people > 1 else ""
                spec = tmp / f"{name}.toml"
                bodies = args.bodies * people if people > 1 else args.bodies
                text = SPEC.format(engine=engine, bodies=bodies, passes=json.dumps(passes))
                spec.write_text(text + (SCENES.format(people=people, bodies=args.bodies) if people > 1 else ""))
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "imghum_blender.batch", str(spec), "--out", str(tmp / name)],
                               check=True, env=env, capture_output=True)
                wall = time.perf_counter() - t0
                items = json.loads((tmp / name / "manifest.json").read_text())["items"]
                per = sorted(i["seconds"] for i in items)
                median = per[len(per) // 2]
                result[name] = {"seconds_per_still_median": median, "seconds_per_body": round(median / people, 3),
                                "wall_seconds": round(wall, 1)}
                print(f"{name:36s} {median:.2f} s per still, {median / people:.2f} s per body "
                      f"(median; run {wall:.1f} s incl. start-up)")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
