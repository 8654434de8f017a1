"""Batch specs (TOML): validation with messages that name the field, expansion into bodies and
(body, frame) items, deterministic seeds and sharding. No bpy here.

Everything that can be checked without rendering is checked by :func:`load` (the same call for
``--dry-run`` and for a render): values, names (they become file names), referenced files and
their contents. Latent names, sizes, ranges and defaults come from :mod:`imghum_blender.bundle.vocabulary`
of the spec's ``bundle`` (default: the shipped model). See ``examples/*.toml``; :data:`FIELDS` is
the schema.
"""
from __future__ import annotations

import hashlib
import math
import random
import re
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ..formats import animation as animation_io, latents_file, mocap, presets, validate as check
from ..formats.parsing import toml_loads
from ..bundle import header, vocabulary
from ..field import poses
from ..bundle.vocabulary import CUT, FIELD_BACKENDS, LAYER, MODIFIER_RANGE, RESOLUTION, Vocabulary
from ..surface.appearance import CUSTOM, EYE_COLORS, LEVEL_RANGE, SKIN_TONES, Appearance


class SpecError(check.ValidationError):
    """An invalid spec; the message starts with the offending field's path."""


PASSES = ("segmentation", "uv", "depth", "keypoints", "normals")
#: The passes a spec gets without an ``output.passes`` list.
DEFAULT_PASSES = ("segmentation", "uv", "depth", "keypoints")
VIEWS = {"front": 0.0, "three_quarter": 35.0, "side": 90.0, "back": 180.0}
#: Longest body name (after the ``_NNN`` suffix of ``count``): names become file names.
MAX_NAME = 64
#: Most items (bodies x frames) in one spec.
MAX_ITEMS = 1_000_000
#: Animation a body's ``pose_file`` may hold: pose JSON, BVH motion capture, FBX (e.g. Mixamo).
POSE_FILE_SUFFIXES = (".json", ".bvh", ".fbx")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")

_SCENE = ("engine", "samples", "denoise", "resolution", "background", "backgrounds", "view", "camera",
          "random_camera", "lens", "lights")
#: Files a ``scene.backgrounds`` folder may hold: images (composited behind the body) and HDRIs
#: (the world: they light the scene too; Cycles only).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
HDRI_SUFFIXES = (".hdr", ".exr")
#: ``scene.random_camera`` ranges: name -> (lowest, highest allowed bound, meaning).
CAMERA_RANGES = {"distance": (0.3, 100.0, "meters from the body's centre, horizontally"),
                 "height": (-5.0, 50.0, "meters above the body's lowest point"),
                 "yaw": (-180.0, 180.0, "degrees around the body from its front (90: its left side)"),
                 "focal": (5.0, 500.0, "focal length in mm (36 mm sensor)")}
_OUTPUT = ("images", "passes", "meshes", "blend")
_BODY = ("name", "phenotypes", "beta", "modifiers", "modifier_variation", "expression", "expression_preset",
         "pose", "hands", "random_shape", "random_pose", "random_expression", "count", "frames", "keyframes",
         "pose_file", "framing", "layers", "limb_cuts", "preset", "fit", "appearance")
_SCENES = ("name", "bodies", "people", "count", "frames", "area", "clearance", "yaw", "positions")
_TOP = ("seed", "bundle", "field", "mesh_resolution", "preset_folder", "scene", "output", "appearance", "bodies",
        "scenes")
#: ``appearance`` (top level, or a body's): the skin as weighted named tones or uniform melanin and
#: redness ranges, the eyes as weighted named colours or one iris colour. Default: every named tone
#: and eye colour, equally likely; the redness range with melanin ranges: :data:`REDNESS_RANGE`.
_SKIN, _EYES = ("skin_tones", "melanin", "redness"), ("eye_colors", "iris")
REDNESS_RANGE = (0.4, 0.55)
#: The schema: allowed fields per table (types and ranges are checked in ``validate``).
FIELDS = {"top": _TOP, "scene": _SCENE, "output": _OUTPUT, "appearance": _SKIN + _EYES, "bodies[]": _BODY,
          "bodies[].keyframes[]": ("frame", "phenotypes", "beta", "modifiers", "expression", "pose"),
          "scenes[]": _SCENES}
#: Most bodies in one ``[[scenes]]`` image.
MAX_PEOPLE = 16


@dataclass
class Scene:
    engine: str = "WORKBENCH"
    samples: int = 16
    denoise: bool = True
    resolution: tuple[int, int] = (512, 512)
    background: tuple[float, float, float] | None = (0.8, 0.8, 0.82)
    view: str = "front"
    camera: dict | None = None
    random_camera: dict[str, tuple[float, float]] | None = None
    backgrounds: tuple[str, ...] = ()
    lens: float = 50.0
    lights: str = "studio"


