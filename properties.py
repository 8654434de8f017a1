"""Add-on preferences and the body settings (latents, layers, mesh settings, skin tone and eye colour).

A body is an armature object whose children are its skinned mesh (and garment / bake meshes).
Its settings live in ONE property group on the armature's data, ``Armature.imghum``: saved in
the .blend and keyframable there (``imghum.age``, ``imghum.beta``, ``imghum.expression.jawOpen``
on the armature data). The group points back to the armature object (``armature_object``), so an
update finds its body without searching the scene. Every object of a body reaches that same group
as ``obj.imghum`` (a Python property, nothing stored on the object), so setting or keyframing
``mesh.imghum.age`` edits and keys the body; on an object that belongs to no body ``obj.imghum``
raises AttributeError. Only armatures carry the group: there is no per-mesh copy that could be
edited without effect.

Names, sizes, ranges and defaults come from the vocabulary of the *active* bundle (preferences:
``bundle_path``; empty: the shipped model). Choosing another bundle rebuilds the groups from its
vocabulary (stored values survive where the names match); a bundle whose header or names cannot
be used is refused and the preferences say why.
"""
import bpy

from .imghum_blender.bundle.vocabulary import (CUT, FIELD_BACKENDS, LAYER, MODIFIER_RANGE, PHENOTYPE_HELP, RESOLUTION,
                                               Range, Vocabulary)
from .imghum_blender.surface.appearance import (CUSTOM, DEFAULT_EYE_COLOR, DEFAULT_TONE, EYE_COLORS, LEVEL_RANGE,
                                                SKIN_TONES, identifier)
from .operators import modifiers, runtime, scene_data, skin


def _latents_changed(self, context) -> None:
    runtime.latents_changed(self.id_data)


def _color_mode_changed(self, context) -> None:
    arm = runtime.body_object(self.id_data)
    if arm is not None:
        scene_data.set_color_mode(arm, self.color_mode)


def _look_changed(self, context) -> None:
    arm = runtime.body_object(self.id_data)
    if arm is not None:
        skin.show_look(arm)


def _tone_chosen(self, context) -> None:
    name = skin.name_of(self.skin_tone, SKIN_TONES)
    if name is not None:  # written as stored values: their own updates would make the tone Custom
        self["melanin"], self["redness"] = SKIN_TONES[name].melanin, SKIN_TONES[name].redness
    _look_changed(self, context)


def _same(values, preset) -> bool:
    """Stored (float32) values equal to a preset's."""
    return all(abs(a - b) < 1e-6 for a, b in zip(values, preset))


def _levels_changed(self, context) -> None:
    tone = SKIN_TONES.get(skin.name_of(self.skin_tone, SKIN_TONES))
    if tone is not None and not _same((self.melanin, self.redness), (tone.melanin, tone.redness)):
        self.skin_tone = identifier(CUSTOM)  # (its update shows the look)
    else:
        _look_changed(self, context)


def _eye_chosen(self, context) -> None:
    name = skin.name_of(self.eye_color, EYE_COLORS)
    if name is not None:
        self["iris_color"] = EYE_COLORS[name]
    _look_changed(self, context)


def _iris_changed(self, context) -> None:
    name = skin.name_of(self.eye_color, EYE_COLORS)
    if name is not None and not _same(self.iris_color, EYE_COLORS[name]):
        self.eye_color = identifier(CUSTOM)
    else:
        _look_changed(self, context)


def bundle_path(prefs) -> str:
    """The bundle the preferences name (absolute; empty: the shipped model)."""
    return bpy.path.abspath(prefs.bundle_path) if prefs.bundle_path else ""


def _bundle_changed(self, context) -> None:
    use_bundle(bundle_path(self))


def _field_changed(self, context) -> None:
    runtime.select_field(self.field.lower())


