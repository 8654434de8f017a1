"""Per-frame latents of a batch body: base values, seeded random draws (the vocabulary's), presets
and keyframes (linear between keys, held outside them). No bpy."""
from __future__ import annotations

import numpy as np

from ..field import poses
from ..bundle.vocabulary import Vocabulary
from .spec import Body


def frame_latents(body: Body, frame: int) -> dict:
    """Latents of ``body`` at ``frame``: phenotypes or beta, modifiers and expression (name -> value)
    and pose (bone -> rotation vector); random draws are seeded per body (the same in every frame)."""
    voc = body.vocabulary
    rng = np.random.default_rng(body.seed)
    lat: dict = {"expression": {}, "pose": {}}
    if body.random_shape:
        lat["phenotypes"] = voc.random_phenotypes(rng)
    if body.random_expression:
        lat["expression"] = voc.random_expression(rng)
    if body.expression_preset:
        lat["expression"].update(poses.EXPRESSION_PRESETS[body.expression_preset])
    if body.random_pose:
        lat["pose"] = {k: v.tolist() for k, v in poses.random_pose(voc.bone_names, rng, body.random_pose).items()}
    if body.modifier_variation:  # drawn after the others: specs without it keep their draws
        lat["modifiers"] = voc.random_modifiers(rng, body.modifier_variation)
    _apply(lat, body.base, voc)
    if body.hands:
        hand_bones = [b for b in voc.bone_names if b.startswith(("finger", "metacarpal"))]
        lat["pose"].update({k: v.tolist() for k, v in poses.preset_pose(hand_bones,
                                                                         poses.HAND_PRESETS[body.hands]).items()})
    if body.keyframes:
        before = [k for k in body.keyframes if k["frame"] <= frame]
        after = [k for k in body.keyframes if k["frame"] > frame]
        a = before[-1] if before else after[0]
        b = after[0] if after and before else a
        t = 0.0 if a is b else (frame - a["frame"]) / (b["frame"] - a["frame"])
        _apply(lat, _mix(a, b, t, lat, voc), voc)
    return lat


def _apply(lat: dict, d: dict, voc: Vocabulary) -> None:
    for key in ("phenotypes", "beta"):
        if key in d:
            lat.pop("beta" if key == "phenotypes" else "phenotypes", None)
            lat[key] = d[key]
    for key in ("expression", "modifiers"):
        if key in d:
            lat[key] = {**lat.get(key, {}), **d[key]}
    if "pose" in d:
        lat["pose"] = {**lat["pose"], **_resolved(d, "pose", voc)}


def _mix(a: dict, b: dict, t: float, current: dict, voc: Vocabulary) -> dict:
    """Linear blend of two keyframes (values a key lacks come from the current latents)."""
    rest = {"pose": lambda n: [0.0, 0.0, 0.0], "expression": lambda n: 0.0, "modifiers": lambda n: 0.0,
            "phenotypes": voc.phenotype_default}
    out = {}
    for key in ("phenotypes", "modifiers", "expression", "pose"):
        if key in a or key in b:
            ka, kb = _resolved(a, key, voc), _resolved(b, key, voc)
            base = current.get(key) if isinstance(current.get(key), dict) else {}
            out[key] = {n: (np.asarray(ka.get(n, base.get(n, rest[key](n)))) * (1 - t)
                            + np.asarray(kb.get(n, base.get(n, rest[key](n)))) * t).tolist() for n in set(ka) | set(kb)}
    if "beta" in a or "beta" in b:
        beta_a, beta_b = np.asarray(a.get("beta", b.get("beta"))), np.asarray(b.get("beta", a.get("beta")))
        out["beta"] = (beta_a * (1 - t) + beta_b * t).tolist()
    return out


def _resolved(key_frame: dict, key: str, voc: Vocabulary) -> dict:
    v = key_frame.get(key, {})
    if key == "pose" and isinstance(v, str):
        return {k: x.tolist() for k, x in poses.preset_pose(voc.bone_names, poses.BODY_PRESETS[v]).items()}
    return v