@dataclass
class Output:
    images: bool = True
    passes: tuple[str, ...] = DEFAULT_PASSES
    meshes: str = "none"
    blend: bool = False

    def folders(self) -> tuple[str, ...]:
        """The sub-folders of the output folder this output writes into."""
        wanted = {"images": self.images, "passes": bool(self.passes), "keypoints": "keypoints" in self.passes,
                  "meshes": self.meshes != "none", "blend": self.blend}
        return tuple(k for k, v in wanted.items() if v)


@dataclass
class Body:
    """One concrete body (after ``count`` expansion) with its seed and its bundle's vocabulary."""

    name: str
    seed: int
    base: dict
    keyframes: list[dict]
    frames: list[int]
    vocabulary: Vocabulary = field(repr=False, compare=False)
    hands: str | None = None
    expression_preset: str | None = None
    random_shape: bool = False
    modifier_variation: float = 0.0
    random_pose: float = 0.0
    random_expression: bool = False
    pose_file: str | None = None
    framing: str = "body"
    layers: list[dict] = field(default_factory=list)
    limb_cuts: list[dict] = field(default_factory=list)
    preset: str | None = None
    fit: str | None = None
    appearance: Appearance = Appearance()


@dataclass(frozen=True)
class Layout:
    """Where a scene's bodies stand on the ground plane (z = 0): drawn at random inside ``area``
    (width along x, depth along y, meters, centred on the origin) with ``yaw`` (degrees, 0: facing
    -y, the front view) and at least ``clearance`` meters between any two bodies, or given as
    ``positions`` (x, y, yaw) per body."""

    area: tuple[float, float] = (3.0, 3.0)
    clearance: float = 0.05
    yaw: tuple[float, float] = (-45.0, 45.0)
    positions: tuple[tuple[float, float, float], ...] | None = None


@dataclass
class Shot:
    """What one item renders at a frame: a single body where its pose puts it (``layout`` None), or
    a scene of several bodies (indices into ``Spec.bodies``) placed by ``layout``."""

    name: str
    seed: int
    bodies: tuple[int, ...]
    frames: list[int]
    layout: Layout | None = None


@dataclass
class Spec:
    seed: int
    mesh_resolution: int
    scene: Scene
    output: Output
    bodies: list[Body]
    vocabulary: Vocabulary = field(repr=False)
    bundle: Path | None = None
    backend: str = FIELD_BACKENDS[0]  # the spec's ``field`` key
    path: Path | None = None
    sha256: str = ""
    shots: list[Shot] = field(default_factory=list)
    items: list[tuple[int, int]] = field(default_factory=list)

    @property
    def item_ids(self) -> list[str]:
        """``<shot>_f<frame>`` per item (a shot is a body, or a ``[[scenes]]`` scene): the stem of
        every file the item writes."""
        return [f"{self.shots[s].name}_f{f:04d}" for s, f in self.items]


