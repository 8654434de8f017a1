"""Modifiers in the add-on: the local shape changes' property names and labels, the left/right
symmetry that moves a modifier's partner with it, the reset of a region, and reading a body's
modifiers for a request."""
import bpy

from ..imghum_blender.bundle.vocabulary import Modifier, Vocabulary
from ..imghum_blender.bundle.vocabulary import modifier_ident as ident
from . import runtime
from .base import BodyOperator

_SIDES = {"l": "Left", "r": "Right"}
_SINGULAR = {"feet": "foot"}


def label(m: Modifier) -> str:
    """A short slider label: words the region says are dropped, the two ends named unless they are
    decr/incr, the side last: ``l-ear-trans-down-up`` (ears) -> "Trans Down/Up L"."""
    words = m.name.split("-")
    side = _SIDES.get(words[0]) if m.partner else None
    words, ends = (words[1:] if side else words)[:-2], words[-2:]
    stems = {m.region, m.region.rstrip("s"), _SINGULAR.get(m.region, "")}
    text = " ".join(w for w in words if w not in stems and w != "measure") or " ".join(words)
    if ends != ["decr", "incr"]:
        text += " " + "/".join(ends)
    return (f"{text} {side[0]}" if side else text).title()


def description(m: Modifier) -> str:
    """The slider's tooltip: what its two ends do, and its partner."""
    stem, lo, hi = m.name.rsplit("-", 2)
    note = f"; moves with {m.partner} while Symmetry is on" if m.partner else ""
    return f"{m.region}: -1 = {stem}-{lo}, +1 = {stem}-{hi}{note}"


def values(p, voc: Vocabulary) -> dict[str, float] | None:
    """The body's non-zero modifiers (name -> value), or None when every one is zero."""
    group = p.modifiers
    found = {m.name: v for m in voc.modifiers if (v := getattr(group, ident(m.name)))}
    return found or None


def mirror(group, name: str) -> None:
    """With the body's symmetry on, give modifier ``name``'s partner the same value (stored directly:
    the partner's own update would mirror back)."""
    body = group.id_data.imghum
    m = next((m for m in runtime.vocabulary().modifiers if m.name == name), None)
    if m is not None and m.partner and body.modifier_symmetry:
        group[ident(m.partner)] = getattr(group, ident(name))


def matches(m: Modifier, text: str) -> bool:
    """Whether a search text (words, any order, any case) finds modifier ``m``."""
    hay = f"{m.name} {m.region} {label(m)}".lower()
    return all(w in hay for w in text.lower().split())


class IMGHUM_OT_reset_modifiers(BodyOperator):
    """Set the modifiers of one region (or all of them) back to 0"""

    bl_idname = "imghum.reset_modifiers"
    bl_label = "Reset Modifiers"

    region: bpy.props.StringProperty(name="Region", description="The region to reset (empty: every region)")

    def run(self, context, arm):
        voc = runtime.vocabulary()
        if self.region and self.region not in voc.modifier_regions:
            raise ValueError(f"unknown modifier region {self.region!r}; known: {', '.join(voc.modifier_regions)}")
        group = arm.imghum.modifiers
        with runtime.editing(arm):
            for m in voc.modifiers:
                if not self.region or m.region == self.region:
                    group.property_unset(ident(m.name))
        return self.finish_edit(context)


classes = (IMGHUM_OT_reset_modifiers,)
