"""The skin and eyes of a body's material (main thread): a procedural node tree for Cycles and EEVEE
driven by the mesh's own attributes (the semantic point and the skin-region weights written by
:mod:`.scene_data`), and the body's tone and eye colour written into it.

Skin: the albedo of :func:`~imghum_blender.surface.appearance.skin_albedo` computed per shading
point from the material's *Melanin* and *Redness* values, changed by each region's look (lips,
areolae, nails, palms and soles, mouth) and mottled at a few centimetres; random-walk subsurface
scattering with skin's mean free paths (millimetres); pores (Voronoi cells, 0.7 mm) and fine relief
as a bump. Eyes: on the eyeball components, sclera, an iris of the *Iris Colour* with radial fibres
and a darker limbal ring, and a pupil, placed by the angle from the eyeball's forward axis at the
semantic point (so they follow the eye bones and every shape), under a clear glossy coat (cornea).
Nothing here is an image: the tree renders in a .blend opened without the add-on.
"""
from __future__ import annotations

import math

import bpy

from ..imghum_blender.surface.appearance import (
    CUSTOM, EYE_COLORS, HAEMOGLOBIN_DENSITY, LOOK_FIELDS, MELANIN_DENSITY, PIGMENT_FREE, REGION_LOOKS, SKIN_LOOK,
    SKIN_TONES, SURFACE_SHARE, Appearance, identifier, skin_albedo)
from ..imghum_blender.surface.regions import REGIONS, eye_frame

#: The mesh attribute of each skin region's weights (FLOAT, per vertex).
REGION_ATTRS = {r: f"imghum_region_{r}" for r in REGIONS}
#: Names of the nodes that hold the body's values.
MELANIN, REDNESS, IRIS = "Melanin", "Redness", "Iris Colour"
SKIN_BSDF = "Skin BSDF"
#: Subsurface scattering: mean free path per channel (relative) times the scale (m): skin scatters
#: red light about 3.7 mm, green 1.4 mm, blue 0.7 mm.
SSS_RADIUS, SSS_SCALE = (1.0, 0.37, 0.19), 0.0037
#: Mottling: noise scale (per m of the template) and how much it varies melanin and redness.
MOTTLE_SCALE, MOTTLE_MELANIN, MOTTLE_REDNESS = 25.0, 0.15, 0.25
#: Relief: pores (Voronoi cells per m; their share of the relief), fine noise (scale per m), the
#: relief's depth (m); roughness varies this much with the fine noise; sheen (fine hair's glow).
PORE_SCALE, PORE_SHARE, FINE_SCALE, RELIEF_DEPTH = 1400.0, 0.6, 350.0, 0.0001
ROUGHNESS_NOISE, SHEEN = 0.1, 0.08
#: Eyes: iris and pupil radii (m; the iris's edge is a ring LIMBUS wide), colours (linear) of the
#: sclera (at the front and toward the corners) and the pupil, the surface's roughness (under a clear
#: coat: the cornea) and how much of the skin's subsurface scattering the eyeball keeps.
IRIS_RADIUS, PUPIL_RADIUS, LIMBUS = 0.006, 0.0018, 0.0008
SCLERA, SCLERA_EDGE, PUPIL = (0.62, 0.57, 0.52), (0.62, 0.42, 0.38), (0.008, 0.008, 0.008)
EYE_ROUGHNESS, EYE_SUBSURFACE = 0.05, 0.2


