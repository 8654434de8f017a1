"""Bad inputs to the Blender add-on, replayed in one fresh ``bpy`` process (the add-on enabled from
this checkout, a throw-away Blender user folder, its ``field`` preference set to the catalogue's
backend): backend names the preference refuses, every operator with a wrong object active,
NaN / out-of-range / ill-typed settings set from Python, broken bundles in the preferences, bad
ARKit CSV and pose JSON files, fits to empty or broken inputs, oversized resolutions, bakes of
impossible ranges. Each case must end in an ERROR report, a poll refusal, a clear exception from
Blender's property system, or a checked result — and a failed evaluation must keep the old mesh.

The parent side (:func:`cases`) runs this file as a script once and reads one JSON line of
outcomes; the bpy side is :func:`main` (arguments: the scratch folder and the field backend).
"""
from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Operators that act on the active body (each must refuse a mesh that is no body).
BODY_OPERATORS = ("update_mesh", "cancel_update", "random_shape", "reset_shape", "expression_preset",
                  "random_expression", "pose_preset", "hand_preset", "random_pose", "reset_pose", "bake_animation",
                  "clear_bake", "import_arkit_csv", "import_pose_json", "import_mocap", "add_layer", "remove_layer",
                  "save_preset", "apply_preset")


# -- bpy side ------------------------------------------------------------------------------------------
class Session:
    """The bpy process: the enabled add-on on the ``field`` backend, one body, and how a case's outcome is judged."""

    def __init__(self, tmp: Path, field: str):
        import bpy

        sys.path.insert(0, str(ROOT))
        from imghum_blender.batch.session import enable_addon

        self.module = enable_addon()
        self.bpy, self.tmp = bpy, tmp
        self.rt = sys.modules[f"{self.module}.operators.runtime"]
        self.prefs = bpy.context.preferences.addons[self.module].preferences
        self.field = field
        self.prefs.field = field.upper()
        for o in list(bpy.data.objects):
            bpy.data.objects.remove(o)
        assert bpy.ops.imghum.add_body(resolution=32) == {"FINISHED"}
        self.arm = bpy.context.active_object
        self.mesh = self.arm.imghum.mesh_object
        self.cube = bpy.data.objects.new("Cube", bpy.data.meshes.new("Cube"))
        bpy.context.scene.collection.objects.link(self.cube)

    def activate(self, ob) -> None:
        self.bpy.context.view_layer.objects.active = ob

    def mesh_state(self) -> tuple:
        co = [0.0] * (3 * len(self.mesh.data.vertices))
        self.mesh.data.vertices.foreach_get("co", co)
        return len(co), round(sum(abs(c) for c in co), 4)

    def op(self, operator: str, **kw) -> tuple[str, str]:
        """Run ``bpy.ops.imghum.<operator>``: an ERROR report or poll refusal is a message, FINISHED ok."""
        try:
            result = getattr(self.bpy.ops.imghum, operator)(**kw)
        except RuntimeError as exc:
            text = str(exc).strip()
            bug = "Traceback" in text or "failed unexpectedly" in text
            return ("FAIL" if bug else "message"), text.replace("\n", " ")
        except (TypeError, ValueError) as exc:  # Blender refused the argument itself
            return "message", f"{type(exc).__name__}: {exc}"
        return ("ok" if result == {"FINISHED"} else "FAIL"), f"returned {sorted(result)}"

    def refused(self, fn) -> tuple[str, str]:
        """``fn()`` must raise a clear TypeError / ValueError / AttributeError (Blender's property system)."""
        try:
            fn()
        except (TypeError, ValueError, AttributeError) as exc:
            return "message", f"{type(exc).__name__}: {exc}"
        return "FAIL", "accepted silently"

    def kept_mesh(self, fn) -> tuple[str, str]:
        """``fn()`` (a failing edit) must end in an error while the mesh stays as it was."""
        before = self.mesh_state()
        status, detail = fn()
        if status == "message" and self.mesh_state() != before:
            return "FAIL", f"the mesh changed after: {detail}"
        return status, detail

    def background_edit(self, setter, reset) -> tuple[str, str]:
        """Set a latent from Python; the background re-mesh must fail with a message (mesh kept)."""
        def run():
            setter()
            errors = self.rt.drain()
            status = self.rt.status(self.arm)
            return ("message", errors[0]) if errors else (
                ("message", status) if status.startswith("Error") else ("FAIL", f"no error: {status}"))
        try:
            return self.kept_mesh(run)
        finally:
            reset()
            self.rt.drain()

    def use_bundle(self, path: str) -> tuple[str, str]:
        """A bundle in the preferences that must be refused there (the active model keeps working)."""
        active = self.rt.STATE.bundle_path
        self.prefs.bundle_path = path
        error, still = self.rt.STATE.bundle_error, self.rt.STATE.bundle_path
        self.prefs.bundle_path = ""
        if not error or still != active:
            return "FAIL", f"not refused (active: {still})"
        return "message", error