class IMGHUM_AddonPreferences(bpy.types.AddonPreferences):
    """Where the model bundle lives (empty: the shipped default) and which field backend evaluates it."""

    bl_idname = __package__

    bundle_path: bpy.props.StringProperty(name="Model bundle", subtype="FILE_PATH", update=_bundle_changed,
                                          description="imGHUM model bundle (.safetensors); empty for the shipped model")
    field: bpy.props.EnumProperty(
        name="Field", default=FIELD_BACKENDS[0].upper(), update=_field_changed,
        items=[("EXACT", "Exact", "The teacher's own surface with exact distances (the default)"),
               ("NEURAL", "Neural", "The learned imGHUM network (smooth, compact, about a millimetre off)")])

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "bundle_path")
        layout.prop(self, "field", expand=True)
        state = runtime.STATE
        if state.bundle_error:
            col = layout.column(align=True)
            col.alert = True
            col.label(text="This bundle is refused:", icon="ERROR")
            col.label(text=state.bundle_error[:200])
        elif state.vocabulary is not None:
            voc = state.vocabulary
            layout.label(text=f"In use: {bpy.path.basename(state.bundle_path)} — {len(voc.bone_names)} bones, "
                              f"{len(voc.expression_names)} facial actions, β of {voc.beta_size}", icon="CHECKMARK")


def _float(rng: Range, name: str, update=_latents_changed, **kw) -> bpy.props.FloatProperty:
    return bpy.props.FloatProperty(name=name, default=rng.default, min=rng.lo, max=rng.hi, update=update, **kw)


def _int(rng: Range, name: str, description: str) -> bpy.props.IntProperty:
    return bpy.props.IntProperty(name=name, default=int(rng.default), min=int(rng.lo), max=int(rng.hi),
                                 description=description)


def _group(name: str, doc: str, annotations: dict) -> type:
    return type(name, (bpy.types.PropertyGroup,), {"__doc__": doc, "__annotations__": annotations})


#: Names every property group has: latents named so would hide (or be hidden by) them.
_RESERVED = frozenset({"name", "rna_type", "bl_rna", "id_data"})


def _refuse_clashes(what: str, names, taken) -> None:
    clash = sorted(set(names) & set(taken))
    if clash:
        raise ValueError(f"the bundle's {what} names {', '.join(clash)} clash with the add-on's own settings")


def _expression_group(voc: Vocabulary) -> type:
    lo, hi = voc.expression_range
    _refuse_clashes("facial action", voc.expression_names, _RESERVED)
    return _group("IMGHUM_PG_expression", "The facial actions of a body (keyframable).", {
        n: bpy.props.FloatProperty(name=n, min=lo, max=hi, default=0.0, update=_latents_changed,
                                   options={"ANIMATABLE"}) for n in voc.expression_names})


def _modifier_changed(name: str):
    def update(self, context) -> None:
        modifiers.mirror(self, name)
        runtime.latents_changed(self.id_data)
    return update


def _modifier_group(voc: Vocabulary) -> type:
    r = MODIFIER_RANGE
    return _group("IMGHUM_PG_modifiers", "The local shape changes of a body (keyframable; exact field).", {
        modifiers.ident(m.name): bpy.props.FloatProperty(
            name=modifiers.label(m), description=modifiers.description(m), min=r.lo, max=r.hi, default=r.default,
            update=_modifier_changed(m.name), options={"ANIMATABLE"}) for m in voc.modifiers})


def _layer_group(voc: Vocabulary) -> type:
    distance = {"subtype": "DISTANCE", "unit": "LENGTH"}
    kinds = [("GARMENT", "Garment", "An offset layer over a body region"),
             ("LIMB", "Limb Difference", "Remove a limb beyond a point")]
    return _group("IMGHUM_PG_layer", "A garment layer or a limb difference of a body (in the implicit field).", {
        "kind": bpy.props.EnumProperty(name="Kind", items=kinds, update=_latents_changed),
        "region": bpy.props.EnumProperty(name="Region", items=[(r, r.replace("_", " ").title(), "")
                                                               for r in voc.region_names], update=_latents_changed),
        "thickness": _float(LAYER["thickness"], "Thickness", options={"ANIMATABLE"}, **distance),
        "border": _float(LAYER["border"], "Border", description="Width of the smooth edge", **distance),
        "separate": bpy.props.BoolProperty(name="Separate Object", default=False, update=_latents_changed,
                                           description="A garment surface of its own, rigged to the same armature"),
        "part": bpy.props.EnumProperty(name="Part", items=[(n, n, "") for n in voc.limb_parts], update=_latents_changed,
                                       description="The limb ends within this part; every part beyond it is removed"),
        "fraction": _float(CUT["fraction"], "Position", subtype="FACTOR", options={"ANIMATABLE"},
                           description="Where along the part the limb ends (0: its base)"),
        "rounding": _float(CUT["rounding"], "Rounding", **distance),
    })