class _Nodes:
    """Adds nodes to a tree and wires values or sockets into their inputs (columns left to right)."""

    def __init__(self, nt: bpy.types.NodeTree, x: float):
        self.nt, self.x, self.y = nt, x, 0.0

    def new(self, kind: str, inputs=(), **props) -> bpy.types.Node:
        node = self.nt.nodes.new(kind)
        node.location = (self.x, self.y)
        self.y -= 180.0
        for key, value in props.items():
            setattr(node, key, value)
        for index, value in inputs:
            self.feed(node.inputs[index], value)
        return node

    def feed(self, socket, value) -> None:
        if isinstance(value, bpy.types.NodeSocket):
            self.nt.links.new(value, socket)
        else:
            socket.default_value = value

    def column(self, x: float) -> None:
        self.x, self.y = x, 0.0

    def math(self, op: str, a, b=0.0, c=0.0):
        return self.new("ShaderNodeMath", ((0, a), (1, b), (2, c)), operation=op).outputs[0]

    def vmath(self, op: str, a, b=(0.0, 0.0, 0.0), c=(0.0, 0.0, 0.0), scale=1.0):
        node = self.new("ShaderNodeVectorMath", ((0, a), (1, b), (2, c)), operation=op)
        if op == "SCALE":
            self.feed(node.inputs["Scale"], scale)
        return node.outputs["Value" if op in ("DOT_PRODUCT", "LENGTH") else "Vector"]

    def mix(self, fac, a, b, data_type: str = "RGBA"):
        node = self.new("ShaderNodeMix", data_type=data_type)
        first = {"FLOAT": 2, "VECTOR": 4, "RGBA": 6}[data_type]
        for index, value in ((0, fac), (first, a), (first + 1, b)):
            self.feed(node.inputs[index], value)
        return node.outputs[{"FLOAT": 0, "VECTOR": 1, "RGBA": 2}[data_type]]

    def step(self, value, lo: float, hi: float):
        """0 below ``lo``, 1 above ``hi``, smooth between."""
        return self.new("ShaderNodeMapRange", ((0, value), (1, lo), (2, hi), (3, 0.0), (4, 1.0)),
                        interpolation_type="SMOOTHSTEP").outputs[0]

    def noise(self, vector, scale: float, detail: float) -> bpy.types.Node:
        return self.new("ShaderNodeTexNoise", (("Vector", vector), ("Scale", scale), ("Detail", detail)))

    def attribute(self, name: str) -> bpy.types.Node:
        return self.new("ShaderNodeAttribute", attribute_name=name)


