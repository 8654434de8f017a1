"""Evaluate the 52 ARKit shape keys (``face_keys``) on the mean body and held-out teacher bodies.

    python scripts/evaluate_face_keys.py [--bodies 3] [--out docs/benchmarks/face_keys.json]

Per body: the time to make all 52 keys (2 cores), and per key the |SDF| of that single action's
field at the key's skin vertices (p95 over the whole skin, and over the vertices the key moves by
more than 0.1 mm, for the keys that move any), summarized as the median and worst key; plus the parts jawOpen moves.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import imghum_blender as ih
from imghum_blender.surface.face_keys import face_keys
from imghum_blender.surface.template_layout import template_topology
from imghum_blender.training.held_out import SEED, held_out_poses
from imghum_blender.training.teacher import latents_from_anny, sample_expressions, sample_phenotypes

#: Bodies drawn as scripts/evaluate_template_mesh.py draws them (the first ``--bodies`` are scored).
DRAWN = 20


def score(model, lat) -> dict:
    """Time and per-key surface distances of body 0 of ``lat``."""
    voc, topo = model.vocabulary, template_topology(model)
    keys = face_keys(model, lat)
    skin, moved_p95 = [], {}
    for name in voc.expression_names:
        expression = torch.zeros_like(lat.expression)
        expression[0, voc.expression_names.index(name)] = 1.0
        one = replace(lat, expression=expression)
        v = keys.keys[name].astype(np.float64)
        moved = topo.projected & (np.linalg.norm(keys.offsets(name), axis=1) > 1e-4)
        skin.append(float(np.percentile(1000 * np.abs(model.query(v[topo.projected], one)[0]), 95)))
        if moved.any():  # a key may leave this body's skin alone (e.g. an eye action on a closed eye)
            moved_p95[name] = float(np.percentile(1000 * np.abs(model.query(v[moved], one)[0]), 95))
    jaw = np.linalg.norm(keys.offsets("jawOpen"), axis=1) > 5e-4
    worst = max(moved_p95, key=moved_p95.get)
    return {"seconds": keys.seconds, "skin_p95_mm": {"median": float(np.median(skin)), "worst": max(skin)},
            "moved_p95_mm": {"median": float(np.median(list(moved_p95.values()))), "worst": moved_p95[worst],
                             "worst_key": worst},
            "keys_moving_skin": len(moved_p95), "keys_within_1mm_moved": sum(v <= 1.0 for v in moved_p95.values()),
            "jaw_open_parts": sorted({voc.part_names[p] for p in topo.parts[jaw]})}


def main() -> None:
    """Score the mean body and ``--bodies`` held-out ones; print and record."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bodies", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = ih.load_model()
    gen = torch.Generator().manual_seed(SEED)
    families, poses = held_out_poses(model.vocabulary.bone_names, DRAWN, SEED)  # template_mesh.json's bodies
    held = latents_from_anny(model, sample_phenotypes(DRAWN, gen), sample_expressions(DRAWN, gen), poses)
    ih.template_mesh(model, model.latents())  # one-off set-up outside the timing
    rows = [{"body": "mean"} | score(model, model.latents())]
    rows += [{"body": b, "family": families[b]} | score(model, held.body(b)) for b in range(args.bodies)]
    for row in rows:
        print(json.dumps(row))
    if args.out:
        Path(args.out).write_text(json.dumps({"seed": SEED, "threads": 2, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