def _bundle_copy(s: Session, name: str, edit=None, cut: int = 0) -> str:
    """A copy of the shipped bundle: its document changed by ``edit`` (re-signed) or its last ``cut``
    bytes dropped."""
    from imghum_blender.bundle.header import derive_bundle

    path = s.tmp / name
    if edit is not None:
        return str(derive_bundle(s.rt.STATE.bundle_path, path, edit))
    src = Path(s.rt.STATE.bundle_path).read_bytes()
    path.write_bytes(src[:len(src) - cut])
    return str(path)


def _file(s: Session, name: str, text: str | bytes) -> str:
    path = s.tmp / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def _on_body(s: Session, operator: str, **kw) -> tuple[str, str]:
    s.activate(s.arm)
    return s.op(operator, **kw)


def _nothing_added(s: Session, fn) -> tuple[str, str]:
    n = len(s.bpy.data.objects)
    status, detail = fn()
    if len(s.bpy.data.objects) != n:
        return "FAIL", f"objects left behind after: {detail}"
    return status, detail


def _latent_cases(s: Session) -> dict:
    p = s.arm.imghum

    def clamped(setter, read, want) -> tuple[str, str]:
        setter()
        errors = s.rt.drain()
        got = read()
        ok = not errors and math.isclose(got, want, abs_tol=1e-6)
        return ("ok" if ok else "FAIL"), f"clamped to {got:g} (Blender's property range), re-meshed: {errors or 'ok'}"

    def unset(*names):
        return lambda: [p.property_unset(n) for n in names] + [setattr(p, "use_beta", False)]

    return {
        "age = NaN from Python": lambda: s.background_edit(lambda: setattr(p, "age", math.nan), unset("age")),
        "beta[0] = NaN from Python": lambda: s.background_edit(
            lambda: (setattr(p, "use_beta", True), p.beta.__setitem__(0, math.nan)), unset("beta")),
        "jawOpen = NaN from Python": lambda: s.background_edit(
            lambda: setattr(p.expression, "jawOpen", math.nan), lambda: p.expression.property_unset("jawOpen")),
        "age = 5 from Python": lambda: clamped(lambda: setattr(p, "age", 5.0), lambda: p.age, 1.0),
        "jawOpen = -3 from Python": lambda: clamped(lambda: setattr(p.expression, "jawOpen", -3.0),
                                                    lambda: p.expression.jawOpen, 0.0),
        "age = 'old' from Python": lambda: s.refused(lambda: setattr(p, "age", "old")),
        "beta of 3 values": lambda: s.refused(lambda: setattr(p, "beta", [0.1, 0.2, 0.3])),
        "layer thickness = NaN": lambda: (_on_body(s, "add_layer", preset="SHIRT"), s.background_edit(
            lambda: setattr(p.layers[0], "thickness", math.nan), lambda: _on_body(s, "remove_layer")))[1],
        "final_resolution = 1e6 (memory)": lambda: clamped(lambda: setattr(p, "final_resolution", 10 ** 6),
                                                           lambda: p.final_resolution, 768),
        "final_resolution = 2**40": lambda: s.refused(lambda: setattr(p, "final_resolution", 2 ** 40)),
        "add_body(resolution=2**40)": lambda: _nothing_added(s, lambda: s.op("add_body", resolution=2 ** 40)),
        "add_body with an empty name": lambda: _nothing_added(s, lambda: s.op("add_body", name="  ")),
        "update_mesh with NaN latents": lambda: _sync_nan(s),
    }


