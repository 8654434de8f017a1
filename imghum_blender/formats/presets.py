"""Character presets: a body's shape, facial actions, layers, colour mode, skin tone and eye colour
saved as a small JSON file and reused across .blend files and in batch specs (no bpy, no torch).

A preset file::

    {"format": "imghum-preset", "version": 1, "name": "hero",
     "shape": {"use_beta": false, "phenotypes": {"age": 0.7, ...}, "beta": [16 numbers]},
     "expression": {"jawOpen": 0.3},            # facial actions; absent: 0
     "layers": [{"kind": "GARMENT", "region": "SHIRT", "thickness": 0.005, "border": 0.02,
                 "separate": false, "part": "upperarm.L", "fraction": 0.5, "rounding": 0.015}, ...],
     "color_mode": "SKIN",
     "appearance": {"skin_tone": "Dark", "melanin": 0.72, "redness": 0.45,   # or "Custom" and any levels
                    "eye_color": "Brown", "iris": [0.15, 0.05, 0.01]}}      # or "Custom" and any colour

Reading validates every value against a :class:`~.vocabulary.Vocabulary` (names, sizes and the
shared ranges); absent values take their defaults (phenotype defaults, beta 0, no layers, ``SKIN``,
the default tone and eye colour; a named tone or eye colour its own values), so a hand-written
preset may list only what it changes (files written before skin tones load unchanged). Errors are
:class:`PresetError` messages that name the file and the field. In a preset folder a preset is the
file ``<name>.json``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from . import validate as check
from .atomic import atomic_write
from .parsing import json_loads
from ..bundle.vocabulary import CUT, LAYER, MODIFIER_RANGE, Vocabulary
from ..surface.appearance import (CUSTOM, DEFAULT_EYE_COLOR, DEFAULT_TONE, EYE_COLORS, LEVEL_RANGE, SKIN_TONES,
                                  Appearance, named)

FORMAT, VERSION = "imghum-preset", 1
#: Longest preset name (it becomes a file name).
MAX_NAME = 64
#: Largest file read as a preset (a preset is a few kB).
MAX_BYTES = 1_000_000
#: The add-on's colour modes (and a new body's) and layer kinds (the enum identifiers of its body settings).
COLOR_MODES = ("UV", "PARTS", "SKIN")
DEFAULT_COLOR_MODE = "SKIN"
LAYER_KINDS = ("GARMENT", "LIMB")
#: The fields a layer of each kind uses (the others are kept, for an exact round trip).
KIND_FIELDS = {"GARMENT": ("region", "thickness", "border", "separate"), "LIMB": ("part", "fraction", "rounding")}
_UNSAFE = frozenset('/\\:*?"<>|')
_OBJECT = "an object"  # what JSON calls a table
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10))})


class PresetError(check.ValidationError):
    """An unusable preset name, file or value; the message names the file and the field."""


@dataclass
class PresetLayer:
    """One garment layer or limb difference with every field of the add-on's layer settings."""

    kind: str
    region: str
    thickness: float
    border: float
    separate: bool
    part: str
    fraction: float
    rounding: float

    def settings(self) -> dict:
        """The fields its kind uses (:data:`KIND_FIELDS`), as a batch spec's layer or limb cut."""
        return {k: getattr(self, k) for k in KIND_FIELDS[self.kind]}


LAYER_FIELDS = tuple(f.name for f in fields(PresetLayer))
APPEARANCE_FIELDS = tuple(f.name for f in fields(Appearance))


@dataclass
class Preset:
    """A character: shape (all phenotypes, ``use_beta``, beta, the non-zero modifiers), the non-zero
    facial actions, the layers in order, the colour mode and the skin tone and eye colour."""

    name: str
    phenotypes: dict[str, float]
    use_beta: bool
    beta: list[float]
    expression: dict[str, float]
    layers: list[PresetLayer]
    color_mode: str = DEFAULT_COLOR_MODE
    appearance: Appearance = Appearance()
    modifiers: dict[str, float] = field(default_factory=dict)


