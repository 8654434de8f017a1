"""Bad inputs to the mesh command line (``python -m imghum_blender mesh``): latents files, flags,
resolutions, regions, output paths and bundles. Each must exit 2 with one ``error:`` line."""
from __future__ import annotations

import json
from pathlib import Path

from imghum_blender.bundle.vocabulary import load as load_vocabulary

from .bundle import edited_bundle
from .catalogue import Case, expect_exit

AREA = "cli"
#: the shipped model's shape-code length
K = load_vocabulary().beta_size
MESH = ["-m", "imghum_blender", "mesh"]


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
        ("--bundle missing", ["--out", out, "--bundle", str(tmp / "missing.safetensors")]),
        ("--bundle a directory", ["--out", out, "--bundle", str(tmp)]),
        ("--bundle with an edited document", ["--out", out, "--bundle", str(edited)]),
        ("--bundle not a bundle", ["--out", out, "--bundle", str(_write(tmp, 99, "{}"))]),
        ("unknown flag", ["--out", out, "--colour", "red"]),
        ("no --out", []),
    ]


def cases(tmp: Path) -> list[Case]:
    """Every bad latents file and flag, one subprocess each; and one good run (exit 0)."""
    tmp = tmp / AREA
    tmp.mkdir(parents=True, exist_ok=True)
    out = str(tmp / "body.obj")
    argvs = [(f"--latents: {name}", ["--out", out, "--resolution", "32", "--latents", str(_write(tmp, i, content))])
             for i, (name, content) in enumerate(_latents_files())]
    argvs += _flag_cases(tmp, out)
    result = [Case(AREA, name, lambda a=argv: expect_exit([*MESH, *a])) for name, argv in argvs]
    result.append(Case(AREA, "no command", lambda: expect_exit(["-m", "imghum_blender"])))
    good = _write(tmp, 100, {"phenotypes": {"age": 0.3}, "pose": {"lowerarm01.L": [0, 0, 1.0]}})
    result.append(Case(AREA, "a good run (exit 0)",
                       lambda: expect_exit([*MESH, "--out", out, "--resolution", "32", "--latents", str(good)],
                                           code=0)))
    return result