def _sync_nan(s: Session) -> tuple[str, str]:
    p = s.arm.imghum
    with s.rt.suspended():
        p.age = math.nan
    try:
        return s.kept_mesh(lambda: _on_body(s, "update_mesh", preview=True))
    finally:
        p.property_unset("age")


def _bundle_cases(s: Session) -> dict:
    def damaged():
        s.prefs.bundle_path = _bundle_copy(s, "damaged.safetensors", cut=4096)
        try:
            return s.kept_mesh(lambda: _on_body(s, "update_mesh", preview=True))
        finally:
            s.prefs.bundle_path = ""

    clash = lambda doc: doc["spec"].update(phenotype_names=["layers", *doc["spec"]["phenotype_names"][1:]])  # noqa: E731
    return {
        "bundle path: not a bundle": lambda: s.use_bundle(_file(s, "text.safetensors", "hello")),
        "bundle path: a directory": lambda: s.use_bundle(str(s.tmp)),
        "bundle path: missing file": lambda: s.use_bundle(str(s.tmp / "nope.safetensors")),
        "bundle path: names clash with settings": lambda: s.use_bundle(_bundle_copy(s, "clash.safetensors", clash)),
        "bundle path: damaged tensors": damaged,
    }


def _file_cases(s: Session) -> dict:
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_walk_bvh import walk_bvh

    csv = lambda name, text: lambda: _on_body(s, "import_arkit_csv", filepath=_file(s, name, text))  # noqa: E731
    pose = lambda name, text: lambda: _on_body(s, "import_pose_json", filepath=_file(s, name, text))  # noqa: E731
    return {
        "ARKit CSV: missing file": lambda: _on_body(s, "import_arkit_csv", filepath=str(s.tmp / "none.csv")),
        "ARKit CSV: a word as a value": csv("word.csv", "Timecode,JawOpen\n0,abc\n"),
        "ARKit CSV: value 1.5": csv("high.csv", "JawOpen\n1.5\n"),
        "ARKit CSV: no blendshape columns": csv("cols.csv", "a,b\n1,2\n"),
        "ARKit CSV: binary garbage": csv("bin.csv", bytes(range(256)) * 4),
        "pose JSON: unknown bone": pose("bone.json", '{"fps": 30, "frames": [{"nosuchbone": [0, 0, 1]}]}'),
        "pose JSON: not JSON": pose("oops.json", "{oops"),
        "pose JSON: NaN rotation": pose("nan.json", '{"fps": 30, "frames": [{"head": [NaN, 0, 0]}]}'),
        "pose JSON: frames not a list": pose("frames.json", '{"fps": 30, "frames": 3}'),
        "pose JSON: nested 200000 deep": pose("deep.json", "[" * 200_000),
        "motion capture: BVH with zero-length legs": lambda: _on_body(s, "import_mocap", filepath=_file(
            s, "legs.bvh", walk_bvh(frames=2, collapsed=("LeftLeg", "LeftFoot")))),
    }


