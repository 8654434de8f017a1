"""Batch render specs (TOML): validation with messages that name the field, expansion into bodies
and (body, frame) items, per-frame latents, deterministic seeds and sharding. No bpy here.

See ``examples/*.toml`` and the README for the format; :data:`FIELDS` is the schema.
"""
from __future__ import annotations

import math
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import bundle_info, poses
from .. import vocabulary
from ..vocabulary import REGION_NAMES as REGIONS


class SpecError(ValueError):
    """An invalid spec; the message starts with the offending field's path."""


_DOC = bundle_info.read_document(bundle_info.DEFAULT_BUNDLE)
_NAMES = _DOC["spec"]
PHENOTYPES = tuple(_NAMES["phenotype_names"])
EXPRESSIONS = tuple(_NAMES["expression_names"])
BONES = tuple(_NAMES["bone_names"])
LIMB_PARTS = vocabulary.load().limb_parts
BETA_SIZE, BETA_LIMIT = _NAMES["beta_size"], _NAMES["beta_limit"]
PASSES = ("segmentation", "uv", "depth", "keypoints")
VIEWS = {"front": 0.0, "three_quarter": 35.0, "side": 90.0, "back": 180.0}


def _num(path, v, lo=-math.inf, hi=math.inf, integer=False):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        raise SpecError(f"{path}: expected {'an integer' if integer else 'a number'}, got {type(v).__name__} {v!r}")
    if not math.isfinite(v) or not lo <= v <= hi:
        raise SpecError(f"{path}: {v} is outside [{lo:g}, {hi:g}]")
    return v


def _choice(path, v, options):
    if v not in options:
        raise SpecError(f"{path}: {v!r} is not one of {', '.join(map(repr, options))}")
    return v


def _vec(path, v, n, lo=-math.inf, hi=math.inf):
    if not isinstance(v, list) or len(v) != n:
        raise SpecError(f"{path}: expected a list of {n} numbers")
    return [_num(f"{path}[{i}]", x, lo, hi) for i, x in enumerate(v)]


