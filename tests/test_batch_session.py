"""The batch renderer leaves no trace: a throw-away Blender user folder chosen before bpy is imported
(``python -m``), the host's preferences untouched inside a host Blender (``blender -b -P``), and its
``imghum-*`` scratch folders removed on success, failure and Ctrl-C. Tiny renders (64 px, Workbench)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = """seed = 1
mesh_resolution = 48
[scene]
engine = "WORKBENCH"
resolution = [64, 64]
[output]
passes = []
[[bodies]]
name = "a"
"""
# A stand-in for ``blender -b -P scripts/batch_in_blender.py -- ARGS``: bpy is imported first, with the
# "user's" configuration under HOME, then the script runs as Blender would run it.
HOST = """
import json, runpy, sys
import bpy
prefs = bpy.context.preferences
state = lambda: ([r.module for r in prefs.extensions.repos], sorted(a.module for a in prefs.addons))
before = state()
script = sys.argv[1]
sys.argv = ["blender", "-b", "-P", script, "--", *sys.argv[2:]]
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as exc:
    code = exc.code
print("RESULT " + json.dumps({"code": code, "before": before, "after": state(),
                              "bl_ext": [m for m in sys.modules if m.startswith("bl_ext.imghum")]}))
"""


def isolated(tmp_path: Path) -> tuple[dict, Path, Path]:
    """An environment with a fresh HOME and TMPDIR (and no Blender user folder chosen by the caller)."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "BLENDER_USER_RESOURCES"}
    return {**env, "HOME": str(home), "TMPDIR": str(tmp)}, home, tmp


def spec(tmp_path: Path, text: str = TINY) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def assert_no_trace(home: Path, tmp: Path) -> None:
    assert not (home / ".config" / "blender").exists(), sorted(map(str, (home / ".config").rglob("*")))
    assert not list(tmp.glob("imghum-*")), sorted(p.name for p in tmp.iterdir())


def test_cli_runs_in_a_throw_away_blender_folder(tmp_path):
    env, home, tmp = isolated(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "imghum_blender.batch", spec(tmp_path), "--out", tmp_path / "out"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "out" / "images" / "a_f0001.png").is_file()
    assert_no_trace(home, tmp)


def test_host_blender_keeps_its_preferences(tmp_path):
    env, home, tmp = isolated(tmp_path)
    proc = subprocess.run([sys.executable, "-c", HOST, ROOT / "scripts" / "batch_in_blender.py", spec(tmp_path),
                           "--out", tmp_path / "out"], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=600)
    result = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    assert result["code"] == 0, proc.stderr[-3000:]
    assert result["after"] == result["before"] and result["bl_ext"] == []  # no repository, add-on or module left
    assert (tmp_path / "out" / "images" / "a_f0001.png").is_file()
    assert not list(home.rglob("userpref.blend")) and not list(home.rglob("compat.dat"))
    assert not list(tmp.glob("imghum-*"))


def test_ctrl_c_stops_and_cleans_up(tmp_path):
    env, home, tmp = isolated(tmp_path)
    text = TINY.replace('name = "a"', 'name = "a"\ncount = 6')
    proc = subprocess.Popen([sys.executable, "-m", "imghum_blender.batch", spec(tmp_path, text), "--out",
                             tmp_path / "out"], stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    deadline = time.time() + 300
    while not list(tmp.glob("imghum-batch-*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)  # the renderer has started
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 130 and "error: interrupted" in err and "Traceback" not in err, err[-3000:]
    items = json.loads((tmp_path / "out" / "manifest.json").read_text())["items"]
    assert 1 <= len(items) < 6 and all(i["status"] == "ok" for i in items)  # the item under way finished
    assert not list((tmp_path / "out").rglob("*.partial*"))
    assert_no_trace(home, tmp)


def test_refused_run_never_starts_blender(tmp_path):
    env, home, tmp = isolated(tmp_path)
    (tmp_path / "file").write_text("x")
    argv = [str(spec(tmp_path)), "--out", str(tmp_path / "file")]
    code = ("import sys; from imghum_blender.batch.__main__ import main; "
            f"print('EXIT', main({argv!r}), 'bpy' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert "EXIT 2 False" in proc.stdout and "error: --out: " in proc.stderr, proc.stderr
    assert_no_trace(home, tmp)