def _fit_and_bake_cases(s: Session) -> dict:
    bpy = s.bpy

    def fit_points_on(name, vertices):
        ob = bpy.data.objects.new(name, bpy.data.meshes.new(name))
        ob.data.from_pydata(vertices, [], [])
        bpy.context.scene.collection.objects.link(ob)
        s.activate(ob)
        return _nothing_added(s, lambda: s.op("fit_points", effort=0.1))

    image = bpy.data.images.new("mask", 64, 64, alpha=True)
    image.filepath_raw, image.file_format = str(s.tmp / "mask.png"), "PNG"
    image.save()
    kp = _file(s, "kp.json", '{"joints": [], "joints_2d": [], "intrinsics": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], '
                             '"world_to_camera": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}')
    return {
        "fit_points: an empty mesh": lambda: fit_points_on("Empty Scan", []),
        "fit_points: NaN vertices": lambda: fit_points_on("NaN Scan", [(math.nan, 0.0, 0.0)] * 200),
        "fit_image: missing image": lambda: _nothing_added(
            s, lambda: s.op("fit_image", filepath=str(s.tmp / "none.png"), keypoints=kp)),
        "fit_image: not an image": lambda: _nothing_added(
            s, lambda: s.op("fit_image", filepath=_file(s, "k.png", b"x"), keypoints=kp)),
        "fit_image: keypoints not JSON": lambda: _nothing_added(
            s, lambda: s.op("fit_image", filepath=str(s.tmp / "mask.png"), keypoints=_file(s, "k.json", "{"))),
        "fit_image: empty silhouette": lambda: _nothing_added(
            s, lambda: s.op("fit_image", filepath=str(s.tmp / "mask.png"), keypoints=kp)),
        "fit_image: keypoints nested 200000 deep": lambda: _nothing_added(s, lambda: s.op(
            "fit_image", filepath=str(s.tmp / "mask.png"), keypoints=_file(s, "deep_kp.json", "[" * 200_000))),
        "bake: end before start": lambda: _on_body(s, "bake_animation", frame_start=10, frame_end=5),
        "bake: 5000 frames": lambda: _on_body(s, "bake_animation", frame_start=1, frame_end=5000),
        "remove_layer: no such layer": lambda: _on_body(s, "remove_layer", index=7),
        "expression_preset: unknown preset": lambda: _on_body(s, "expression_preset", preset="GRIN"),
    }


def _export_and_preset_cases(s: Session) -> dict:
    """Exports to paths they cannot write (one rule for glTF and FBX: a missing folder is refused, not
    created); presets the library cannot hold or read."""
    library = Path(sys.modules[f"{s.module}.operators.presets"].library())

    def kept_folder(operator: str, path: Path):
        def run():
            status, detail = _on_body(s, operator, filepath=str(path))
            return ("FAIL", f"{path.parent} was created") if path.parent.exists() else (status, detail)
        return run

    def deep_preset():
        (library / "deep.json").write_text("[" * 200_000)
        try:
            return _on_body(s, "apply_preset", name="deep")
        finally:
            (library / "deep.json").unlink()

    def long_name():
        status, detail = _on_body(s, "save_preset", name="x" * 100)
        saved = [f.name for f in library.iterdir() if f.name.startswith("xxx")]
        return ("FAIL", f"saved as {saved[0]}") if saved else (status, detail)

    cases = {"apply_preset: file nested 200000 deep": deep_preset, "save_preset: 100-character name": long_name}
    for target, ext in (("gltf", "glb"), ("fbx_unreal", "fbx")):
        op = f"export_{target}"
        cases |= {f"{op}: folder no one may write (/sys)": lambda op=op, ext=ext: _on_body(s, op,
                                                                                       filepath=f"/sys/b.{ext}"),
                  f"{op}: a folder": lambda op=op: _on_body(s, op, filepath=str(s.tmp)),
                  f"{op}: no file name": lambda op=op: _on_body(s, op, filepath=""),
                  f"{op}: missing folder": kept_folder(op, s.tmp / f"no_{target}" / f"b.{ext}")}
    return cases


def _field_cases(s: Session) -> dict:
    """The ``field`` preference is an enum: Blender refuses other names (the preference keeps its value);
    the body is evaluated by the chosen backend."""
    def bad_name(name: str):
        def run():
            status, detail = s.refused(lambda: setattr(s.prefs, "field", name))
            if s.prefs.field != s.field.upper():
                return "FAIL", f"the preference became {s.prefs.field} after: {detail}"
            return status, detail
        return run

    def evaluated():
        got = s.rt.evaluator().model().field
        return ("ok", f"evaluated by the {got} field") if got == s.field else (
            "FAIL", f"preference {s.prefs.field}, but evaluated by the {got} field")

    return {
        "preference field = 'BOGUS'": bad_name("BOGUS"),
        "preference field = 'neural' (lower case)": bad_name("neural"),
        f"the body is evaluated by the {s.field} field": evaluated,
    }