# -- reading -------------------------------------------------------------------------------------
def load(path: str | Path) -> Spec:
    """Read and validate a TOML spec file (the spec's relative paths are relative to its folder)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read spec {path}: {exc.strerror or exc}") from exc
    try:
        data = toml_loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SpecError(f"{path} is not a text file (not UTF-8): expected a TOML spec") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path.name} is not valid TOML: {exc}") from exc
    spec = validate(data, base_dir=path.parent)
    digest = hashlib.sha256(raw)
    used_files = {f for b in spec.bodies for f in (b.preset, b.pose_file, b.fit) if f}
    for used in sorted(used_files):  # a changed file is another spec
        digest.update(Path(used).read_bytes())
    spec.path, spec.sha256 = path, digest.hexdigest()
    return spec


@check.errors_as(SpecError)
def validate(data: dict, base_dir: Path = Path(".")) -> Spec:
    """A validated :class:`Spec` from parsed TOML (raises :class:`SpecError`)."""
    check.table("spec", data, _TOP)
    bundle, voc = _bundle(data, base_dir)
    seed = check.number("seed", data.get("seed", 0), 0, 2**31 - 1, integer=True)
    mesh_res = check.ranged("", data, "mesh_resolution", RESOLUTION["final"], integer=True)
    scene = _scene(check.table("scene", data.get("scene", {}), _SCENE), base_dir)
    output = _output(check.table("output", data.get("output", {}), _OUTPUT))
    raw = data.get("bodies")
    if not isinstance(raw, list) or not raw:
        raise SpecError("bodies: the spec needs at least one [[bodies]] table")
    folder = _preset_folder(data, base_dir)
    looks = _appearance("appearance", data.get("appearance", {}))
    groups = [_bodies(f"bodies[{i}]", d, i, seed, base_dir, folder, voc, looks) for i, d in enumerate(raw)]
    bodies = [b for g in groups for b in g]
    if "scenes" in data:
        shots = _scenes(data["scenes"], groups, seed)
    else:
        shots = [Shot(b.name, b.seed, (i,), b.frames) for i, b in enumerate(bodies)]
    _unique_names(bodies)
    if "scenes" in data:
        _unique_names(shots)
    if sum(len(s.frames) for s in shots) > MAX_ITEMS:
        raise SpecError(f"{'scenes' if 'scenes' in data else 'bodies'}: more than {MAX_ITEMS} items "
                        "(images x frames); split the spec")
    backend = check.choice("field", data.get("field", FIELD_BACKENDS[0]), FIELD_BACKENDS)
    if backend != "exact":
        _refuse_modifiers(raw, bodies)
    spec = Spec(seed, mesh_res, scene, output, bodies, voc, bundle, backend=backend, shots=shots)
    spec.items = [(si, f) for si, s in enumerate(shots) for f in s.frames]
    return spec


def _refuse_modifiers(raw: list, bodies: list[Body]) -> None:
    """SpecError when a body of a spec on the neural field sets modifiers (its β does not span them)."""
    for i, b in enumerate(bodies):
        keys = [k for k in b.keyframes if any(k.get("modifiers", {}).values())]
        if any(b.base.get("modifiers", {}).values()) or b.modifier_variation or keys:
            where = next((f"bodies[{j}]" for j, d in enumerate(raw) if isinstance(d, dict)
                          and d.get("name", f"body{j}") in (b.name, b.name.rsplit("_", 1)[0])), f"bodies[{i}]")
            raise SpecError(f"{where}: modifiers need the exact field (field = \"exact\"); the neural network's "
                            "shape code does not span them")


def _bundle(data: dict, base_dir: Path) -> tuple[Path | None, Vocabulary]:
    """The spec's model bundle (``bundle = "path"``; default: the shipped one) and its vocabulary."""
    if "bundle" not in data:
        return None, vocabulary.load()
    path = check.existing_path("bundle", data["bundle"], base_dir, "a model bundle")
    try:
        return path, vocabulary.load(path)
    except (header.BundleHeaderError, vocabulary.VocabularyError) as exc:
        raise SpecError(f"bundle: {exc}") from exc


def _scene(sc: dict, base_dir: Path) -> Scene:
    scene = Scene()
    if "engine" in sc:
        scene.engine = check.choice("scene.engine", sc["engine"], ("WORKBENCH", "CYCLES"))
    if "samples" in sc:
        scene.samples = check.number("scene.samples", sc["samples"], 1, 4096, integer=True)
    if "denoise" in sc:
        scene.denoise = check.flag("scene.denoise", sc["denoise"])
    if "resolution" in sc:
        scene.resolution = tuple(check.vector("scene.resolution", sc["resolution"], 2, 16, 8192, integer=True))
    if "background" in sc:
        bg = sc["background"]
        scene.background = None if bg == "transparent" else tuple(check.vector("scene.background", bg, 3, 0, 1))
    if "view" in sc:
        scene.view = check.choice("scene.view", sc["view"], tuple(VIEWS))
    if "lens" in sc:
        scene.lens = check.number("scene.lens", sc["lens"], 5, 500)
    if "lights" in sc:
        scene.lights = check.choice("scene.lights", sc["lights"], ("studio", "none"))
    if "camera" in sc:
        cam = check.table("scene.camera", sc["camera"], ("location", "look_at"))
        check.required("scene.camera", cam, "location", "for an explicit camera")
        scene.camera = {k: check.vector(f"scene.camera.{k}", cam.get(k, [0, 0, 0]), 3, -1000, 1000)
                        for k in ("location", "look_at")}
        if scene.camera["location"] == scene.camera["look_at"]:
            raise SpecError("scene.camera: location and look_at are the same point")
    if "random_camera" in sc:
        if "camera" in sc:
            raise SpecError("scene.random_camera: give either an explicit camera or random_camera ranges")
        scene.random_camera = _camera_ranges(sc["random_camera"])
    if "backgrounds" in sc:
        scene.backgrounds = _backgrounds(sc["backgrounds"], base_dir, scene.engine)
    return scene


def _backgrounds(v, base_dir: Path, engine: str) -> tuple[str, ...]:
    """The image and HDRI files of a background folder (sorted absolute paths)."""
    folder = check.existing_path("scene.backgrounds", v, base_dir, "a folder of images or HDRIs", "folder")
    suffixes = IMAGE_SUFFIXES + HDRI_SUFFIXES
    files = sorted(str(f) for f in folder.iterdir() if f.is_file() and f.suffix.lower() in suffixes)
    if not files:
        raise SpecError(f"scene.backgrounds: {folder} holds no {', '.join(suffixes)} files")
    if engine != "CYCLES" and any(Path(f).suffix.lower() in HDRI_SUFFIXES for f in files):
        raise SpecError("scene.backgrounds: HDRI backgrounds light the scene and need engine = \"CYCLES\"")
    return tuple(files)


