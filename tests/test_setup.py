"""The set-up script without installing anything: torch from PyTorch's CPU index where it answers, from
pip's configured index otherwise (quickly), each step said; pyproject's license as an SPDX string."""
import http.server
import subprocess
import threading
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: pip stands in for: each call is printed, nothing is installed (``python -c`` says torch is missing).
FAKE_PYTHON = 'python() { echo "CALLED python $*"; [ "$1" != -c ]; }'


def _install_torch(index: str) -> tuple[str, float]:
    """What ``install_torch -q`` says and runs with TORCH_CPU_INDEX=``index``, and how long it took."""
    t0 = time.time()
    script = f". scripts/setup.sh; {FAKE_PYTHON}; TORCH_CPU_INDEX={index}; install_torch -q"
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, time.time() - t0


@pytest.fixture()
def cpu_index(tmp_path):
    """A local package index with a torch page."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "index.html").write_text("<a>torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl</a>")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_script_parses():
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "setup.sh")]).returncode == 0


def test_torch_comes_from_the_cpu_index_where_it_answers(cpu_index):
    out, _ = _install_torch(cpu_index)
    assert f"setup: torch 2.13.0, CPU build (0.75 GB) from {cpu_index}" in out
    assert f"CALLED python -m pip install -q torch==2.13.0 --index-url {cpu_index}" in out


@pytest.mark.parametrize("index", ["http://127.0.0.1:9", "http://10.255.255.1", "https://download.pytorch.org/whl/cpu"])
def test_torch_comes_from_the_configured_index_where_the_cpu_index_does_not_answer(index):
    """Here no outside index answers: the fall-back is said and taken within the probe's 5 s."""
    out, seconds = _install_torch(index)
    if "CPU build (0.75 GB) from" in out:
        pytest.skip(f"{index} answers on this machine")
    assert f"the PyTorch CPU index {index} does not answer: torch 2.13.0 from pip's configured index" in out
    assert "CALLED python -m pip install -q torch==2.13.0\n" in out and seconds < 10


def test_the_license_is_an_spdx_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