def _object_cases(s: Session) -> dict:
    def through_mesh():
        s.mesh.imghum.age = 0.4
        errors = s.rt.drain()
        ok = math.isclose(s.arm.data.imghum.age, 0.4, abs_tol=1e-6) and not errors
        s.arm.imghum.property_unset("age")
        s.rt.drain()
        return ("ok" if ok else "FAIL"), "mesh.imghum.age set the body's age and re-meshed it"

    def poll(name):
        def run():
            s.activate(s.cube)
            status, detail = s.op(name)
            return (status if "Select an imGHUM body" in detail else "FAIL"), detail
        return run

    def fit_poll(ob):
        def run():
            s.activate(ob)
            status, detail = s.op("fit_points")
            return (status if "Select a mesh or point cloud" in detail else "FAIL"), detail
        return run

    camera = s.bpy.data.objects.new("Camera", s.bpy.data.cameras.new("Camera"))
    s.bpy.context.scene.collection.objects.link(camera)
    return {
        **{f"{name} with a plain mesh active": poll(name) for name in BODY_OPERATORS},
        "fit_points with the body active": fit_poll(s.arm),
        "fit_points with a camera active": fit_poll(camera),
        "settings of a plain mesh (cube.imghum)": lambda: s.refused(lambda: setattr(s.cube.imghum, "age", 0.5)),
        "key imghum.age on the mesh object path": lambda: s.refused(lambda: s.mesh.keyframe_insert("imghum.age")),
        "set age through the body's mesh": through_mesh,
    }


def main(tmp: Path, field: str) -> None:
    """Run every case in this bpy process (the ``field`` backend) and print ``CASES {name: [status, detail]}``."""
    s = Session(tmp, field)
    outcomes = {}
    for group in (_field_cases, _object_cases, _latent_cases, _bundle_cases, _file_cases, _fit_and_bake_cases,
                  _export_and_preset_cases):
        for name, run in group(s).items():
            captured, sys.stderr = sys.stderr, io.StringIO()
            try:
                status, detail = run()
            except Exception as exc:  # the catalogue's job is to report these
                status, detail = "FAIL", f"traceback: {type(exc).__name__}: {exc}"
            finally:
                printed, sys.stderr = sys.stderr.getvalue(), captured
            if "Traceback" in printed:
                status, detail = "FAIL", f"a traceback was printed: {printed.strip().splitlines()[-1]}"
            outcomes[name] = [status, detail]
    print("CASES " + json.dumps(outcomes))


# -- catalogue side ---------------------------------------------------------------------------------
def _session(tmp: Path, field: str) -> dict[str, list[str]]:
    """Run the bpy side once on the ``field`` backend: ``{case: [status, detail]}`` (a FAIL entry when the
    session broke)."""
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp / "addon_blender_user")}
    try:
        proc = subprocess.run([sys.executable, __file__, str(tmp), field], cwd=ROOT, capture_output=True, text=True,
                              timeout=1200, env=env)
    except subprocess.TimeoutExpired:
        return {"bpy session": ["FAIL", "hung (> 1200 s)"]}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("CASES ")]
    if not lines:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or [""]
        return {"bpy session": ["FAIL", f"the bpy session failed (exit {proc.returncode}): {tail[0]}"]}
    return json.loads(lines[-1][len("CASES "):])


def cases(tmp: Path, field: str) -> list:
    """The add-on cases on the ``field`` backend: the bpy session runs them all at once; each case reports its
    outcome."""
    from .catalogue import Case, Outcome

    return [Case("addon", name, lambda status=status, detail=detail: Outcome(status, detail))
            for name, (status, detail) in _session(tmp, field).items()]


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