def draw_background(backgrounds: tuple[str, ...], body_seed: int, frame: int) -> str:
    """The background file of one item (reproducible from the body's seed and the frame)."""
    return random.Random(f"background/{body_seed}/{frame}").choice(backgrounds)


def draw_camera(ranges: dict[str, tuple[float, float]], body_seed: int, frame: int) -> dict[str, float]:
    """The random camera of one item, uniform within ``ranges``; it depends only on the body's seed
    and the frame, so shards and resumed runs draw the same cameras."""
    rng = random.Random(f"camera/{body_seed}/{frame}")
    return {k: round(rng.uniform(lo, hi), 6) for k, (lo, hi) in ranges.items()}


def _camera_ranges(v) -> dict[str, tuple[float, float]]:
    """Per item, the camera is drawn from these ranges (see :data:`CAMERA_RANGES`)."""
    check.table("scene.random_camera", v, tuple(CAMERA_RANGES))
    out = {}
    for key, (lo, hi, _) in CAMERA_RANGES.items():
        a, b = check.vector(f"scene.random_camera.{key}",
                            check.required("scene.random_camera", v, key, "(a range [low, high])"), 2, lo, hi)
        if a > b:
            raise SpecError(f"scene.random_camera.{key}: the range [{a:g}, {b:g}] runs backwards")
        out[key] = (a, b)
    return out


def _output(out: dict) -> Output:
    output = Output()
    for key in ("images", "blend"):
        if key in out:
            setattr(output, key, check.flag(f"output.{key}", out[key]))
    if "passes" in out:
        output.passes = tuple(check.list_of("output.passes", out["passes"],
                                            lambda where, p: check.choice(where, p, PASSES), "pass names"))
    if "meshes" in out:
        output.meshes = check.choice("output.meshes", out["meshes"], ("none", "obj", "ply"))
    if not output.folders():
        raise SpecError("output: nothing to write (images = false, passes = [], meshes = 'none', blend = false)")
    return output


# -- bodies --------------------------------------------------------------------------------------
def _bodies(path: str, b: dict, index: int, seed: int, base_dir: Path, preset_folder: Path,
            voc: Vocabulary, looks: dict) -> list[Body]:
    check.table(path, b, _BODY)
    preset = fit = None
    if "preset" in b and "fit" in b:
        raise SpecError(f"{path}: give either a preset or a fit, not both")
    if "preset" in b:
        preset, b = _with_preset(f"{path}.preset", b, base_dir, preset_folder, voc)
    if "fit" in b:
        fit, b = _with_fit(f"{path}.fit", b, base_dir)
    count = check.number(f"{path}.count", b.get("count", 1), 1, 100000, integer=True)
    name = _name(f"{path}.name", b.get("name", f"body{index}"), count)
    base = _latents(path, b, voc)
    keys = _keyframes(f"{path}.keyframes", b.get("keyframes", []), voc)
    if "frames" in b:
        frames = _frames(f"{path}.frames", b["frames"])
    else:
        frames = [k["frame"] for k in keys] or [1]
    extra = _body_options(path, b, base_dir, voc)
    extra["preset"], extra["fit"] = preset, fit
    looks = _over(looks, _appearance(f"{path}.appearance", b.get("appearance", {})))
    out = []
    for c in range(count):
        body_seed = zlib.crc32(f"{seed}/{index}/{c}".encode()) & 0x7FFFFFFF
        out.append(Body(name if count == 1 else f"{name}_{c:03d}", body_seed, base, keys, frames, voc,
                        appearance=draw_appearance(looks, body_seed), **extra))
    return out


