"""Bad inputs to the command lines (``python -m imghum_blender mesh|fit``, run with ``--field`` set to the
catalogue's backend): latents files, flags, resolutions, regions, scans, output paths, bundles and backend
names. Each must exit 2 with one ``error:`` line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from imghum_blender.bundle.vocabulary import load as load_vocabulary

from .api import body_cloud
from .bundle import edited_bundle
from .catalogue import Case, Outcome, expect_exit

AREA = "cli"
#: the shipped model's shape-code length
K = load_vocabulary().beta_size
MESH = ["-m", "imghum_blender", "mesh"]
FIT = ["-m", "imghum_blender", "fit"]


def _latents_files() -> list[tuple[str, object]]:
    """(name, JSON content or raw text) of latents files the command must refuse."""
    return [
        ("beta as strings", {"beta": ["a"] * K}),
        ("beta of 3 values", {"beta": [0.1, 0.2, 0.3]}),
        ("phenotype a string", {"phenotypes": {"age": "old"}}),
        ("phenotypes as a list", {"phenotypes": [0.5, 0.4, 0.5, 0.5, 0.5, 0.5]}),
        ("phenotypes null", {"phenotypes": None}),
        ("unknown phenotype", {"phenotypes": {"shoe_size": 0.4}}),
        ("2-value rotation", {"pose": {"lowerarm01.L": [0, 1]}}),
        ("4-value rotation", {"pose": {"lowerarm01.L": [0, 1, 0, 1]}}),
        ("rotation a string", {"pose": {"lowerarm01.L": "bent"}}),
        ("pose as a list", {"pose": [[0, 0, 1]]}),
        ("unknown bone", {"pose": {"tail": [0, 0, 1]}}),
        ("NaN expression", {"expression": {"jawOpen": float("nan")}}),
        ("expression of 3 values", {"expression": [0.5, 0.5, 0.5]}),
        ("expression 2.0", {"expression": {"jawOpen": 2.0}}),
        ("unknown key", {"beta": [0.0] * K, "colour": 1}),
        ("a list at the top", [1, 2, 3]),
        ("not JSON", "{not json"),
        ("binary", bytes(range(256))),
        ("nested 200000 deep", "[" * 200_000),
    ]


def _write(tmp: Path, i: int, content) -> Path:
    path = tmp / f"latents{i}.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _flag_cases(tmp: Path, out: str) -> list[tuple[str, list[str]]]:
    """(name, extra argv) of flags the command must refuse."""
    edited = edited_bundle(tmp, "cli-edited", lambda d: d["info"].__setitem__("softmin_k", 0.02), "keep")
    return [
        ("latents file missing", ["--out", out, "--latents", str(tmp / "missing.json")]),
        ("latents file a directory", ["--out", out, "--latents", str(tmp)]),
        ("--phenotype age=2", ["--out", out, "--phenotype", "age=2"]),
        ("--phenotype without =", ["--out", out, "--phenotype", "age"]),
        ("--phenotype age=old", ["--out", out, "--phenotype", "age=old"]),
        ("--expression jawOpen=nan", ["--out", out, "--expression", "jawOpen=nan"]),
        ("--pose with 2 values", ["--out", out, "--pose", "lowerarm01.L=1,2"]),
        ("--pose unknown bone", ["--out", out, "--pose", "tail=0,0,1"]),
        ("--beta of 2 values", ["--out", out, "--beta", "0.1", "0.2"]),
        ("--beta nan", ["--out", out, "--beta", *["nan"] * K]),
        ("--resolution 2**40", ["--out", out, "--resolution", str(2 ** 40)]),
        ("--resolution 4", ["--out", out, "--resolution", "4"]),
        ("--resolution abc", ["--out", out, "--resolution", "abc"]),
        ("--region NaN", ["--out", out, "--resolution", "32", "--region", "0", "0", "0", "nan", "1", "1"]),
        ("--region away from the body", ["--out", out, "--resolution", "32", "--region", "5", "5", "5", "6", "6", "6"]),
        ("--region of 3 numbers", ["--out", out, "--region", "0", "0", "0"]),
        ("--out .stl", ["--out", str(tmp / "x.stl")]),
        ("--out a directory", ["--out", str(tmp)]),
        ("--out in a missing folder", ["--out", str(tmp / "no" / "such" / "x.obj")]),
        ("--out ''", ["--out", ""]),
        ("--out in a folder no one may write (/sys)", ["--out", "/sys/x.obj"]),
        ("--bundle missing", ["--out", out, "--bundle", str(tmp / "missing.safetensors")]),
        ("--bundle a directory", ["--out", out, "--bundle", str(tmp)]),
        ("--bundle with an edited document", ["--out", out, "--bundle", str(edited)]),
        ("--bundle not a bundle", ["--out", out, "--bundle", str(_write(tmp, 99, "{}"))]),
        ("unknown flag", ["--out", out, "--colour", "red"]),
        ("no --out", []),
    ]


def _fit_cases(tmp: Path, out: str) -> list[tuple[str, list[str]]]:
    """(name, fit argv after the command) the fit command must refuse: bad scans before the model loads,
    a missing bundle when it loads."""
    scan = tmp / "cloud.xyz"
    np.savetxt(scan, body_cloud())
    text = tmp / "text.ply"
    text.write_text("hello\n")
    flat = tmp / "flat.obj"  # 2-value vertices: not to be read as other points
    flat.write_text("".join(f"v {x:.4f} {z:.4f}\n" for x, _, z in body_cloud()))
    return [
        ("fit: scan file missing", [str(tmp / "missing.ply"), "--out", out]),
        ("fit: scan not a scan", [str(text), "--out", out]),
        ("fit: OBJ with 2-value vertices", [str(flat), "--out", out]),
        ("fit: --effort 9", [str(scan), "--out", out, "--effort", "9"]),
        ("fit: --resolution 4", [str(scan), "--out", out, "--resolution", "4"]),
        ("fit: --resolution 0", [str(scan), "--out", out, "--resolution", "0"]),
        ("fit: --out in a missing folder", [str(scan), "--out", str(tmp / "no" / "b.obj")]),
        ("fit: --out in a folder no one may write (/sys)", [str(scan), "--out", "/sys/b.obj"]),
        ("fit: --latents-out in a missing folder", [str(scan), "--out", out, "--latents-out",
                                                    str(tmp / "no" / "f.json")]),
        ("fit: --latents-out a folder", [str(scan), "--out", out, "--latents-out", str(tmp)]),
        ("fit: --latents-out in a folder no one may write (/sys)", [str(scan), "--out", out, "--latents-out",
                                                                    "/sys/f.json"]),
        ("fit: --bundle missing", [str(scan), "--out", out, "--bundle", str(tmp / "missing.safetensors")]),
    ]


def _good_run(argv: list[str], field: str) -> Outcome:
    """Exit 0, and the command says it meshed with the ``field`` backend."""
    outcome = expect_exit(argv, code=0)
    if outcome.status == "ok" and f"{field} field" not in outcome.detail:
        return Outcome("FAIL", f"not the {field} field: {outcome.detail}")
    return outcome


def cases(tmp: Path, field: str) -> list[Case]:
    """Every bad latents file and flag of ``mesh`` and ``fit`` on the ``field`` backend, one subprocess each; an
    unknown backend name; and one good run (exit 0)."""
    tmp = tmp / AREA
    tmp.mkdir(parents=True, exist_ok=True)
    out = str(tmp / "body.obj")
    mesh, fit = [*MESH, "--field", field], [*FIT, "--field", field]
    argvs = [(f"--latents: {name}", [*mesh, "--out", out, "--resolution", "32", "--latents",
                                     str(_write(tmp, i, content))])
             for i, (name, content) in enumerate(_latents_files())]
    argvs += [(name, [*mesh, *argv]) for name, argv in _flag_cases(tmp, out)]
    argvs += [(name, [*fit, *argv]) for name, argv in _fit_cases(tmp, out)]
    argvs += [("mesh --field bogus", [*MESH, "--out", out, "--field", "bogus"]),
              ("fit --field bogus", [*FIT, str(tmp / "cloud.xyz"), "--out", out, "--field", "bogus"]),
              ("no command", ["-m", "imghum_blender"])]
    result = [Case(AREA, name, lambda a=argv: expect_exit(a)) for name, argv in argvs]
    good = _write(tmp, 100, {"phenotypes": {"age": 0.3}, "pose": {"lowerarm01.L": [0, 0, 1.0]}})
    result.append(Case(AREA, "a good run (exit 0)",
                       lambda: _good_run([*mesh, "--out", out, "--resolution", "32", "--latents", str(good)], field)))
    return result
