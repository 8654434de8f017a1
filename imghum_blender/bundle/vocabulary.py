"""One vocabulary for the model, the add-on, the CLI and the batch renderer: names, sizes, ranges and
defaults of every latent and edit, read from a bundle's header (no torch, no bpy, no numpy at import),
and the random draws within those ranges.

Everything that shows, validates or randomizes latents reads this module, built from the *active*
bundle (:func:`load`), so a bundle with other names or sizes changes every front end at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from ..formats import validate
from . import header

#: Named phenotypes an artist sets, each in [0, 1] (teacher semantics).
PHENOTYPE_NAMES = ("gender", "age", "muscle", "weight", "height", "proportions")
PHENOTYPE_HELP = {"gender": "0 female, 1 male", "age": "0 newborn ... 0.667 young adult ... 1 elderly",
                  "muscle": "muscle tone", "weight": "body mass", "height": "body height",
                  "proportions": "body proportions"}
#: Garment regions of :mod:`.edits` (their spans on the parts live there).
REGION_NAMES = ("SHIRT", "LONG_SLEEVES", "SHORTS", "TROUSERS", "SOCKS", "CAP")
#: Part-name stems where a limb difference may start (plus every finger part).
LIMB_STEMS = ("upperarm", "lowerarm", "palm", "upperleg", "lowerleg", "foot")


@dataclass(frozen=True)
class Range:
    """A parameter's default and its inclusive bounds."""

    default: float
    lo: float
    hi: float

    def check(self, name: str, value: float) -> float:
        """``value`` as float; ValueError naming ``name`` when it is not a finite number in range."""
        return validate.number(name, value, self.lo, self.hi)


#: The field backends every front end offers (the first is the default): the teacher's own surface with
#: exact distances, or the learned imGHUM network (see :mod:`imghum_blender.field.model`).
FIELD_BACKENDS = ("exact", "neural")

#: Garment layer and limb-difference parameters (meters; fraction along the part's bone).
LAYER = {"thickness": Range(0.005, 0.0, 0.05), "border": Range(0.02, 0.0, 0.1)}
CUT = {"fraction": Range(0.5, 0.0, 1.0), "rounding": Range(0.015, 0.0, 0.1)}
#: Random shapes: phenotype ranges (adults; all genders), raw beta spread and clip.
RANDOM_PHENOTYPES = {"gender": (0.0, 1.0), "age": (0.45, 0.95), "muscle": (0.2, 0.8), "weight": (0.15, 0.85),
                     "height": (0.2, 0.8), "proportions": (0.3, 0.7)}
RANDOM_BETA_STD, RANDOM_BETA_CLIP = 0.8, 3.0
#: Random expressions: how many actions (inclusive) and their strengths.
RANDOM_EXPRESSION_COUNT, RANDOM_EXPRESSION_STRENGTH = (1, 3), (0.3, 1.0)
#: Mesh grid resolutions (longest side of the body box): preview, final, and what any front end accepts.
RESOLUTION = {"preview": Range(64, 24, 256), "final": Range(192, 32, 768), "any": Range(256, 8, 2048)}
#: A fit's mesh with the neural field (the exact one gives its template mesh): marching cubes at this resolution.
NEURAL_FIT_RESOLUTION = 128
#: The local shape changes' file (:mod:`imghum_blender.field.modifiers`) and its document's format.
DEFAULT_MODIFIERS = Path(__file__).parents[1] / "data" / "modifiers_v1.safetensors"
MODIFIERS_FORMAT, MODIFIERS_VERSION = "imghum-modifiers", 1
#: Every modifier's range and default (negative: the pair's "decr" target, positive: its "incr" one).
MODIFIER_RANGE = Range(0.0, -1.0, 1.0)
#: Random modifiers of a dataset's "variation": how many per body and their largest magnitude.
RANDOM_MODIFIER_COUNT, RANDOM_MODIFIER_STRENGTH = (2, 8), 0.5


class VocabularyError(ValueError):
    """A bundle document whose spec or parts are malformed."""


def modifier_ident(name: str) -> str:
    """The Blender property name of modifier ``name`` (``-`` is not allowed in one)."""
    return name.replace("-", "_")


@dataclass(frozen=True)
class Modifier:
    """A local shape change: one of the teacher's MakeHuman / MPFB2 modelling target pairs as a signed
    value in :data:`MODIFIER_RANGE` (e.g. ``l-ear-lobe-decr-incr`` in region ``ears``); ``partner``: the
    other side's modifier (left/right targets), else empty."""

    name: str
    region: str
    partner: str = ""