# -- skin tones and eye colours --------------------------------------------------------------------
def _appearance(path: str, d) -> dict:
    """A checked ``appearance`` table (see :data:`_SKIN`, :data:`_EYES`)."""
    check.table(path, d, _SKIN + _EYES)
    if "skin_tones" in d and ("melanin" in d or "redness" in d):
        raise SpecError(f"{path}: give either skin_tones or melanin (and redness) ranges, not both")
    if "redness" in d and "melanin" not in d:
        raise SpecError(f"{path}.redness: a redness range goes with a melanin range (named tones have their own)")
    if "eye_colors" in d and "iris" in d:
        raise SpecError(f"{path}: give either eye_colors or one iris colour, not both")
    out = {}
    for key, names, what in (("skin_tones", SKIN_TONES, "skin tone"), ("eye_colors", EYE_COLORS, "eye colour")):
        if key in d:
            out[key] = _weights(f"{path}.{key}", d[key], tuple(names), what)
    for key in ("melanin", "redness"):
        if key in d:
            lo, hi = check.vector(f"{path}.{key}", d[key], 2, *LEVEL_RANGE)
            if lo > hi:
                raise SpecError(f"{path}.{key}: the range [{lo:g}, {hi:g}] runs backwards")
            out[key] = (lo, hi)
    if "iris" in d:
        out["iris"] = tuple(check.vector(f"{path}.iris", d["iris"], 3, 0.0, 1.0))
    return out


def _weights(path: str, v, names: tuple[str, ...], what: str) -> dict[str, float]:
    """A table of names (of ``names``) to weights (>= 0, not all 0)."""
    if not isinstance(v, dict) or not v:
        raise SpecError(f"{path}: expected a table of {what} names and weights, e.g. {{ {names[0]!r} = 1 }}")
    out = {check.choice(path, k, names): check.number(f"{path}.{k}", w, 0, 1e6) for k, w in v.items()}
    if not sum(out.values()) > 0:
        raise SpecError(f"{path}: every weight is 0; at least one {what} needs a weight above 0")
    return out


def _over(base: dict, top: dict) -> dict:
    """The appearance ``top`` over ``base``: each of its groups (skin, eyes) replaces base's."""
    replaced = {k for group in (_SKIN, _EYES) if any(g in top for g in group) for k in group}
    return {**{k: v for k, v in base.items() if k not in replaced}, **top}


def _fixed(a: Appearance) -> dict:
    """An ``appearance`` table that always draws ``a``."""
    skin = ({"skin_tones": {a.skin_tone: 1.0}} if a.skin_tone != CUSTOM
            else {"melanin": [a.melanin] * 2, "redness": [a.redness] * 2})
    return {**skin, **({"eye_colors": {a.eye_color: 1.0}} if a.eye_color != CUSTOM else {"iris": list(a.iris)})}


def draw_appearance(looks: dict, body_seed: int) -> Appearance:
    """A body's skin tone and eye colour, drawn from its checked ``appearance`` table; it depends only
    on the body's seed (the same for every frame, shard and resumed run)."""
    skin, eyes = random.Random(f"skin/{body_seed}"), random.Random(f"eyes/{body_seed}")
    if "melanin" in looks:
        tone = CUSTOM
        melanin, redness = (round(skin.uniform(*looks.get(k, REDNESS_RANGE)), 4) for k in ("melanin", "redness"))
    else:
        weights = looks.get("skin_tones", dict.fromkeys(SKIN_TONES, 1.0))
        tone = skin.choices(list(weights), list(weights.values()))[0]
        melanin, redness = SKIN_TONES[tone].melanin, SKIN_TONES[tone].redness
    if "iris" in looks:
        eye, iris = CUSTOM, looks["iris"]
    else:
        weights = looks.get("eye_colors", dict.fromkeys(EYE_COLORS, 1.0))
        eye = eyes.choices(list(weights), list(weights.values()))[0]
        iris = EYE_COLORS[eye]
    return Appearance(tone, melanin, redness, eye, tuple(iris))


def _name(path: str, name, count: int) -> str:
    """A body name that is safe as (the start of) a file name on every system."""
    if not isinstance(name, str) or not name:
        raise SpecError(f"{path}: expected a non-empty string, got {name!r}")
    if not _NAME.fullmatch(name):
        bad = next((c for c in name if not (c.isascii() and (c.isalnum() or c in "-_"))), None)
        raise SpecError(f"{path}: {name[:40]!r} {f'contains {bad!r}' if bad else 'starts with -'}; use ASCII "
                        "letters, digits, '-' and '_' (not first: '-'), it becomes a file name")
    suffix = f"_{count - 1:03d}" if count > 1 else ""
    if len(name) + len(suffix) > MAX_NAME:
        raise SpecError(f"{path}: {name[:20]!r}... is {len(name) + len(suffix)} characters"
                        f"{' with the count suffix' if suffix else ''}; at most {MAX_NAME} (it becomes a file name)")
    return name


def _unique_names(named: list) -> None:
    """No two bodies (or scenes) share a name, also not in another letter case (file names on
    macOS, Windows)."""
    seen: dict[str, str] = {}
    for b in named:
        other = seen.get(b.name.casefold())
        if other is not None:
            how = "is used twice" if other == b.name else f"and {other!r} differ only in letter case (one file name)"
            raise SpecError(f"{'scenes' if isinstance(b, Shot) else 'bodies'}: the name {b.name!r} {how}")
        seen[b.name.casefold()] = b.name