# -- names and folders ---------------------------------------------------------------------------
def check_name(name) -> str:
    """``name`` when it can be a preset's file name in any folder on any system; PresetError otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise PresetError(f"a preset needs a name, got {name!r}")
    if len(name) > MAX_NAME:
        raise PresetError(f"the preset name {name[:20]!r}... is {len(name)} characters; at most {MAX_NAME}")
    bad = next((c for c in name if c in _UNSAFE or not c.isprintable()), None)
    if bad is not None:
        raise PresetError(f"the preset name {name!r} contains {bad!r}, which cannot be in a file name")
    if name != name.strip() or name.startswith(".") or name.endswith("."):
        raise PresetError(f"the preset name {name!r} starts or ends with a space or a dot")
    if name.lower().endswith(".json") or name.split(".")[0].upper() in _RESERVED:
        raise PresetError(f"the preset name {name!r} is reserved (a file name or a device name)")
    return name


def preset_path(folder: str | Path, name: str) -> Path:
    """The file of preset ``name`` in ``folder`` (``<name>.json``; the name is checked first)."""
    return Path(folder) / f"{check_name(name)}.json"


def list_presets(folder: str | Path) -> list[str]:
    """The names of the presets in ``folder`` (its ``*.json`` files), sorted; [] when it does not exist."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = []
    for path in folder.glob("*.json"):
        if not path.is_file():
            continue
        try:
            names.append(check_name(path.stem))
        except PresetError:
            continue  # not a file this module would have written
    return sorted(names, key=lambda n: (n.casefold(), n))