def _body_group(voc: Vocabulary, expression: type, layer: type, modifier: type) -> type:
    k, limit = voc.beta_size, voc.beta_limit
    still = {"options": set()}  # the look is one per body: a keyframe would not reach the material
    tone, level = SKIN_TONES[DEFAULT_TONE], {"min": LEVEL_RANGE[0], "max": LEVEL_RANGE[1], "subtype": "FACTOR", **still}
    fixed = {
        "is_body": bpy.props.BoolProperty(default=False, options={"HIDDEN"}),
        "body_id": bpy.props.StringProperty(options={"HIDDEN"}),
        "mesh_object": bpy.props.PointerProperty(type=bpy.types.Object, name="Body mesh",
                                                 description="The skinned mesh of this body"),
        "armature_object": bpy.props.PointerProperty(type=bpy.types.Object, name="Body armature",
                                                     options={"HIDDEN"},
                                                     description="The armature object of this data (set when "
                                                                 "the body is created: updates find their body "
                                                                 "through it)"),
        "use_beta": bpy.props.BoolProperty(name="Raw shape code", default=False, update=_latents_changed,
                                           description="Drive the shape by the raw beta code instead of the "
                                                       "phenotypes"),
        "beta": bpy.props.FloatVectorProperty(name="Beta", size=k, default=[0.0] * k, min=-limit, max=limit,
                                              soft_min=-min(3.0, limit), soft_max=min(3.0, limit),
                                              update=_latents_changed, description="Shape code (unit-variance PCA)"),
        "expression": bpy.props.PointerProperty(type=expression),
        "modifiers": bpy.props.PointerProperty(type=modifier),
        "modifier_symmetry": bpy.props.BoolProperty(name="Symmetry", default=True,
                                                    description="Move a left or right modifier's partner with it"),
        "modifier_search": bpy.props.StringProperty(name="Search", options={"TEXTEDIT_UPDATE"},
                                                    description="Find modifiers by name or region (words, any "
                                                                "order)"),
        "layers": bpy.props.CollectionProperty(type=layer),
        "active_layer": bpy.props.IntProperty(default=0, min=0),
        "preview_resolution": _int(RESOLUTION["preview"], "Preview",
                                   "Grid resolution while editing (longest body side)"),
        "final_resolution": _int(RESOLUTION["final"], "Final", "Grid resolution of Update Mesh and of bakes"),
        "auto_update": bpy.props.BoolProperty(name="Auto Update", default=True,
                                              description="Re-mesh in the background whenever a latent changes"),
        "color_mode": bpy.props.EnumProperty(name="Colour", items=scene_data.COLOR_MODES,
                                             default=scene_data.DEFAULT_COLOR_MODE, update=_color_mode_changed),
        "skin_tone": bpy.props.EnumProperty(name="Skin Tone", items=skin.TONE_ITEMS, default=identifier(DEFAULT_TONE),
                                            update=_tone_chosen, description="A named skin tone (sets melanin and "
                                                                             "redness)", **still),
        "melanin": bpy.props.FloatProperty(name="Melanin", default=tone.melanin, update=_levels_changed, **level,
                                           description="Melanin in the skin: from very light (0) to very dark (1)"),
        "redness": bpy.props.FloatProperty(name="Redness", default=tone.redness, update=_levels_changed, **level,
                                           description="Blood (haemoglobin) in the skin: olive (0) to pink (1)"),
        "eye_color": bpy.props.EnumProperty(name="Eye Colour", items=skin.EYE_ITEMS,
                                            default=identifier(DEFAULT_EYE_COLOR), update=_eye_chosen,
                                            description="A named iris colour", **still),
        "iris_color": bpy.props.FloatVectorProperty(name="Iris", subtype="COLOR", size=3, min=0.0, max=1.0,
                                                    default=EYE_COLORS[DEFAULT_EYE_COLOR], update=_iris_changed,
                                                    description="The iris's mid tone (linear)", **still),
        "topology": bpy.props.EnumProperty(name="Topology", items=scene_data.TOPOLOGIES, default="TEMPLATE",
                                           update=_latents_changed),
    }
    _refuse_clashes("phenotype", voc.phenotype_names, set(fixed) | _RESERVED)
    phenotypes = {n: _float(Range(voc.phenotype_default(n), 0.0, 1.0), n.capitalize(),
                            description=PHENOTYPE_HELP.get(n, n)) for n in voc.phenotype_names}
    return _group("IMGHUM_PG_body", "A body's latents, mesh settings, skin and eyes (on its armature data).",
                  {**fixed, **phenotypes})