# -- scenes --------------------------------------------------------------------------------------
def _scenes(raw, groups: list[list[Body]], seed: int) -> list[Shot]:
    """The shots of ``[[scenes]]``: each names its cast (bodies, or the name of a ``count`` group
    for all of its bodies) and draws ``people`` of them per scene, or takes them all."""
    if not isinstance(raw, list) or not raw:
        raise SpecError("scenes: expected one or more [[scenes]] tables")
    index = {b.name: [i] for i, b in enumerate(b for g in groups for b in g)}
    start = 0
    for g, bodies in enumerate(groups):  # a count group's base name stands for all of its bodies
        base = bodies[0].name[:-4] if len(bodies) > 1 else bodies[0].name
        index.setdefault(base, list(range(start, start + len(bodies))))
        start += len(bodies)
    shots, used = [], set()
    for i, d in enumerate(raw):
        path = f"scenes[{i}]"
        check.table(path, d, _SCENES)
        cast = _cast(f"{path}.bodies", d.get("bodies"), index)
        used.update(cast)
        count = check.number(f"{path}.count", d.get("count", 1), 1, 100000, integer=True)
        people = check.number(f"{path}.people", d.get("people", len(cast)), 1, min(len(cast), MAX_PEOPLE),
                              integer=True)
        if len(cast) > MAX_PEOPLE and "people" not in d:
            raise SpecError(f"{path}.bodies: {len(cast)} bodies in one image (at most {MAX_PEOPLE}); "
                            "set people to draw some of them per scene")
        name = _name(f"{path}.name", d.get("name", f"scene{i}"), count)
        frames = _frames(f"{path}.frames", d["frames"]) if "frames" in d else [1]
        layout = _layout(path, d, people, len(cast))
        for c in range(count):
            shot_seed = zlib.crc32(f"{seed}/scene/{i}/{c}".encode()) & 0x7FFFFFFF
            chosen = cast if people == len(cast) else sorted(random.Random(shot_seed).sample(cast, people))
            shots.append(Shot(name if count == 1 else f"{name}_{c:03d}", shot_seed, tuple(chosen), frames, layout))
    names = [b.name for g in groups for b in g]
    unused = [names[k] for k in range(len(names)) if k not in used]
    if unused:
        raise SpecError(f"bodies: {unused[0]!r} is in no [[scenes]] (with scenes, bodies are rendered in them only)")
    return shots


def _cast(path: str, v, index: dict[str, list[int]]) -> list[int]:
    if not isinstance(v, list) or not v or not all(isinstance(n, str) for n in v):
        raise SpecError(f"{path}: expected a non-empty list of body names")
    cast = []
    for n in v:
        if n not in index:
            raise SpecError(f"{path}: no body is named {n!r} (names: {', '.join(sorted(index)[:8])})")
        cast.extend(k for k in index[n] if k not in cast)
    return cast


def _layout(path: str, d: dict, people: int, cast: int) -> Layout:
    area = tuple(check.vector(f"{path}.area", d["area"], 2, 0.1, 1000)) if "area" in d else Layout.area
    clearance = check.number(f"{path}.clearance", d.get("clearance", Layout.clearance), 0.0, 5.0)
    yaw = tuple(check.vector(f"{path}.yaw", d["yaw"], 2, -180, 180)) if "yaw" in d else Layout.yaw
    if yaw[0] > yaw[1]:
        raise SpecError(f"{path}.yaw: the range [{yaw[0]:g}, {yaw[1]:g}] runs backwards")
    positions = None
    if "positions" in d:
        v = d["positions"]
        if people != cast:
            raise SpecError(f"{path}.positions: explicit positions need the scene's whole cast (no people draw)")
        if not isinstance(v, list) or len(v) != people:
            raise SpecError(f"{path}.positions: expected one [x, y, yaw] per body ({people})")
        positions = tuple(tuple(check.vector(f"{path}.positions[{k}]", p, 3, -1000, 1000)) for k, p in enumerate(v))
    return Layout(area, clearance, yaw, positions)


def _frames(path: str, fr) -> list[int]:
    return sorted(set(check.list_of(path, fr, _frame, "frame numbers", nonempty=True)))


def _frame(path: str, f) -> int:
    return check.number(path, f, 0, 1_000_000, integer=True)


def _preset_folder(data: dict, base_dir: Path) -> Path:
    """Where ``preset = "<name>"`` looks for ``<name>.json`` (default: ``presets`` next to the spec)."""
    if "preset_folder" not in data:
        return base_dir / "presets"
    return check.existing_path("preset_folder", data["preset_folder"], base_dir, "a folder", "folder")