def add_skin(nt: bpy.types.NodeTree, semantic_attr: str, x: float = -1800.0) -> bpy.types.NodeSocket:
    """Build the skin and eyes into ``nt`` (nodes from ``x`` rightward); returns the BSDF output.
    ``semantic_attr``: the mesh attribute holding each vertex's template point."""
    n = _Nodes(nt, x)
    semantic = n.attribute(semantic_attr).outputs["Vector"]
    region = {r: n.attribute(a).outputs["Fac"] for r, a in REGION_ATTRS.items()}
    melanin = n.new("ShaderNodeValue", name=MELANIN, label=MELANIN).outputs[0]
    redness = n.new("ShaderNodeValue", name=REDNESS, label=REDNESS).outputs[0]
    iris_colour = n.new("ShaderNodeRGB", name=IRIS, label=IRIS).outputs[0]

    n.column(x + 250)  # each region's look, blended by its weight (the eyes get their own below)
    melanin_scale, redness_add, roughness, pores, coat = (getattr(SKIN_LOOK, f) for f in LOOK_FIELDS)
    for r, look in REGION_LOOKS.items():
        w = region[r]
        melanin_scale = n.math("MULTIPLY_ADD", w, look.melanin_scale - SKIN_LOOK.melanin_scale, melanin_scale)
        redness_add = n.math("MULTIPLY_ADD", w, look.redness_add - SKIN_LOOK.redness_add, redness_add)
        roughness = n.math("MULTIPLY_ADD", w, look.roughness - SKIN_LOOK.roughness, roughness)
        pores = n.math("MULTIPLY_ADD", w, look.pores - SKIN_LOOK.pores, pores)
        coat = n.math("MULTIPLY_ADD", w, look.coat - SKIN_LOOK.coat, coat)

    n.column(x + 500)  # pigment levels with mottling, then the albedo
    mottle = n.new("ShaderNodeSeparateXYZ", ((0, n.noise(semantic, MOTTLE_SCALE, 3.0).outputs["Color"]),))
    m_level = n.math("MULTIPLY", n.math("MULTIPLY", melanin, melanin_scale),
                     n.math("MULTIPLY_ADD", mottle.outputs[0], 2 * MOTTLE_MELANIN, 1.0 - MOTTLE_MELANIN))
    h_level = n.math("MULTIPLY_ADD", redness,
                     n.math("MULTIPLY_ADD", mottle.outputs[1], 2 * MOTTLE_REDNESS, 1.0 - MOTTLE_REDNESS), redness_add)
    n.column(x + 750)
    density = n.vmath("MULTIPLY_ADD", h_level, HAEMOGLOBIN_DENSITY, n.vmath("MULTIPLY", m_level, MELANIN_DENSITY))
    channels = n.new("ShaderNodeSeparateXYZ", ((0, density),))
    remitted = n.new("ShaderNodeCombineXYZ", [(k, n.math("EXPONENT", n.math("MULTIPLY", channels.outputs[k], -1.0)))
                                              for k in range(3)]).outputs[0]
    albedo = n.vmath("MULTIPLY_ADD", remitted, tuple(c - SURFACE_SHARE for c in PIGMENT_FREE), (SURFACE_SHARE,) * 3)

    n.column(x + 1000)  # relief: pores (pits at the cells' centres) and fine noise, none on the eyes
    cells = n.new("ShaderNodeTexVoronoi", (("Vector", semantic), ("Scale", PORE_SCALE))).outputs["Distance"]
    fine = n.noise(semantic, FINE_SCALE, 6.0).outputs["Fac"]
    height = n.math("MULTIPLY_ADD", n.step(cells, 0.0, 0.3), PORE_SHARE, n.math("MULTIPLY", fine, 1.0 - PORE_SHARE))
    relief = n.math("MULTIPLY", pores, n.math("SUBTRACT", 1.0, region["eyes"]))
    bump = n.new("ShaderNodeBump", (("Strength", relief), ("Distance", RELIEF_DEPTH), ("Height", height)))
    roughness = n.math("MULTIPLY_ADD", fine, ROUGHNESS_NOISE, n.math("SUBTRACT", roughness, ROUGHNESS_NOISE / 2))

    eye = _eye(n, x + 1250, semantic, iris_colour)
    n.column(x + 1500)
    colour = n.mix(region["eyes"], albedo, eye)
    roughness = n.mix(region["eyes"], roughness, EYE_ROUGHNESS, "FLOAT")
    skin = n.math("SUBTRACT", 1.0, region["eyes"])
    bsdf = n.new("ShaderNodeBsdfPrincipled", name=SKIN_BSDF, label=SKIN_BSDF, subsurface_method="RANDOM_WALK_SKIN")
    for name, value in (("Base Color", colour), ("Roughness", roughness), ("Normal", bump.outputs["Normal"]),
                        ("IOR", 1.4), ("Subsurface Weight", n.math("MULTIPLY_ADD", skin, 1.0 - EYE_SUBSURFACE,
                                                                  EYE_SUBSURFACE)),
                        ("Subsurface Radius", SSS_RADIUS), ("Subsurface Scale", SSS_SCALE),
                        ("Subsurface Anisotropy", 0.8), ("Coat Weight", n.math("MAXIMUM", coat, region["eyes"])),
                        ("Coat Roughness", 0.03), ("Sheen Weight", n.math("MULTIPLY", skin, SHEEN)),
                        ("Sheen Roughness", 0.4)):
        n.feed(bsdf.inputs[name], value)
    return bsdf.outputs["BSDF"]


