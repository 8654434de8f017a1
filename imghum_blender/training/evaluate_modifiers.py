"""Check the modifiers against the teacher: vertex agreement and locality (build and test time; needs anny).

    python -m imghum_blender.training.evaluate_modifiers --out docs/benchmarks/modifiers.json [--bodies 32]

Agreement: held-out bodies over the whole slider range (the first 16 at the slider corners), strong
expressions and random poses, each with random modifiers — a random third of them, in every region,
at values uniform in [-1, 1] (both signs; every fourth body sets all of them) — posed by the teacher
built with its local changes and by the explicit layer: the largest vertex distance. Locality: each
modifier at -1 and +1 on the mean body; how far it moves any vertex outside its region (the vertices
its region's targets touch), at rest and posed (the identity 'local-ref' pose). Posed, a modifier that
changes a bone's rest head or orientation (as the teacher's do: both are linear in the vertices) also
moves what that bone carries, and one that moves the root bone's head moves the whole body, since
posing puts that head at the root translation. Macro phenotypes the default teacher leaves out (cup
size, firmness, the African / Asian / Caucasian mix): how far each moves a young adult's vertices at
its ends (the teacher built with ``phenotypes="all"``), to say what is not offered.
"""
from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ..bundle.header import read_file_document
from ..bundle.vocabulary import DEFAULT_MODIFIERS, MODIFIERS_FORMAT, MODIFIERS_VERSION, PHENOTYPE_NAMES
from ..field.model import Model, load_model
from . import teacher


def teacher_targets() -> dict[str, str]:
    """Modifier name -> the teacher's label for it (its "incr" target)."""
    doc = read_file_document(DEFAULT_MODIFIERS, "modifiers", MODIFIERS_FORMAT, MODIFIERS_VERSION)
    return {m["name"]: m["incr"] for m in doc["modifiers"]}