#: The registered body groups (rebuilt when the active bundle's vocabulary changes).
_groups: list[type] = []


def _attach(voc: Vocabulary) -> None:
    """Register the body groups of ``voc`` and hang them on ``Armature.imghum``; ValueError (nothing
    registered) when the vocabulary's names cannot be Blender properties."""
    expression, layer, modifier = _expression_group(voc), _layer_group(voc), _modifier_group(voc)
    classes = [expression, layer, modifier, _body_group(voc, expression, layer, modifier)]
    for k, cls in enumerate(classes):
        try:
            bpy.utils.register_class(cls)
        except (ValueError, RuntimeError, TypeError) as exc:
            for done in reversed(classes[:k]):
                bpy.utils.unregister_class(done)
            raise ValueError(f"the bundle's names cannot be Blender properties ({exc})") from exc
    bpy.types.Armature.imghum = bpy.props.PointerProperty(type=classes[-1])
    _groups[:] = classes


def _detach() -> None:
    """Remove ``Armature.imghum`` and its groups (stored values stay in the .blend data)."""
    if _groups:
        del bpy.types.Armature.imghum
    for cls in reversed(_groups):
        bpy.utils.unregister_class(cls)
    _groups.clear()


def use_bundle(path: str) -> None:
    """Make ``path`` (empty: the shipped model) the active bundle and rebuild the body groups from
    its vocabulary; a refused bundle leaves everything as it was (``runtime.STATE.bundle_error``)."""
    previous = runtime.STATE.bundle_path
    if not runtime.select_bundle(path):
        if not _groups and runtime.STATE.vocabulary is not None:
            _attach(runtime.STATE.vocabulary)
        return
    _detach()
    try:
        _attach(runtime.vocabulary())
    except ValueError as exc:
        runtime.select_bundle(previous)
        _attach(runtime.vocabulary())
        runtime.refuse_bundle(exc)


def _body_settings(obj):
    """``obj.imghum``: the settings of the body ``obj`` belongs to (its armature or one of its meshes)."""
    arm = runtime.body_of(obj)
    if arm is None:
        raise AttributeError(f"{obj.name!r} is not part of an imGHUM body: a body's settings live on its armature "
                             "and are reached from the armature or its meshes (add one with bpy.ops.imghum.add_body)")
    return arm.data.imghum


def register() -> None:
    """Register the preferences, build the body groups from the configured bundle, add ``obj.imghum``."""
    bpy.utils.register_class(IMGHUM_AddonPreferences)
    runtime.select_bundle("")
    addon = bpy.context.preferences.addons.get(__package__)
    use_bundle(bundle_path(addon.preferences) if addon and addon.preferences else "")
    runtime.select_field(addon.preferences.field.lower() if addon and addon.preferences else FIELD_BACKENDS[0])
    bpy.types.Object.imghum = property(_body_settings, doc=_body_settings.__doc__)


def unregister() -> None:
    """Remove ``obj.imghum`` and the groups, unregister the preferences."""
    del bpy.types.Object.imghum
    _detach()
    bpy.utils.unregister_class(IMGHUM_AddonPreferences)