def _table(path, v, allowed):
    if not isinstance(v, dict):
        raise SpecError(f"{path}: expected a table, got {type(v).__name__}")
    unknown = sorted(set(v) - set(allowed))
    if unknown:
        raise SpecError(f"{path}: unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    return v


def _named_values(path, v, names, lo, hi):
    _table(path, v, names)
    return {k: float(_num(f"{path}.{k}", x, lo, hi)) for k, x in v.items()}


def _pose(path, v):
    if isinstance(v, str):
        return _choice(path, v, tuple(poses.BODY_PRESETS))
    _table(path, v, BONES)
    return {k: _vec(f"{path}.{k}", x, 3, -2 * math.pi, 2 * math.pi) for k, x in v.items()}


def _latents(path, d: dict) -> dict:
    out = {}
    if "phenotypes" in d:
        out["phenotypes"] = _named_values(f"{path}.phenotypes", d["phenotypes"], PHENOTYPES, 0, 1)
    if "beta" in d:
        out["beta"] = _vec(f"{path}.beta", d["beta"], BETA_SIZE, -BETA_LIMIT, BETA_LIMIT)
    if "phenotypes" in out and "beta" in out:
        raise SpecError(f"{path}: give either phenotypes or beta, not both")
    if "expression" in d:
        out["expression"] = _named_values(f"{path}.expression", d["expression"], EXPRESSIONS, 0, 1)
    if "pose" in d:
        out["pose"] = _pose(f"{path}.pose", d["pose"])
    return out


_SCENE = ("engine", "samples", "resolution", "background", "view", "camera", "lens", "lights")
_OUTPUT = ("images", "passes", "meshes", "blend")
_BODY = ("name", "phenotypes", "beta", "expression", "expression_preset", "pose", "hands", "random_shape",
         "random_pose", "random_expression", "count", "frames", "keyframes", "pose_file", "framing", "layers",
         "limb_cuts")
_TOP = ("seed", "mesh_resolution", "scene", "output", "bodies")
#: The schema: allowed fields per table (types and ranges are checked in ``validate``).
FIELDS = {"top": _TOP, "scene": _SCENE, "output": _OUTPUT, "bodies[]": _BODY,
          "bodies[].keyframes[]": ("frame", "phenotypes", "beta", "expression", "pose")}


@dataclass
class Scene:
    engine: str = "WORKBENCH"
    samples: int = 16
    resolution: tuple[int, int] = (512, 512)
    background: tuple[float, float, float] | None = (0.8, 0.8, 0.82)
    view: str = "front"
    camera: dict | None = None
    lens: float = 50.0
    lights: str = "studio"


@dataclass
class Output:
    images: bool = True
    passes: tuple[str, ...] = PASSES
    meshes: str = "none"
    blend: bool = False


@dataclass
class Body:
    """One concrete body (after ``count`` expansion) with its seed."""

    name: str
    seed: int
    base: dict
    keyframes: list[dict]
    frames: list[int]
    hands: str | None = None
    expression_preset: str | None = None
    random_shape: bool = False
    random_pose: float = 0.0
    random_expression: bool = False
    pose_file: str | None = None
    framing: str = "body"
    layers: list[dict] = field(default_factory=list)
    limb_cuts: list[dict] = field(default_factory=list)


@dataclass
class Spec:
    seed: int
    mesh_resolution: int
    scene: Scene
    output: Output
    bodies: list[Body]
    path: Path | None = None
    items: list[tuple[int, int]] = field(default_factory=list)


def load(path: str | Path) -> Spec:
    """Read and validate a TOML spec file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SpecError(f"cannot read spec {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path.name} is not valid TOML: {exc}") from exc
    spec = validate(data, base_dir=path.parent)
    spec.path = path
    return spec


def validate(data: dict, base_dir: Path = Path(".")) -> Spec:
    """A validated :class:`Spec` from parsed TOML (raises :class:`SpecError`)."""
    _table("spec", data, _TOP)
    seed = _num("seed", data.get("seed", 0), 0, 2**31 - 1, integer=True)
    mesh_res = _num("mesh_resolution", data.get("mesh_resolution", 128), 32, 512, integer=True)
    sc = _table("scene", data.get("scene", {}), _SCENE)
    scene = Scene()
    if "engine" in sc:
        scene.engine = _choice("scene.engine", sc["engine"], ("WORKBENCH", "CYCLES"))
    if "samples" in sc:
        scene.samples = _num("scene.samples", sc["samples"], 1, 4096, integer=True)
    if "resolution" in sc:
        scene.resolution = tuple(int(_num(f"scene.resolution[{i}]", x, 16, 8192, integer=True))
                                 for i, x in enumerate(_vec("scene.resolution", sc["resolution"], 2)))
    if "background" in sc:
        bg = sc["background"]
        scene.background = None if bg == "transparent" else tuple(_vec("scene.background", bg, 3, 0, 1))
    if "view" in sc:
        scene.view = _choice("scene.view", sc["view"], tuple(VIEWS))
    if "lens" in sc:
        scene.lens = _num("scene.lens", sc["lens"], 5, 500)
    if "lights" in sc:
        scene.lights = _choice("scene.lights", sc["lights"], ("studio", "none"))
    if "camera" in sc:
        cam = _table("scene.camera", sc["camera"], ("location", "look_at"))
        scene.camera = {k: _vec(f"scene.camera.{k}", cam.get(k, [0, 0, 0]), 3, -1000, 1000)
                        for k in ("location", "look_at")}
        if "location" not in cam:
            raise SpecError("scene.camera.location: required for an explicit camera")
    out = _table("output", data.get("output", {}), _OUTPUT)
    output = Output()
    for key in ("images", "blend"):
        if key in out:
            if not isinstance(out[key], bool):
                raise SpecError(f"output.{key}: expected true or false")
            setattr(output, key, out[key])
    if "passes" in out:
        if not isinstance(out["passes"], list):
            raise SpecError("output.passes: expected a list")
        output.passes = tuple(_choice(f"output.passes[{i}]", p, PASSES) for i, p in enumerate(out["passes"]))
    if "meshes" in out:
        output.meshes = _choice("output.meshes", out["meshes"], ("none", "obj", "ply"))
    raw = data.get("bodies")
    if not isinstance(raw, list) or not raw:
        raise SpecError("bodies: the spec needs at least one [[bodies]] table")
    bodies, names = [], set()
    for i, b in enumerate(raw):
        bodies += _bodies(f"bodies[{i}]", b, i, seed, base_dir)
    for b in bodies:
        if b.name in names:
            raise SpecError(f"bodies: the name {b.name!r} is used twice")
        names.add(b.name)
    spec = Spec(seed, mesh_res, scene, output, bodies)
    spec.items = [(bi, f) for bi, b in enumerate(bodies) for f in b.frames]
    return spec


def _bodies(path: str, b: dict, index: int, seed: int, base_dir: Path) -> list[Body]:
    _table(path, b, _BODY)
    name = b.get("name", f"body{index}")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise SpecError(f"{path}.name: use letters, digits, '-' and '_' only")
    base = _latents(path, b)
    count = _num(f"{path}.count", b.get("count", 1), 1, 100000, integer=True)
    keys = []
    raw_keys = b.get("keyframes", [])
    if not isinstance(raw_keys, list):
        raise SpecError(f"{path}.keyframes: expected a list of tables")
    for k, kf in enumerate(raw_keys):
        kpath = f"{path}.keyframes[{k}]"
        _table(kpath, kf, FIELDS["bodies[].keyframes[]"])
        if "frame" not in kf:
            raise SpecError(f"{kpath}.frame: required")
        keys.append({"frame": _num(f"{kpath}.frame", kf["frame"], 0, 1_000_000, integer=True), **_latents(kpath, kf)})
    keys.sort(key=lambda k: k["frame"])
    if "frames" in b:
        fr = b["frames"]
        if not isinstance(fr, list) or not fr:
            raise SpecError(f"{path}.frames: expected a non-empty list of frame numbers")
        frames = sorted({int(_num(f"{path}.frames[{i}]", f, 0, 1_000_000, integer=True)) for i, f in enumerate(fr)})
    else:
        frames = [k["frame"] for k in keys] or [1]
    extra = {}
    for key, options in (("hands", tuple(poses.HAND_PRESETS)), ("expression_preset", tuple(poses.EXPRESSION_PRESETS)),
                         ("framing", ("body", "head"))):
        if key in b:
            extra[key] = _choice(f"{path}.{key}", b[key], options)
    for key in ("random_shape", "random_expression"):
        if key in b and not isinstance(b[key], bool):
            raise SpecError(f"{path}.{key}: expected true or false")
    if "random_pose" in b:
        extra["random_pose"] = float(_num(f"{path}.random_pose", b["random_pose"], 0, 1))
    if "pose_file" in b:
        if not isinstance(b["pose_file"], str):
            raise SpecError(f"{path}.pose_file: expected a path")
        pf = (base_dir / b["pose_file"]).resolve()
        if not pf.is_file():
            raise SpecError(f"{path}.pose_file: {pf} does not exist")
        extra["pose_file"] = str(pf)
    extra["layers"] = _list_of(f"{path}.layers", b.get("layers", []), _layer)
    extra["limb_cuts"] = _list_of(f"{path}.limb_cuts", b.get("limb_cuts", []), _cut)
    out = []
    for c in range(count):
        body_seed = zlib.crc32(f"{seed}/{index}/{c}".encode()) & 0x7FFFFFFF
        out.append(Body(name if count == 1 else f"{name}_{c:03d}", body_seed, base, keys, frames,
                        random_shape=b.get("random_shape", False), random_expression=b.get("random_expression", False),
                        **extra))
    return out


def _list_of(path, v, item):
    if not isinstance(v, list):
        raise SpecError(f"{path}: expected a list of tables")
    return [item(f"{path}[{i}]", x) for i, x in enumerate(v)]


def _layer(path, d) -> dict:
    _table(path, d, ("region", "thickness", "border", "separate"))
    if "region" not in d:
        raise SpecError(f"{path}.region: required")
    out = {"region": _choice(f"{path}.region", d["region"], tuple(REGIONS)),
           "thickness": float(_num(f"{path}.thickness", d.get("thickness", 0.005), 0, 0.05)),
           "border": float(_num(f"{path}.border", d.get("border", 0.02), 0, 0.1))}
    if not isinstance(d.get("separate", False), bool):
        raise SpecError(f"{path}.separate: expected true or false")
    return {**out, "separate": d.get("separate", False)}


def _cut(path, d) -> dict:
    _table(path, d, ("part", "fraction", "rounding"))
    if "part" not in d:
        raise SpecError(f"{path}.part: required")
    return {"part": _choice(f"{path}.part", d["part"], LIMB_PARTS),
            "fraction": float(_num(f"{path}.fraction", d.get("fraction", 0.5), 0, 1)),
            "rounding": float(_num(f"{path}.rounding", d.get("rounding", 0.015), 0, 0.1))}


def shard(items: list, shard_spec: str | None) -> list:
    """The deterministic slice ``K/N`` (1-based) of the items: every N-th item from the K-th."""
    if not shard_spec:
        return list(items)
    try:
        k, n = (int(x) for x in shard_spec.split("/"))
    except ValueError:
        raise SpecError(f"--shard: expected K/N such as 2/8, got {shard_spec!r}") from None
    if not 1 <= k <= n:
        raise SpecError(f"--shard: K must lie in 1..N, got {shard_spec}")
    return list(items)[k - 1::n]


def frame_latents(body: Body, frame: int) -> dict:
    """Latents of ``body`` at ``frame``: phenotypes/beta, expression (name -> value) and pose
    (bone -> rotation vector), from the base values, random draws (seeded per body) and keyframes
    (linear between keys, held outside them)."""
    rng = np.random.default_rng(body.seed)
    lat: dict = {"expression": {}, "pose": {}}
    if body.random_shape:
        lat["phenotypes"] = {n: float(rng.uniform(0.1, 0.9)) if n != "age" else float(rng.uniform(0.45, 0.95))
                             for n in PHENOTYPES}
    if body.random_expression:
        chosen = rng.choice(len(EXPRESSIONS), size=int(rng.integers(1, 4)), replace=False)
        lat["expression"] = {EXPRESSIONS[i]: float(rng.uniform(0.3, 1.0)) for i in chosen}
    if body.expression_preset:
        lat["expression"].update(poses.EXPRESSION_PRESETS[body.expression_preset])
    if body.random_pose:
        lat["pose"] = {k: v.tolist() for k, v in poses.random_pose(BONES, rng, body.random_pose).items()}
    _apply(lat, body.base)
    if body.hands:
        lat["pose"].update({k: v.tolist() for k, v in poses.preset_pose(
            [b for b in BONES if b.startswith(("finger", "metacarpal"))], poses.HAND_PRESETS[body.hands]).items()})
    if body.keyframes:
        before = [k for k in body.keyframes if k["frame"] <= frame]
        after = [k for k in body.keyframes if k["frame"] > frame]
        a = before[-1] if before else after[0]
        b = after[0] if after and before else a
        t = 0.0 if a is b else (frame - a["frame"]) / (b["frame"] - a["frame"])
        _apply(lat, _mix(a, b, t, lat))
    return lat


def _apply(lat: dict, d: dict) -> None:
    for key in ("phenotypes", "beta"):
        if key in d:
            lat.pop("beta" if key == "phenotypes" else "phenotypes", None)
            lat[key] = d[key]
    if "expression" in d:
        lat["expression"] = {**lat["expression"], **d["expression"]}
    if "pose" in d:
        lat["pose"] = {**lat["pose"], **_resolved(d, "pose")}


def _mix(a: dict, b: dict, t: float, current: dict) -> dict:
    """Linear blend of two keyframes (values a key lacks come from the current latents)."""
    out = {}
    for key in ("phenotypes", "expression", "pose"):
        if key in a or key in b:
            ka, kb = _resolved(a, key), _resolved(b, key)
            names = set(ka) | set(kb)
            base = current.get(key, {}) if isinstance(current.get(key), dict) else {}
            zero = {"pose": lambda n: [0.0, 0.0, 0.0], "expression": lambda n: 0.0,
                    "phenotypes": lambda n: _NAMES["phenotype_defaults"].get(n, 0.5)}[key]
            out[key] = {n: (np.asarray(ka.get(n, base.get(n, zero(n)))) * (1 - t)
                            + np.asarray(kb.get(n, base.get(n, zero(n)))) * t).tolist() for n in names}
    if "beta" in a or "beta" in b:
        out["beta"] = (np.asarray(a.get("beta", b.get("beta"))) * (1 - t) + np.asarray(b.get("beta", a.get("beta"))) * t).tolist()
    return out


def _resolved(key_frame: dict, key: str) -> dict:
    v = key_frame.get(key, {})
    if key == "pose" and isinstance(v, str):
        return {k: x.tolist() for k, x in poses.preset_pose(BONES, poses.BODY_PRESETS[v]).items()}
    return v
