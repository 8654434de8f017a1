"""The mesh command line: OBJ/PLY output with attributes, latents from flags and files, errors."""
import json

import numpy as np

from imghum_blender.__main__ import main
from imghum_blender.export import read_ply


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