@dataclass(frozen=True)
class Vocabulary:
    """Names, sizes, ranges and defaults of one bundle's latents and parts."""

    beta_size: int
    beta_limit: float
    expression_names: tuple[str, ...]
    bone_names: tuple[str, ...]
    part_names: tuple[str, ...] = ()
    phenotype_names: tuple[str, ...] = PHENOTYPE_NAMES
    phenotype_defaults: dict[str, float] = field(default_factory=dict)
    phenotype_range: tuple[float, float] = (0.0, 1.0)
    expression_range: tuple[float, float] = (0.0, 1.0)
    region_names: tuple[str, ...] = REGION_NAMES
    modifiers: tuple[Modifier, ...] = ()

    @property
    def modifier_names(self) -> tuple[str, ...]:
        """The modifiers' names, in the order of a (B,M) modifier array."""
        return tuple(m.name for m in self.modifiers)

    @property
    def modifier_regions(self) -> tuple[str, ...]:
        """The regions holding modifiers, each once, in first-seen order."""
        return tuple(dict.fromkeys(m.region for m in self.modifiers))

    @property
    def limb_parts(self) -> tuple[str, ...]:
        """The parts a limb difference can start at: arm, leg, hand, foot and finger parts."""
        return tuple(n for n in self.part_names if n.split(".")[0] in LIMB_STEMS or n.startswith("finger"))

    def phenotype_default(self, name: str) -> float:
        """The default value of phenotype ``name``."""
        return float(self.phenotype_defaults.get(name, 0.5))

    # -- random draws (the add-on and the batch renderer share these) ---------------------------
    def random_phenotypes(self, rng) -> dict[str, float]:
        """A plausible adult body: each phenotype uniform within :data:`RANDOM_PHENOTYPES`."""
        return {n: float(rng.uniform(*RANDOM_PHENOTYPES.get(n, (0.2, 0.8)))) for n in self.phenotype_names}

    def random_beta(self, rng) -> list[float]:
        """A raw shape code: normal with :data:`RANDOM_BETA_STD`, clipped to :data:`RANDOM_BETA_CLIP`."""
        lim = min(RANDOM_BETA_CLIP, self.beta_limit)
        return [float(min(max(x, -lim), lim)) for x in rng.normal(0.0, RANDOM_BETA_STD, self.beta_size)]

    def random_modifiers(self, rng, strength: float = RANDOM_MODIFIER_STRENGTH) -> dict[str, float]:
        """A few modifiers (:data:`RANDOM_MODIFIER_COUNT`) uniform in +-``strength``; absent = 0."""
        if not self.modifiers:
            return {}
        lo, hi = RANDOM_MODIFIER_COUNT
        chosen = rng.choice(len(self.modifiers), size=min(int(rng.integers(lo, hi + 1)), len(self.modifiers)),
                            replace=False)
        return {self.modifiers[i].name: float(rng.uniform(-strength, strength)) for i in sorted(chosen)}

    def random_expression(self, rng) -> dict[str, float]:
        """A few facial actions (:data:`RANDOM_EXPRESSION_COUNT`) at random strengths; absent = 0."""
        lo, hi = RANDOM_EXPRESSION_COUNT
        chosen = rng.choice(len(self.expression_names), size=int(rng.integers(lo, hi + 1)), replace=False)
        return {self.expression_names[i]: float(rng.uniform(*RANDOM_EXPRESSION_STRENGTH)) for i in sorted(chosen)}

    # -- (de)serialisation ------------------------------------------------------------------------
    @classmethod
    def from_document(cls, doc: dict) -> "Vocabulary":
        """The vocabulary of a bundle's JSON document; :class:`VocabularyError` when malformed."""
        try:
            spec = doc["spec"]
            parts = tuple(str(p["name"]) for p in doc.get("parts", []))
            voc = cls(beta_size=int(spec["beta_size"]), beta_limit=float(spec["beta_limit"]),
                      expression_names=tuple(map(str, spec["expression_names"])),
                      bone_names=tuple(map(str, spec["bone_names"])), part_names=parts,
                      phenotype_names=tuple(map(str, spec["phenotype_names"])),
                      phenotype_defaults={str(k): float(v) for k, v in spec["phenotype_defaults"].items()})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise VocabularyError(f"the bundle's latent spec or part list is malformed ({type(exc).__name__}: "
                                  f"{exc})") from exc
        if voc.beta_size < 1 or not voc.beta_limit > 0 or not voc.bone_names or not voc.expression_names:
            raise VocabularyError("the bundle's latent spec has empty names or non-positive sizes")
        for what, names in (("bone", voc.bone_names), ("facial action", voc.expression_names),
                            ("phenotype", voc.phenotype_names), ("part", voc.part_names)):
            if len(set(names)) != len(names):
                raise VocabularyError(f"the bundle's {what} names are not unique")
        return voc

    def to_document(self) -> dict:
        """The ``spec`` entry of a bundle's JSON document."""
        return {"beta_size": self.beta_size, "beta_limit": self.beta_limit,
                "expression_names": list(self.expression_names), "bone_names": list(self.bone_names),
                "phenotype_names": list(self.phenotype_names),
                "phenotype_defaults": dict(self.phenotype_defaults)}


def read_modifiers(path: str | Path = DEFAULT_MODIFIERS) -> tuple[Modifier, ...]:
    """The modifiers listed in a modifiers file's header (no tensors read); ``()`` when the file is
    absent; :class:`~.header.BundleHeaderError` / :class:`VocabularyError` when it is broken."""
    if not Path(path).exists():
        return ()
    doc = header.read_file_document(path, "modifiers", MODIFIERS_FORMAT, MODIFIERS_VERSION)
    try:
        mods = tuple(Modifier(str(m["name"]), str(m["region"]), str(m.get("partner") or "")) for m in doc["modifiers"])
    except (KeyError, TypeError) as exc:
        raise VocabularyError(f"{path}: the modifier list is malformed ({type(exc).__name__}: {exc})") from exc
    if len({m.name for m in mods}) != len(mods):
        raise VocabularyError(f"{path}: the modifier names are not unique")
    return mods


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> Vocabulary:
    return replace(Vocabulary.from_document(header.read_document(path)), modifiers=read_modifiers())


def load(path: str | Path | None = None) -> Vocabulary:
    """The vocabulary of the bundle at ``path`` (default: the shipped model), cached per file version.
    Raises :class:`~.header.BundleHeaderError` / :class:`VocabularyError` with a clear message."""
    path = Path(path) if path else header.DEFAULT_BUNDLE
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = -1.0
    return _load(str(path), mtime)