def write_preset(folder: str | Path, preset: Preset, voc: Vocabulary) -> Path:
    """Validate ``preset`` and write it (atomically) as ``<folder>/<name>.json``, replacing a preset
    of that name; a preset whose name differs only in letter case is refused (one file on macOS and
    Windows). Creates the folder; returns the file."""
    path = preset_path(folder, preset.name)
    other = next((n for n in list_presets(folder) if n.casefold() == preset.name.casefold() and n != preset.name),
                 None)
    if other is not None:
        raise PresetError(f"the preset {other!r} differs from {preset.name!r} only in letter case; delete it first")
    doc = to_document(preset)
    try:
        from_document(doc, voc)
    except PresetError as exc:
        raise PresetError(f"preset {preset.name!r} not saved: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    return path


def read_preset(path: str | Path, voc: Vocabulary) -> Preset:
    """The preset in the file ``path``, validated against ``voc``; PresetError naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise PresetError(f"{path}: {size} bytes is too large for a preset")
        doc = json_loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise PresetError(f"{path} does not exist") from None
    except OSError as exc:
        raise PresetError(f"cannot read the preset {path} ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise PresetError(f"{path} is not a text file (not UTF-8): expected a preset") from None
    except json.JSONDecodeError as exc:
        raise PresetError(f"{path} is not valid JSON: {exc}") from None
    try:
        return from_document(doc, voc, default_name=path.stem)
    except PresetError as exc:
        raise PresetError(f"{path}: {exc}") from None


def load_preset(folder: str | Path, name: str, voc: Vocabulary) -> Preset:
    """Preset ``name`` of ``folder`` (:func:`read_preset` of its file)."""
    path = preset_path(folder, name)
    if not path.is_file():
        raise PresetError(f"there is no preset {name!r} in {folder}")
    return read_preset(path, voc)


def delete_preset(folder: str | Path, name: str) -> None:
    """Remove preset ``name`` from ``folder``; PresetError when there is none."""
    path = preset_path(folder, name)
    try:
        path.unlink()
    except FileNotFoundError:
        raise PresetError(f"there is no preset {name!r} in {folder}") from None


# -- documents -------------------------------------------------------------------------------------
def to_document(preset: Preset) -> dict:
    """The JSON document of a preset (facial actions at 0 are left out)."""
    return {"format": FORMAT, "version": VERSION, "name": preset.name,
            "shape": {"use_beta": preset.use_beta, "phenotypes": dict(preset.phenotypes), "beta": list(preset.beta),
                      "modifiers": {k: v for k, v in preset.modifiers.items() if v}},
            "expression": {k: v for k, v in preset.expression.items() if v},
            "layers": [asdict(ly) for ly in preset.layers], "color_mode": preset.color_mode,
            "appearance": preset.appearance.document()}


@check.errors_as(PresetError)
def from_document(doc, voc: Vocabulary, default_name: str | None = None) -> Preset:
    """A validated :class:`Preset` from a parsed document (``default_name`` when it has no name)."""
    check.table("preset", doc, ("format", "version", "name", "shape", "expression", "layers", "color_mode",
                                "appearance"), kind=_OBJECT)
    if doc.get("format") != FORMAT:
        raise PresetError(f"format: expected {FORMAT!r}, got {doc.get('format')!r} (not an imGHUM preset)")
    version = doc.get("version")
    if type(version) is not int or version != VERSION:
        raise PresetError(f"version: {version!r} is not a version this add-on reads ({VERSION}); "
                          + ("update the add-on" if isinstance(version, int) and version > VERSION else "expected 1"))
    try:
        name = check_name(doc.get("name", default_name))
    except PresetError as exc:
        raise PresetError(f"name: {exc}") from None
    shape = check.table("shape", doc.get("shape", {}), ("use_beta", "phenotypes", "beta", "modifiers"), kind=_OBJECT)
    phen = check.named_values("shape.phenotypes", shape.get("phenotypes", {}), voc.phenotype_names, "phenotype",
                              *voc.phenotype_range, kind=_OBJECT)
    expression = check.named_values("expression", doc.get("expression", {}), voc.expression_names,
                                    "facial action", *voc.expression_range, kind=_OBJECT)
    modifiers = check.named_values("shape.modifiers", shape.get("modifiers", {}), voc.modifier_names, "modifier",
                                   MODIFIER_RANGE.lo, MODIFIER_RANGE.hi, kind=_OBJECT)
    return Preset(name=name, phenotypes={n: phen.get(n, voc.phenotype_default(n)) for n in voc.phenotype_names},
                  use_beta=check.flag("shape.use_beta", shape.get("use_beta", False)),
                  beta=check.vector("shape.beta", shape.get("beta", [0.0] * voc.beta_size), voc.beta_size,
                                    -voc.beta_limit, voc.beta_limit),
                  expression={k: v for k, v in expression.items() if v},
                  layers=check.list_of("layers", doc.get("layers", []), lambda where, d: _layer(where, d, voc),
                                       "layers"),
                  color_mode=check.choice("color_mode", doc.get("color_mode", DEFAULT_COLOR_MODE), COLOR_MODES),
                  appearance=_appearance(doc.get("appearance", {})),
                  modifiers={k: v for k, v in modifiers.items() if v})


def _appearance(d) -> Appearance:
    """Values without a name are ``Custom``; a named tone (eye colour) takes its own values and
    refuses others."""
    check.table("appearance", d, APPEARANCE_FIELDS, kind=_OBJECT)
    tone = check.choice("appearance.skin_tone", d.get("skin_tone", CUSTOM if {"melanin", "redness"} & d.keys()
                                                      else DEFAULT_TONE), (*SKIN_TONES, CUSTOM))
    eye = check.choice("appearance.eye_color", d.get("eye_color", CUSTOM if "iris" in d else DEFAULT_EYE_COLOR),
                       (*EYE_COLORS, CUSTOM))
    own = named(DEFAULT_TONE if tone == CUSTOM else tone, DEFAULT_EYE_COLOR if eye == CUSTOM else eye)
    values = {k: check.number(f"appearance.{k}", d.get(k, getattr(own, k)), *LEVEL_RANGE)
              for k in ("melanin", "redness")}
    values["iris"] = tuple(check.vector("appearance.iris", d.get("iris", list(own.iris)), 3, 0.0, 1.0))
    for key, name, setting in (("melanin", tone, "skin_tone"), ("redness", tone, "skin_tone"),
                               ("iris", eye, "eye_color")):
        if name != CUSTOM and key in d and _differs(values[key], getattr(own, key)):
            raise PresetError(f"appearance.{key}: {d[key]!r} is not the value of {name!r}; leave it out, or set "
                              f"{setting} = {CUSTOM!r}")
    return Appearance(tone, values["melanin"], values["redness"], eye, values["iris"])


def _differs(a, b) -> bool:
    """Numbers (or tuples of them) further apart than float32 storage explains."""
    return any(abs(x - y) > 1e-6 for x, y in (zip(a, b) if isinstance(a, tuple) else [(a, b)]))


def _layer(where: str, d, voc: Vocabulary) -> PresetLayer:
    check.table(where, d, LAYER_FIELDS, kind=_OBJECT)
    kind = check.choice(f"{where}.kind", check.required(where, d, "kind", f"({' or '.join(LAYER_KINDS)})"),
                        LAYER_KINDS)
    names = {"region": voc.region_names, "part": voc.limb_parts}
    for key in names:
        if key in KIND_FIELDS[kind]:
            check.required(where, d, key, f"for a {kind} layer")
    values = {k: check.choice(f"{where}.{k}", d[k], options) if k in d else next(iter(options), "")
              for k, options in names.items()}
    for key, rng in {**LAYER, **CUT}.items():
        values[key] = check.ranged(where, d, key, rng)
    return PresetLayer(kind=kind, separate=check.flag(f"{where}.separate", d.get("separate", False)), **values)
