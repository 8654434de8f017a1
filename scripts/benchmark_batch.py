"""Benchmark the batch renderer: seconds per 512x512 still with Cycles (16 samples, CPU) and with
Workbench, ground-truth passes included, measured from the manifest of real runs.

    python scripts/benchmark_batch.py [--bodies 4] [--out docs/benchmarks/batch.json]
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


def main() -> None:
    """Render the same bodies with both engines, with and without passes; print and record."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bodies", type=int, default=4)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="imghum-batch-bench-"))
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp / "user"))
    result = {"bodies": args.bodies, "resolution": [512, 512], "mesh_resolution": 128,
              "cores": len(os.sched_getaffinity(0))}
    for engine in ("WORKBENCH", "CYCLES"):
        for passes in ([], ["segmentation", "uv", "depth", "keypoints"]):
            name = f"{engine.lower()}_{'with' if passes else 'no'}_passes"
            spec = tmp / f"{name}.toml"
            spec.write_text(SPEC.format(engine=engine, bodies=args.bodies, passes=json.dumps(passes)))
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "imghum_blender.batch", str(spec), "--out", str(tmp / name)],
                           check=True, env=env, capture_output=True)
            wall = time.perf_counter() - t0
            items = json.loads((tmp / name / "manifest.json").read_text())["items"]
            per = sorted(i["seconds"] for i in items)
            result[name] = {"seconds_per_still_median": per[len(per) // 2], "wall_seconds": wall}
            print(f"{name:28s} {per[len(per) // 2]:.2f} s per still (median; run {wall:.1f} s incl. start-up)")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
