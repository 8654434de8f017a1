"""Skin and eye appearance as numbers (no bpy, no torch): named skin tones as melanin and redness
(haemoglobin) levels, the absorption model that turns them into the skin's albedo, how each skin
region of the template (:mod:`.regions`) changes them, and named iris colours.

The albedo model: light that reaches the dermis and comes back crosses the pigments twice, so each
pigment takes its optical density times its level off the log of the pigment-free albedo; a small
neutral share is reflected near the surface before any pigment acts. Melanin absorbs blue most and
red least (it darkens and browns); haemoglobin absorbs green and blue (redness: pink at 1, olive at
0). The constants were fitted to seven reference skin colours from very light to very dark at one
redness (0.5); the named tones' melanin levels were then spread a little toward the dark end after
looking at Cycles renders under studio light (light skin read too pale there).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

#: Optical density (linear RGB) of melanin at level 1, and of haemoglobin at redness 1.
MELANIN_DENSITY = (3.1, 4.1, 5.8)
HAEMOGLOBIN_DENSITY = (0.12, 1.0, 0.75)
#: Albedo of skin without melanin or blood (linear RGB; yellowish: carotene and the dermis's own
#: colour) and the neutral share reflected before the pigments act.
PIGMENT_FREE = (0.98, 0.98, 0.7)
SURFACE_SHARE = 0.012
#: Inclusive ranges of the two levels.
LEVEL_RANGE = (0.0, 1.0)


@dataclass(frozen=True)
class Tone:
    """A skin tone: melanin and redness levels, each in :data:`LEVEL_RANGE`."""

    melanin: float
    redness: float


#: The named skin tones, light to dark.
SKIN_TONES = {"Very Light": Tone(0.03, 0.6), "Light": Tone(0.1, 0.55), "Medium": Tone(0.22, 0.5),
              "Tan": Tone(0.34, 0.45), "Brown": Tone(0.5, 0.45), "Dark": Tone(0.7, 0.45),
              "Very Dark": Tone(1.0, 0.4)}
DEFAULT_TONE = "Medium"


def _linear(hex_srgb: str) -> tuple[float, float, float]:
    """Linear RGB of an sRGB ``#rrggbb`` colour."""
    s = np.array([int(hex_srgb[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    lin = np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)
    return tuple(round(float(c), 4) for c in lin)


#: Named iris colours (linear RGB of the iris's mid tone; fibres and the limbal ring vary it).
EYE_COLORS = {name: _linear(code) for name, code in (
    ("Dark Brown", "#3c2314"), ("Brown", "#6b3f20"), ("Amber", "#a0692a"), ("Hazel", "#7d6432"),
    ("Green", "#5f7846"), ("Blue", "#557daa"), ("Grey", "#788287"))}
DEFAULT_EYE_COLOR = "Brown"


def skin_albedo(melanin, redness) -> np.ndarray:
    """Linear RGB albedo (...,3) of skin with these melanin and redness levels (scalars or arrays)."""
    m, h = np.asarray(melanin, dtype=np.float64)[..., None], np.asarray(redness, dtype=np.float64)[..., None]
    density = m * np.array(MELANIN_DENSITY) + h * np.array(HAEMOGLOBIN_DENSITY)
    return SURFACE_SHARE + (np.array(PIGMENT_FREE) - SURFACE_SHARE) * np.exp(-density)


@dataclass(frozen=True)
class RegionLook:
    """How a skin region differs from the skin around it: its melanin is ``melanin_scale`` times the
    body's, its redness ``redness_add`` more; its surface roughness, how deep its pores are (1: the
    skin's) and the weight of a clear glossy coat over it (wet or polished)."""

    melanin_scale: float
    redness_add: float
    roughness: float
    pores: float
    coat: float


#: Skin with no region, and each region of :data:`.regions.REGIONS` but the eyes (their own look).
SKIN_LOOK = RegionLook(1.0, 0.0, 0.55, 1.0, 0.0)
REGION_LOOKS = {"lips": RegionLook(1.35, 0.45, 0.3, 0.2, 0.1),
                "areolae": RegionLook(1.7, 0.25, 0.4, 0.6, 0.0),
                "nails": RegionLook(0.3, 0.35, 0.15, 0.0, 0.5),
                "volar": RegionLook(0.3, 0.12, 0.5, 0.8, 0.0),
                "mucosa": RegionLook(0.15, 0.9, 0.2, 0.0, 0.4)}
LOOK_FIELDS = tuple(f.name for f in fields(RegionLook))


#: The name of a tone or eye colour given by its values rather than by a name.
CUSTOM = "Custom"


@dataclass(frozen=True)
class Appearance:
    """A body's skin tone and eye colour: the tone's name (of :data:`SKIN_TONES`, or :data:`CUSTOM`)
    with its melanin and redness, and the eye colour's name (of :data:`EYE_COLORS`, or :data:`CUSTOM`)
    with its iris colour (linear RGB)."""

    skin_tone: str = DEFAULT_TONE
    melanin: float = SKIN_TONES[DEFAULT_TONE].melanin
    redness: float = SKIN_TONES[DEFAULT_TONE].redness
    eye_color: str = DEFAULT_EYE_COLOR
    iris: tuple[float, float, float] = EYE_COLORS[DEFAULT_EYE_COLOR]

    def document(self) -> dict:
        """As JSON (presets, manifests)."""
        return {"skin_tone": self.skin_tone, "melanin": self.melanin, "redness": self.redness,
                "eye_color": self.eye_color, "iris": list(self.iris)}


def identifier(name: str) -> str:
    """The add-on's enum identifier of a tone or eye colour name (``"Very Light"`` -> ``"VERY_LIGHT"``)."""
    return name.upper().replace(" ", "_")


def named(skin_tone: str, eye_color: str) -> Appearance:
    """The appearance of a named tone and a named eye colour."""
    tone = SKIN_TONES[skin_tone]
    return Appearance(skin_tone, tone.melanin, tone.redness, eye_color, EYE_COLORS[eye_color])