def random_values(names: tuple[str, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, M) modifier values: a random third of them per body uniform in [-1, 1], every fourth body all."""
    values = rng.uniform(-1.0, 1.0, (n, len(names)))
    keep = rng.random((n, len(names))) < 1 / 3
    keep[::4] = True
    return values * keep


def agreement(model: Model, n: int, seed: int) -> list[dict]:
    """One row per body: the largest explicit-vs-teacher vertex distance (mm) and what the body was."""
    gen, rng = torch.Generator().manual_seed(seed), np.random.default_rng(seed)
    phen = teacher.sample_slider_space(n, gen, PHENOTYPE_NAMES)
    corners = torch.tensor(list(itertools.product((0.0, 1.0), repeat=len(PHENOTYPE_NAMES))), dtype=torch.float64)
    pick = corners[torch.randperm(len(corners), generator=gen)[:min(16, n)]]
    for j, name in enumerate(PHENOTYPE_NAMES):
        phen[name][:len(pick)] = pick[:, j]
    face = teacher.sample_expressions(n, gen, strong=True)
    deltas = teacher.sample_poses(n, gen)
    names = model.vocabulary.modifier_names
    values = random_values(names, n, rng)
    labels = teacher_targets()
    t = teacher.load_teacher(local_changes=True)
    rows = []
    for b in range(n):
        lc = {labels[m]: torch.tensor([values[b, k]], dtype=torch.float64) for k, m in enumerate(names)}
        with torch.no_grad():
            ref = t(pose_parameters=deltas[b:b + 1], phenotype_kwargs={k: v[b:b + 1] for k, v in phen.items()},
                    local_changes_kwargs=lc, facial_actions={k: v[b:b + 1] for k, v in face.items()})["vertices"]
            lat = model.latents(phenotypes={k: float(v[b]) for k, v in phen.items()},
                                expression={k: float(v[b]) for k, v in face.items()},
                                pose=deltas[b:b + 1, :, :3, :3].float(), root_translation=deltas[b:b + 1, 0, :3, 3],
                                modifiers=torch.from_numpy(values[b:b + 1]).float())
            verts = model.posed_surface(lat)[0].double()
        rows.append({"phenotypes": {k: round(float(v[b]), 4) for k, v in phen.items()},
                     "modifiers_set": int((values[b] != 0).sum()),
                     "max_mm": float((verts - ref).norm(dim=-1).max()) * 1000})
    return rows


def locality(model: Model) -> list[dict]:
    """Per modifier: its largest displacement (mm) inside and outside its region on the mean body at -1
    and +1, at rest and posed, and whether it moves a bone head."""
    layer = model.explicit
    mods = layer.modifiers
    voc = model.vocabulary
    n_vertices = layer.template.shape[0]
    touched = {r: mods.moved_vertices([k for k, m in enumerate(voc.modifiers) if m.region == r], n_vertices)
               for r in voc.modifier_regions}
    lat = model.latents()
    coeffs = layer.coefficients_from_code(lat.beta.double()).float().expand(2, -1)
    face = lat.expression.expand(2, -1)
    with torch.no_grad():
        ref = layer.rest(coeffs[:1], face[:1])[0][0]
        posed_ref = model.posed_surface(lat)[0][0]
        rows = []
        for k, m in enumerate(voc.modifiers):
            values = torch.zeros(2, len(voc.modifiers))
            values[0, k], values[1, k] = -1.0, 1.0
            verts, _, heads = layer.rest(coeffs, face, values)
            d = (verts - ref).norm(dim=-1)
            outside = ~torch.from_numpy(touched[m.region])
            bones = bool((mods.heads[2 * k:2 * k + 2].abs() > 1e-9).any())
            posed = (model.posed_surface(model.latents(modifiers=values))[0] - posed_ref).norm(dim=-1)
            rows.append({"name": m.name, "region": m.region, "inside_max_mm": float(d[:, ~outside].max()) * 1000,
                         "outside_max_mm": float(d[:, outside].max()) * 1000, "moves_bones": bones,
                         "posed_outside_max_mm": float(posed[:, outside].max()) * 1000})
    return rows


def macro_phenotype_reach() -> dict[str, list[float]]:
    """Largest vertex displacement (mm) of a young adult (gender 0 and 1) when each left-out macro
    phenotype goes to an end (the race mix to one race alone), from the default 0.5 / equal mix."""
    import warnings

    import anny

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = anny.Anny(phenotypes="all")
    f64 = torch.float64
    base = {"gender": torch.tensor([0.0, 1.0], dtype=f64), "age": torch.full((2,), 0.667, dtype=f64)}

    def vertices(**kw) -> torch.Tensor:
        with torch.no_grad():
            phen = {**base, **{k: torch.full((2,), v, dtype=f64) for k, v in kw.items()}}
            return t(phenotype_kwargs=phen)["vertices"]

    ref, races = vertices(), ("african", "asian", "caucasian")
    ends = {f"{k} {v:g}": {k: v} for k in ("cupsize", "firmness") for v in (0.0, 1.0)}
    ends.update({f"{r} alone": {q: float(q == r) for q in races} for r in races})
    return {name: [round(float(x) * 1000, 1) for x in (vertices(**kw) - ref).norm(dim=-1).amax(-1)]
            for name, kw in ends.items()}


def main(argv: list[str] | None = None) -> None:
    """Command line: write the agreement and locality table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--bodies", type=int, default=32)
    ap.add_argument("--seed", type=int, default=20261210)
    args = ap.parse_args(argv)
    model = load_model(field="exact")
    t0 = time.time()
    rows = agreement(model, args.bodies, args.seed)
    local = locality(model)
    worst = max(local, key=lambda r: r["outside_max_mm"])
    summary = {"bodies": len(rows), "max_mm": max(r["max_mm"] for r in rows),
               "median_mm": float(np.median([r["max_mm"] for r in rows])), "modifiers": len(local),
               "outside_region_max_mm": worst["outside_max_mm"], "worst_modifier": worst["name"],
               "outside_over_0.1mm": sum(r["outside_max_mm"] > 0.1 for r in local),
               "inside_max_mm": max(r["inside_max_mm"] for r in local),
               "moving_bone_heads": sum(r["moves_bones"] for r in local),
               "posed_outside_over_0.1mm": sum(r["posed_outside_max_mm"] > 0.1 for r in local),
               "posed_outside_over_1mm": sum(r["posed_outside_max_mm"] > 1.0 for r in local)}
    out = {"protocol": __doc__.split("\n\n")[1].replace("\n", " ").strip(), "seed": args.seed, "summary": summary,
           "seconds": round(time.time() - t0, 1), "machine": f"{platform.machine()}, torch threads "
                                                             f"{torch.get_num_threads()}",
           "macro_phenotypes_mm_gender_0_1": macro_phenotype_reach(), "bodies": rows, "locality": local}
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
