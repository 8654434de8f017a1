"""Benchmark the runtime thread policy: previews, meshes and fits alone and beside CPU-bound neighbours.

    python scripts/benchmark_threads.py [--runs 7] [--out docs/benchmarks/threads.json]

Each measurement runs in a fresh process through the Python API under one policy — ``torch-default``
(``ih.load_model(threads=None)``: torch's own thread count, the behaviour before the policy) or
``runtime`` (plain ``ih.load_model()``, which applies
:func:`imghum_blender.runtime.threads.use_runtime_policy`, as the add-on, the CLIs and the batch
renderer do) — while a neighbour process runs: none, a multi-threaded torch matmul loop, a numpy
matmul loop, or a second model process meshing in a loop under the same policy (two batch shards on
one machine). Tasks: a 64³ preview (mesh + surface attributes, as the add-on does) on the main thread
and on the background evaluator's worker thread, a 128³ mesh, and a point-cloud fit (5,000 points,
a fifth of the default steps; beside no neighbour and the torch loop only). Prints medians and
slowdowns vs alone.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("torch-default", "runtime")
NEIGHBOURS = ("none", "torch-matmul", "numpy-matmul", "model-shard")
TASKS = ("preview-main", "preview-worker", "mesh-128", "fit-5k")
#: Neighbours the (slow) fit task runs beside.
FIT_NEIGHBOURS = ("none", "torch-matmul")


def _load(policy: str):
    import imghum_blender as ih

    return ih.load_model() if policy == "runtime" else ih.load_model(threads=None)


def neighbour(kind: str, policy: str) -> None:
    """Run a CPU-bound neighbour until killed."""
    if kind == "torch-matmul":
        import torch

        a = torch.randn(1024, 1024)
        while True:
            a = torch.tanh(a @ a)
    if kind == "numpy-matmul":
        import numpy as np

        a = np.random.default_rng(0).normal(size=(1024, 1024))
        while True:
            a = np.tanh(a @ a)
    if kind == "model-shard":
        model = _load(policy)
        lat = model.latents()
        while True:
            model.mesh(lat, resolution=128)


def measure(task: str, policy: str, runs: int) -> dict:
    """Seconds per call of ``task`` (after two warm-ups; a fit: a third of the runs after one) in this
    process under ``policy``."""
    import numpy as np
    import torch

    import imghum_blender as ih
    from imghum_blender.fitting.optimiser import scaled_iterations
    from imghum_blender.fitting.points import CLOUD_ITERATIONS

    model = _load(policy)
    resolution = 128 if task == "mesh-128" else 64

    def work(m, i: int):
        lat = m.latents(phenotypes={"age": 0.5 + 0.02 * i})
        if task == "fit-5k":
            with torch.no_grad():
                verts = m.posed_surface(lat)[0][0].numpy()
            pts = verts[np.random.default_rng(i).choice(len(verts), 5000, replace=False)]
            with torch.enable_grad():
                return ih.fit_points(m, pts, iterations=scaled_iterations(CLOUD_ITERATIONS, 0.2), resolution=0)
        mesh = m.mesh(lat, resolution=resolution)
        return ih.surface_attributes(m, mesh) if task != "mesh-128" else mesh

    if task == "preview-worker":
        from imghum_blender.runtime.evaluator import Evaluator

        ev = Evaluator(lambda: model)

        def call(i: int) -> None:
            ev.submit("body", lambda m, progress: work(m, i))
            outcomes = ev.drain(600)
            assert outcomes and outcomes[-1].error is None, outcomes
    else:
        def call(i: int) -> None:
            work(model, i)

    warm, runs = (1, max(1, runs // 3)) if task == "fit-5k" else (2, runs)  # a fit is slow: fewer calls
    times = []
    with torch.no_grad():
        for i in range(runs + warm):
            t0 = time.perf_counter()
            call(i)
            times.append(time.perf_counter() - t0)
    times = sorted(times[warm:])
    return {"median_s": round(times[len(times) // 2], 3), "max_s": round(times[-1], 3),
            "torch_threads": torch.get_num_threads()}


def _child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_all(runs: int) -> dict:
    """Every task x policy x neighbour; returns the result table."""
    rows = []
    for policy in POLICIES:
        for kind in NEIGHBOURS:
            proc = None
            if kind != "none":
                proc = subprocess.Popen([sys.executable, __file__, "--neighbour", kind, "--policy", policy],
                                        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(8 if kind == "model-shard" else 2)
            try:
                for task in (t for t in TASKS if t != "fit-5k" or kind in FIT_NEIGHBOURS):
                    r = _child(["--task", task, "--policy", policy, "--runs", str(runs)])
                    rows.append({"policy": policy, "neighbour": kind, "task": task, **r})
                    print(f"{policy:14} {kind:13} {task:15} median {r['median_s']:.3f} s  max {r['max_s']:.3f} s",
                          flush=True)
            finally:
                if proc is not None:
                    proc.kill()
                    proc.wait()
    for row in rows:
        alone = next(r for r in rows if r["policy"] == row["policy"] and r["task"] == row["task"]
                     and r["neighbour"] == "none")
        row["slowdown"] = round(row["median_s"] / alone["median_s"], 2)
    return {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "runs": runs,
            "note": "fair share of 2 cores beside one CPU-bound neighbour = 2x", "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--out", default=None, help="write the table as JSON here")
    ap.add_argument("--task", choices=TASKS, help=argparse.SUPPRESS)
    ap.add_argument("--policy", choices=POLICIES, default="runtime", help=argparse.SUPPRESS)
    ap.add_argument("--neighbour", choices=NEIGHBOURS[1:], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.neighbour:
        neighbour(args.neighbour, args.policy)
        return 0
    if args.task:
        print(json.dumps(measure(args.task, args.policy, args.runs)))
        return 0
    result = run_all(args.runs)
    print("\npolicy         neighbour     task            slowdown")
    for r in result["rows"]:
        print(f"{r['policy']:14} {r['neighbour']:13} {r['task']:15} {r['slowdown']:.2f}x")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