def _with_preset(path: str, b: dict, base_dir: Path, folder: Path, voc: Vocabulary) -> tuple[str, dict]:
    """The preset file a body names and the body's fields over the preset's (the same fields a body
    gives, validated as such afterwards). The body's ``phenotypes``, ``modifiers`` and ``expression``
    override the preset's by name; its ``beta`` or ``random_shape`` replace the preset's shape, its
    ``expression_preset`` or ``random_expression`` the preset's expression, its ``layers`` and
    ``limb_cuts`` the preset's garment layers and limb differences; the preset's skin tone and eye
    colour are the body's unless its ``appearance`` gives its own skin or eyes."""
    v = b["preset"]
    if not isinstance(v, str) or not v:
        raise SpecError(f"{path}: expected a preset name or the path of a preset .json file, got {v!r}")
    try:
        if v.lower().endswith(".json"):
            file = check.existing_path(path, v, base_dir, "a preset file")
            p = presets.read_preset(file, voc)
        else:
            file, p = presets.preset_path(folder, v), presets.load_preset(folder, v, voc)
    except presets.PresetError as exc:
        raise SpecError(f"{path}: {exc}") from exc
    fields = {"beta": p.beta} if p.use_beta else {"phenotypes": p.phenotypes}
    if "beta" in b or b.get("random_shape") is True or ("phenotypes" in b and p.use_beta):
        fields = {}
    if p.modifiers:
        fields["modifiers"] = p.modifiers
    if "expression_preset" not in b and b.get("random_expression") is not True:
        fields["expression"] = p.expression
    for key, kind in (("layers", "GARMENT"), ("limb_cuts", "LIMB")):
        fields[key] = [ly.settings() for ly in p.layers if ly.kind == kind]
    fields["appearance"] = _fixed(p.appearance)
    merged = {**fields, **b}
    if isinstance(b.get("appearance"), dict):
        merged["appearance"] = _over(fields["appearance"], b["appearance"])
    for key in ("phenotypes", "modifiers", "expression"):
        if key in fields and isinstance(b.get(key), dict):
            merged[key] = {**fields[key], **b[key]}
    return str(file), merged


def _with_fit(path: str, b: dict, base_dir: Path) -> tuple[str, dict]:
    """The latents file (e.g. ``fit --latents-out``) a body names and the body's fields over the
    file's shape, expression and pose (validated as the body's own afterwards; the body's
    ``expression`` and ``pose`` override the file's by name, its ``beta`` or ``phenotypes`` replace
    the file's shape). Where the fit placed the body is not used: the batch frames it."""
    file = check.existing_path(path, b["fit"], base_dir, "a latents .json file (fit --latents-out)")
    try:
        latents, _ = latents_file.read_latents_file(file)
    except ValueError as exc:
        raise SpecError(f"{path}: {exc}") from exc
    fields = {k: latents[k] for k in ("beta", "phenotypes", "expression", "pose") if k in latents}
    if "beta" in b or "phenotypes" in b or b.get("random_shape") is True:
        fields.pop("beta", None)
        fields.pop("phenotypes", None)
    merged = {**fields, **b}
    for key in ("expression", "pose"):
        if isinstance(fields.get(key), dict) and isinstance(b.get(key), dict):
            merged[key] = {**fields[key], **b[key]}
    merged.pop("fit")
    return str(file), merged


def _body_options(path: str, b: dict, base_dir: Path, voc: Vocabulary) -> dict:
    extra = {}
    for key, options in (("hands", tuple(poses.HAND_PRESETS)), ("expression_preset", tuple(poses.EXPRESSION_PRESETS)),
                         ("framing", ("body", "head"))):
        if key in b:
            extra[key] = check.choice(f"{path}.{key}", b[key], options)
    missing = sorted(set(poses.EXPRESSION_PRESETS.get(extra.get("expression_preset"), ())) - set(voc.expression_names))
    if missing:
        raise SpecError(f"{path}.expression_preset: this bundle has no facial actions {missing}")
    for key in ("random_shape", "random_expression"):
        if key in b:
            extra[key] = check.flag(f"{path}.{key}", b[key])
    if "random_pose" in b:
        extra["random_pose"] = check.number(f"{path}.random_pose", b["random_pose"], 0, 1)
    if "modifier_variation" in b:
        extra["modifier_variation"] = check.number(f"{path}.modifier_variation", b["modifier_variation"], 0, 1)
        if extra["modifier_variation"] and not voc.modifiers:
            raise SpecError(f"{path}.modifier_variation: this model has no modifiers")
    if "pose_file" in b:
        extra["pose_file"] = _pose_file(f"{path}.pose_file", b["pose_file"], base_dir, voc)
    extra["layers"] = check.list_of(f"{path}.layers", b.get("layers", []), lambda p, d: _layer(p, d, voc.region_names))
    extra["limb_cuts"] = check.list_of(f"{path}.limb_cuts", b.get("limb_cuts", []),
                                       lambda p, d: _cut(p, d, voc.limb_parts))
    return extra