def _eye(n: _Nodes, x: float, semantic, iris_colour):
    """The eyeball's colour at the semantic point: sclera, iris with fibres and limbal ring, pupil."""
    frame = eye_frame()
    n.column(x)
    parts = n.new("ShaderNodeSeparateXYZ", ((0, semantic),))
    mirrored = n.new("ShaderNodeCombineXYZ", ((0, n.math("ABSOLUTE", parts.outputs[0])), (1, parts.outputs[1]),
                                              (2, parts.outputs[2]))).outputs[0]
    d = n.vmath("NORMALIZE", n.vmath("SUBTRACT", mirrored, frame.centre))
    t = n.vmath("DOT_PRODUCT", d, frame.axis)  # cosine of the angle from the forward axis

    def ring(radius: float) -> float:
        return math.sqrt(max(1.0 - (radius / frame.radius) ** 2, 0.0))

    blur = 0.15 * LIMBUS / frame.radius
    iris = n.step(t, ring(IRIS_RADIUS) - blur, ring(IRIS_RADIUS) + blur)
    pupil = n.step(t, ring(PUPIL_RADIUS) - blur, ring(PUPIL_RADIUS) + blur)
    limbus = n.math("SUBTRACT", 1.0, n.step(t, ring(IRIS_RADIUS), ring(IRIS_RADIUS - LIMBUS)))
    across = n.vmath("MULTIPLY_ADD", t, tuple(-a for a in frame.axis), d)  # d off the axis
    fibre_at = n.vmath("MULTIPLY_ADD", n.vmath("LENGTH", across), tuple(8.0 * a for a in frame.axis),
                       n.vmath("SCALE", n.vmath("NORMALIZE", across), scale=14.0))
    fibres = n.noise(fibre_at, 1.0, 4.0).outputs["Fac"]
    iris_tone = n.math("MULTIPLY", n.math("MULTIPLY_ADD", fibres, 0.8, 0.15), n.math("MULTIPLY_ADD", limbus, -0.7, 1.0))
    n.column(x + 250)
    iris_rgb = n.vmath("SCALE", iris_colour, scale=iris_tone)
    sclera = n.mix(n.step(t, 0.0, 0.9), (*SCLERA_EDGE, 1.0), (*SCLERA, 1.0))  # redder toward the corners
    return n.mix(pupil, n.mix(iris, sclera, iris_rgb), (*PUPIL, 1.0))


def set_look(mat: bpy.types.Material, melanin: float, redness: float, iris: tuple[float, float, float]) -> None:
    """Write a tone and an iris colour into a body material (its viewport colour too); a material
    without the skin nodes is left alone."""
    nodes = mat.node_tree.nodes if mat.node_tree else {}
    if MELANIN not in nodes:
        return
    nodes[MELANIN].outputs[0].default_value = melanin
    nodes[REDNESS].outputs[0].default_value = redness
    nodes[IRIS].outputs[0].default_value = (*iris, 1.0)
    mat.diffuse_color = (*skin_albedo(melanin, redness).tolist(), 1.0)


def default_look(mat: bpy.types.Material) -> None:
    """The look of a new body (the body settings' defaults)."""
    look = Appearance()
    set_look(mat, look.melanin, look.redness, look.iris)


# -- the body settings' choices ----------------------------------------------------------------------
def name_of(ident: str, names) -> str | None:
    """The name behind an enum identifier (None: custom)."""
    return next((n for n in names if identifier(n) == ident), None)


TONE_ITEMS = [(identifier(n), n, f"Melanin {t.melanin:g}, redness {t.redness:g}") for n, t in SKIN_TONES.items()]
TONE_ITEMS.append((identifier(CUSTOM), CUSTOM, "The melanin and redness set below"))
EYE_ITEMS = [(identifier(n), n, f"{n} irises") for n in EYE_COLORS]
EYE_ITEMS.append((identifier(CUSTOM), CUSTOM, "The iris colour set below"))


def show_look(arm: bpy.types.Object) -> None:
    """Write the body's skin tone and iris colour (its settings) into its material."""
    p = arm.imghum
    mat = p.mesh_object.active_material if p.mesh_object else None
    if mat is not None:
        set_look(mat, p.melanin, p.redness, tuple(p.iris_color))
