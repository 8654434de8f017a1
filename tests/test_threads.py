"""The runtime thread policy (issue 11, defect 10): one torch thread in the CLI, the add-on and the
batch renderer unless IMGHUM_THREADS says otherwise; a bad override is a clear message."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = ("import threading, torch; from imghum_blender.runtime.threads import use_runtime_policy; "
         "n = use_runtime_policy(); "
         "seen = []; t = threading.Thread(target=lambda: seen.append(torch.get_num_threads())); t.start(); t.join(); "
         "print(n, torch.get_num_threads(), seen[0])")


def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env})


@pytest.mark.parametrize("value, expected", [("", "1 1 1"), ("2", "2 2 2")])
def test_policy_applies_to_the_process_and_its_threads(value, expected):
    proc = _python(PROBE, IMGHUM_THREADS=value)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == expected.split()


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_bad_override_is_a_clear_message(value):
    proc = _python(PROBE, IMGHUM_THREADS=value)
    assert proc.returncode != 0 and "IMGHUM_THREADS must be a positive integer" in proc.stderr


def test_mesh_cli_runs_under_the_policy(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "imghum_blender", "mesh", "--resolution", "32",
                           "--out", str(tmp_path / "b.obj")], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "IMGHUM_THREADS": "zero"})
    assert proc.returncode == 2 and "error: IMGHUM_THREADS must be a positive integer" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "b.obj").exists()


def test_batch_refuses_a_bad_override_before_rendering(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('seed = 1\n[scene]\nresolution = [64, 64]\n[[bodies]]\nname = "a"\n')
    proc = subprocess.run([sys.executable, "-m", "imghum_blender.batch", str(spec), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "IMGHUM_THREADS": "0"})
    assert proc.returncode == 2 and "IMGHUM_THREADS must be a positive integer" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()