def _pose_file(path: str, v, base_dir: Path, voc: Vocabulary) -> str:
    """The absolute path of a pose file: pose JSON or BVH whose contents are usable (read here), or
    FBX (read by Blender's importer at render time)."""
    pf = check.existing_path(path, v, base_dir, "a pose file (.json, .bvh or .fbx)")
    suffix = pf.suffix.lower()
    if suffix not in POSE_FILE_SUFFIXES:
        raise SpecError(f"{path}: {pf.name} is not a pose file (.json, .bvh or .fbx)")
    try:
        if suffix == ".json":
            animation_io.read_pose_json(pf, voc.bone_names)
        elif suffix == ".bvh":
            mocap.clip_map(mocap.read_bvh(pf))
    except ValueError as exc:
        raise SpecError(f"{path}: {exc}") from exc
    return str(pf)


def _keyframes(path: str, raw, voc: Vocabulary) -> list[dict]:
    def keyframe(where: str, kf) -> dict:
        check.table(where, kf, FIELDS["bodies[].keyframes[]"])
        return {"frame": _frame(f"{where}.frame", check.required(where, kf, "frame")), **_latents(where, kf, voc)}

    keys = check.list_of(path, raw, keyframe)
    frames = [k["frame"] for k in keys]
    if len(set(frames)) != len(frames):
        raise SpecError(f"{path}: two keyframes share frame {next(f for f in frames if frames.count(f) > 1)}")
    return sorted(keys, key=lambda k: k["frame"])


def _latents(path: str, d: dict, voc: Vocabulary) -> dict:
    out = {}
    if "phenotypes" in d:
        out["phenotypes"] = check.named_values(f"{path}.phenotypes", d["phenotypes"], voc.phenotype_names,
                                               "phenotype", *voc.phenotype_range)
    if "beta" in d:
        out["beta"] = check.vector(f"{path}.beta", d["beta"], voc.beta_size, -voc.beta_limit, voc.beta_limit)
    if "phenotypes" in out and "beta" in out:
        raise SpecError(f"{path}: give either phenotypes or beta, not both")
    if "modifiers" in d:
        out["modifiers"] = check.named_values(f"{path}.modifiers", d["modifiers"], voc.modifier_names, "modifier",
                                              MODIFIER_RANGE.lo, MODIFIER_RANGE.hi)
    if "expression" in d:
        out["expression"] = check.named_values(f"{path}.expression", d["expression"], voc.expression_names,
                                               "facial action", *voc.expression_range)
    if "pose" in d:
        out["pose"] = _pose(f"{path}.pose", d["pose"], voc)
    return out


def _pose(path: str, v, voc: Vocabulary) -> str | dict[str, list[float]]:
    if isinstance(v, str):
        return check.choice(path, v, tuple(poses.BODY_PRESETS))
    check.model_names(path, v, voc.bone_names, "bone")
    return {k: check.vector(f"{path}.{k}", x, 3, -2 * math.pi, 2 * math.pi) for k, x in v.items()}


def _layer(path: str, d, regions: tuple[str, ...]) -> dict:
    check.table(path, d, ("region", "thickness", "border", "separate"))
    return {"region": check.choice(f"{path}.region", check.required(path, d, "region"), regions),
            **{key: check.ranged(path, d, key, rng) for key, rng in LAYER.items()},
            "separate": check.flag(f"{path}.separate", d.get("separate", False))}


def _cut(path: str, d, limb_parts: tuple[str, ...]) -> dict:
    check.table(path, d, ("part", "fraction", "rounding"))
    return {"part": check.choice(f"{path}.part", check.required(path, d, "part"), limb_parts),
            **{key: check.ranged(path, d, key, rng) for key, rng in CUT.items()}}


def shard(items: list, shard_spec: str | None) -> list:
    """The deterministic slice ``K/N`` (1-based) of the items: every N-th item from the K-th."""
    if not shard_spec:
        return list(items)
    k, n = parse_shard(shard_spec)
    return list(items)[k - 1::n]


def parse_shard(text) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 1 <= K <= N; :class:`SpecError` otherwise."""
    m = re.fullmatch(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*", text) if isinstance(text, str) else None
    if not m:
        raise SpecError(f"--shard: expected K/N such as 2/8, got {text!r}")
    k, n = int(m[1]), int(m[2])
    if not 1 <= k <= n:
        raise SpecError(f"--shard: K must lie in 1..N, got {text}")
    return k, n
