"""The mesh command line: OBJ/PLY output with attributes, latents from flags and files, errors."""
import json
from pathlib import Path

import numpy as np

from imghum_blender.__main__ import main
from imghum_blender.formats.mesh_files import read_ply
from imghum_blender.bundle.vocabulary import load as load_vocabulary


def test_obj_and_ply_with_attributes(tmp_path, capsys):
    latents = tmp_path / "lat.json"
    latents.write_text(json.dumps({"phenotypes": {"age": 0.3}, "pose": {"lowerarm01.L": [0, 0, 1.0]}}))
    obj, ply = tmp_path / "body.obj", tmp_path / "body.ply"
    assert main(["mesh", "--out", str(obj), "--resolution", "64", "--latents", str(latents),
                 "--expression", "jawOpen=0.6"]) == 0
    text = obj.read_text().splitlines()
    nv = sum(1 for x in text if x.startswith("v "))
    nf = sum(1 for x in text if x.startswith("f "))
    assert nv > 1000 and sum(1 for x in text if x.startswith("vt ")) == 3 * nf
    assert "wrote" in capsys.readouterr().out
    assert main(["mesh", "--out", str(ply), "--resolution", "64", "--latents", str(latents),
                 "--expression", "jawOpen=0.6", "--pose", "lowerarm01.L=0,0,1.0"]) == 0
    verts, faces = read_ply(ply)
    assert len(verts) == nv and len(faces) == nf and "part" in verts.dtype.names
    w = np.stack([verts[f"weight_{k}"] for k in range(4)], 1)
    assert np.allclose(w.sum(1), 1, atol=1e-4) and verts["part"].max() < 49


def test_template_topology_body(model, tmp_path, capsys):
    obj, ply = tmp_path / "body.obj", tmp_path / "body.ply"
    assert main(["mesh", "--topology", "template", "--out", str(obj), "--phenotype", "age=0.9"]) == 0
    assert "13710 quads (template topology" in capsys.readouterr().out
    text = obj.read_text().splitlines()
    faces = [x.split()[1:] for x in text if x.startswith("f ")]
    assert sum(1 for x in text if x.startswith("v ")) == 13718 and len(faces) == 13710
    assert all(len(f) == 4 for f in faces) and sum(1 for x in text if x.startswith("vt ")) == 4 * 13710
    assert main(["mesh", "--topology", "template", "--out", str(ply), "--phenotype", "age=0.2"]) == 0
    verts, quads = read_ply(ply)
    np.testing.assert_array_equal(quads, [[int(c.split("/")[0]) - 1 for c in f] for f in faces])  # same topology
    weights = np.stack([verts[f"weight_{k}"] for k in range(4)], 1)
    assert len(verts) == 13718 and np.allclose(weights.sum(1), 1, atol=1e-4)
    assert main(["mesh", "--topology", "template", "--region", "head", "--out", str(obj)]) == 2
    assert "--topology adaptive" in capsys.readouterr().err


def test_bad_inputs_give_clear_errors(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = tmp_path / "x.obj"
    cases = [(["--latents", str(bad)], "not valid JSON"),
             (["--latents", str(tmp_path / "missing.json")], "cannot read latents file"),
             (["--phenotype", "age=2"], "[0, 1]"),
             (["--phenotype", "age"], "name=value"),
             (["--pose", "nosuchbone=0,0,1"], "unknown bones"),
             (["--pose", "lowerarm01.L=1,2"], "rotation vector"),
             (["--expression", "jawOpen=nan"], "NaN")]
    for extra, message in cases:
        assert main(["mesh", "--out", str(out), "--resolution", "32", *extra]) == 2
        assert message in capsys.readouterr().err
    bad.write_text(json.dumps({"beta": [0.1], "colour": 1}))
    assert main(["mesh", "--out", str(out), "--latents", str(bad)]) == 2
    assert "unknown keys" in capsys.readouterr().err
    assert main(["mesh", "--out", str(tmp_path / "x.stl")]) == 2
    assert "unsupported output format" in capsys.readouterr().err
    assert not out.exists()


def test_malformed_latent_files_and_flags_exit_2(tmp_path, capsys):
    import pytest

    out = tmp_path / "x.obj"
    cases = [({"beta": ["a"] * load_vocabulary().beta_size}, "beta must be numbers"),
             ({"phenotypes": {"age": "old"}}, "phenotype age must be numbers"),
             ({"phenotypes": [0.5, 0.4]}, "phenotypes must be an object"),
             ({"pose": {"lowerarm01.L": [0, 1]}}, "rotation vector"),
             ({"pose": {"lowerarm01.L": [0, 1, 2, 3]}}, "rotation vector"),
             ({"pose": [[0, 0, 1]]}, "pose must be an object"),
             ({"expression": {"jawOpen": float("nan")}}, "NaN"),
             ({"expression": [0.5] * 3}, "52 values"),
             ([1, 2, 3], "JSON object")]
    for data, message in cases:
        path = tmp_path / "lat.json"
        path.write_text(json.dumps(data))
        assert main(["mesh", "--out", str(out), "--resolution", "32", "--latents", str(path)]) == 2, data
        assert message in capsys.readouterr().err, data
    path.write_text(json.dumps({"expression": [0.0] * 52}))
    assert main(["mesh", "--out", str(out), "--latents", str(path), "--expression", "jawOpen=1"]) == 2
    assert "as a list" in capsys.readouterr().err
    for extra, message in [(["--resolution", str(2 ** 40)], "resolution must be an integer in"),
                           (["--region", "0", "0", "0", "nan", "1", "1"], "region"),
                           (["--region", "tail"], "region must be one of 'head', 'hand.L', 'hand.R'"),
                           (["--region", "1", "2", "3"], "a name or six numbers"),
                           (["--region", *"abcdef"], "are not six numbers"),
                           (["--bundle", str(tmp_path)], "is a directory"),
                           (["--beta", "nan"], "beta")]:
        assert main(["mesh", "--out", str(out), *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra
    assert main(["mesh", "--out", str(tmp_path)]) == 2
    assert main(["mesh", "--out", str(tmp_path / "no" / "such" / "x.obj")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["mesh", "--out", str(out), "--resolution", "high"])
    assert exc.value.code == 2 and capsys.readouterr().err.splitlines()[-1].startswith("error: ")
    assert not out.exists()


def test_unusable_output_paths_and_unreadable_latents_are_refused_before_any_work(tmp_path, capsys):
    """Issue 31.2/31.3: every output path is checked first (one rule: a missing folder is refused);
    a latents file nested too deeply is a message, not RecursionError."""
    out = tmp_path / "x.obj"
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000)
    cases = [(["--out", str(out), "--latents", str(deep)], "is not valid JSON: its arrays or objects are nested"),
             (["--out", ""], "--out: no file name given"),
             (["--out", str(tmp_path)], "is a folder; give a file name"),
             (["--out", str(tmp_path / "no" / "x.obj")], "the folder " + str(tmp_path / "no") + " does not exist"),
             (["--out", str(deep / "x.obj")], f"{deep} is not a folder")]
    if Path("/sys").is_dir():  # a folder no one may write in, also as root
        cases.append((["--out", "/sys/x.obj"], "--out: cannot write /sys/x.obj (Permission denied)"))
    for extra, message in cases:
        assert main(["mesh", "--resolution", "32", *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (extra, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.json"], "nothing written, no folder made"
