"""Training data generation and a few optimisation steps on real teacher data."""
import itertools

import numpy as np
import pytest
import torch

from imghum_blender.field.loader import DEFAULT_BUNDLE
from imghum_blender.field.model import Model
from imghum_blender.training import data, train


def test_data_chunk_and_few_steps_lower_the_loss(model, teacher, tmp_path):
    path = data.make_chunk((str(DEFAULT_BUNDLE), str(tmp_path), 0, 3, 99, "body"))
    with np.load(path) as d:
        assert d["points"].shape == (3, 16000, 3)
        sdf = d["sdf"]
        assert np.isfinite(sdf).all()
        on = data.SURFACE_MIX[0][0]
        assert np.all(sdf[:, :on] == 0) and (sdf[:, on:] < 0).mean() > 0.05
        assert np.allclose(np.linalg.norm(d["normals"], axis=-1), 1, atol=1e-3)
    ds = train.Dataset([path])
    fresh = Model(model.bundle)
    fresh.network = model.bundle.build_network(fresh=True).train()
    torch.manual_seed(0)
    opt = torch.optim.Adam(fresh.network.parameters(), lr=2e-3)
    batch = ds.batch(torch.arange(3), 1024, torch.Generator().manual_seed(0))
    history = []
    for _ in range(25):
        terms = train.losses(fresh, batch)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
        history.append(float(terms["total"].detach()))
    assert history[-1] < 0.7 * history[0], history


def test_training_bodies_and_ground_truth_come_from_the_exact_field(model, teacher, tmp_path):
    """The bodies are the teacher's for the same code, and their SDF and semantics match an independent
    ground truth (libigl distance, point-cloud-utils winding sign) on the same points."""
    from imghum_blender.field.loader import load_bundle
    from imghum_blender.field.model import ExplicitMismatch
    from imghum_blender.training.build_bundle import posed_teacher
    from imghum_blender.training.ground_truth import nearest_semantics, signed_distance

    anny = data.sample_teacher_bodies(model.bundle, 3, torch.Generator().manual_seed(4))  # the same draws
    lat, verts = data.sample_bodies(model, 3, torch.Generator().manual_seed(4))
    k = model.vocabulary.beta_size
    assert torch.allclose(lat.beta[:, :k], anny.code[:, :k], atol=1e-4) and not lat.beta[:, k:].any()
    coeffs = model.explicit.coefficients_from_code(lat.beta.double())  # the teacher's body of exactly this code
    truth, _ = posed_teacher(teacher, torch.cat([coeffs, lat.expression.double()], -1), anny.deltas)
    vert_mm = float((verts.double() - truth).norm(dim=-1).max()) * 1000
    # the bodies the teacher posed for the data before (its code's float32 rounding and the bundle's float32
    # basis move the bones by up to a tenth of a millimetre)
    assert float((verts.double() - torch.from_numpy(anny.vertices)).norm(dim=-1).max()) < 2e-4
    faces = model.template_faces.numpy()
    template = model.template_vertices.double().numpy()
    importance = torch.as_tensor(data.face_importance(model.bundle))
    hands = [torch.as_tensor(m) for m in data.region_masks(model.bundle, "hands")]
    gen = torch.Generator().manual_seed(4)
    n_on = data.SURFACE_MIX[0][0]
    sdf_mm, agree, sem_mm = [], [], []
    for v in verts:
        body = data.sample_body(v, faces, model.template_vertices, importance, hands, gen)
        v64, pts = v.double().numpy(), body["points"][n_on:].double().numpy()
        sdf, face, closest = signed_distance(v64, faces, pts)
        near, off = np.abs(sdf) < 0.05, np.abs(sdf) > 1e-5  # on the surface the sign is a coin toss
        got = body["sdf"][n_on:].double().numpy()
        sdf_mm.append(np.abs(np.abs(got) - np.abs(sdf))[near].max() * 1000)
        agree.append(((got < 0) == (sdf < 0))[off].mean())
        sem = body["semantics"][n_on:].double().numpy()
        sem_mm.append(np.median(np.linalg.norm(sem - nearest_semantics(v64, faces, template, face, closest), axis=1))
                      * 1000)
        assert np.all(body["sdf"][:n_on].numpy() == 0)
    assert vert_mm <= 0.1 and max(sdf_mm) <= 0.01 and min(agree) >= 0.999 and max(sem_mm) <= 0.01, \
        (vert_mm, sdf_mm, agree, sem_mm)

    other = load_bundle()  # a bundle of another shape space: the shipped explicit layer does not extend it
    other.tensors["beta_basis"] = other.tensors["beta_basis"].flip(0)
    other.save(tmp_path / "other.safetensors")
    with pytest.raises(ExplicitMismatch, match="does not extend it: pass the one built for it"):
        data.make_chunk((str(tmp_path / "other.safetensors"), str(tmp_path), 0, 1, 0, "body"))


def test_corner_evaluation_counts_pieces_and_measures_the_teacher_distance(model, teacher):
    from imghum_blender.training import evaluate_corners as ec
    from imghum_blender.training.teacher import corners

    grid = corners(("a", "b", "c"), (0.1, 0.9))
    assert len(grid["a"]) == 8 and {tuple(float(grid[k][i]) for k in "abc") for i in range(8)} == \
        set(itertools.product((0.1, 0.9), repeat=3))
    tri = np.array([[0, 1, 2]])
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 0, 0], [6, 0, 0], [5, 1, 0]], dtype=float)
    assert ec.large_pieces(verts, np.concatenate([tri, tri + 3])) == 2
    many = np.concatenate([verts[:3] + [10 * k, 0, 0] for k in range(200)])
    assert ec.large_pieces(many, np.concatenate([tri + 3 * k for k in range(200)])) == 0  # each under 1 %
    import trimesh  # a hollow solid: its void's wall (faces inwards) is no second piece, an open one is
    outer, inner = trimesh.creation.icosphere(2, 1.0), trimesh.creation.icosphere(2, 0.5)
    shell = np.concatenate([outer.vertices, inner.vertices])
    walls = np.concatenate([outer.faces, inner.faces[:, ::-1] + len(outer.vertices)])
    assert ec.large_pieces(shell, walls) == 1
    assert ec.large_pieces(shell, np.concatenate([outer.faces, inner.faces + len(outer.vertices)])) == 2
    assert ec.large_pieces(shell, walls[:-1]) == 2
    (row,) = ec.evaluate(model, (0.3, 0.7), resolution=64, seed=3, limit=1, points=3000)
    assert row["large_pieces"] >= 1 and set(row["phenotypes"]) == set(model.vocabulary.phenotype_names)
    d, p = row["teacher_to_model"], row["projection"]
    assert 0 < d["mean_mm"] < d["p95_mm"] <= d["p99_mm"] <= d["max_mm"] < 100  # a coarse mesh, mild sliders
    assert p["p99_mm"] < d["p99_mm"]  # the shape basis alone is closer than the meshed network
    assert ec.summary([row])["bodies"] == 1


def test_slider_space_samples_reach_every_end_and_its_basis_covers_the_corners(teacher):
    from imghum_blender.training import teacher as T
    from imghum_blender.training.build_bundle import shape_space
    from imghum_blender.training.teacher import corners
    from imghum_blender.bundle.vocabulary import PHENOTYPE_NAMES

    gen = torch.Generator().manual_seed(0)
    mix = T.sample_slider_space(400, gen, PHENOTYPE_NAMES)
    values = np.stack([mix[n].numpy() for n in PHENOTYPE_NAMES], 1)
    assert values.shape == (400, 6) and values.min() >= 0 and values.max() <= 1
    ends = (values == 0) | (values == 1)
    assert 0.08 < ends.mean() < 0.16  # 20 % extreme bodies, 60 % of their sliders at an end
    assert ends.all(1).sum() >= 2  # some bodies sit exactly on a corner
    again = T.sample_slider_space(400, torch.Generator().manual_seed(0), PHENOTYPE_NAMES)
    assert all(torch.equal(mix[n], again[n]) for n in PHENOTYPE_NAMES)
    # a basis fit to these reaches the corners far better than one fit to plausible adults only
    test = corners(PHENOTYPE_NAMES, (0.05, 0.95))
    n_face = len(teacher.facial_action_labels)
    coeffs = T.blendshape_coefficients(test)[:, :-n_face]
    errors = []
    for phen in (T.sample_phenotypes(400, torch.Generator().manual_seed(0)), mix):
        mean, basis, projection, _ = shape_space(teacher, phen, 16)
        residual = coeffs - (mean + ((coeffs - mean) @ projection) @ basis)
        errors.append(torch.einsum("bc,cvd->bvd", residual, teacher.blendshapes[:-n_face]).norm(dim=-1).max())
    assert errors[1] < 0.5 * errors[0], errors


def test_a_slider_space_bundle_takes_every_slider_position(teacher):
    from imghum_blender.training import data as D
    from imghum_blender.training.build_bundle import build, check_fk
    from imghum_blender.training.teacher import corners

    bundle = build(n_shape_samples=300, n_box_bodies=40, seed=3, beta_size=24, slider_space=True)
    assert bundle.vocabulary.beta_size == 24 and bundle.info["shape_space"]["sampler"] == "slider_space"
    assert bundle.info["shape_space"]["age_range_years"] == [1.0, 90.0] and check_fk(bundle) < 1e-5
    model = Model(bundle)
    grid = corners(model.vocabulary.phenotype_names, (0.0, 1.0))
    lat = model.latents(phenotypes=grid)  # toddlers and the other extremes
    assert lat.beta.shape == (64, 24) and lat.beta.abs().max() <= bundle.vocabulary.beta_limit  # raw beta reaches them
    code, deltas, verts, _ = D.sample_teacher_bodies(bundle, 6, torch.Generator().manual_seed(1))
    assert code.shape == (6, 24 + len(model.vocabulary.expression_names)) and verts.shape[0] == 6


def test_training_streams_fresh_bodies_and_ends_its_session_with_a_checkpoint(teacher, tmp_path):
    import json

    (tmp_path / "data").mkdir()
    data.make_chunk((str(DEFAULT_BUNDLE), str(tmp_path / "data"), 0, 2, 5, "body"))  # the fixed set: validation
    run = tmp_path / "run"
    argv = ["--bundle", str(DEFAULT_BUNDLE), "--data", str(tmp_path / "data"), "--workdir", str(run),
            "--val-bodies", "1", "--bodies-per-step", "1", "--points-per-body", "256", "--eval-every", "100000",
            "--stream", "1", "--chunk-bodies", "1", "--stream-window", "2", "--refresh-every", "20",
            "--session-minutes", "0.75", "--minutes", "60"]
    train.main(argv)
    log = [json.loads(line) for line in (run / "train.log").read_text().splitlines()]
    taken = [e["stream"] for e in log if "stream" in e]
    assert taken and max(t["chunks"] for t in taken) == 2  # fresh chunks arrived, at most the window
    assert sorted(p.name for p in (run / "stream").glob("chunk_*.npz"))[0] >= "chunk_1000000"
    assert len(list((run / "stream").glob("chunk_*.npz"))) <= 2 + 1  # older ones deleted (+ the one in the making)
    saved = torch.load(run / "last.pt", weights_only=True)
    assert 0.7 < saved["elapsed"] / 60 < 1.5 and saved["step"] > 20 and "val" in log[-1]  # the session limit


def test_a_head_detail_stage_trains_only_the_head_detail_network(teacher, tmp_path):
    """Detail networks start as a zero correction (the body is unchanged), run only near the head's
    surface, and a detail stage on head-dense data changes nothing but them."""
    from imghum_blender.field.loader import load_bundle
    from imghum_blender.field.model import load_model
    from imghum_blender.field.network import DETAIL_BAND
    from imghum_blender.training import detail

    base = load_bundle()
    bundle, net = detail.with_detail(base, "head", width=32, depth=2, n_freq=2)
    start = tmp_path / "head_base.safetensors"
    bundle.save(start, net)
    before, staged = load_model(field="neural"), load_model(start, field="neural")
    head = staged.vocabulary.part_names.index("head")
    assert list(staged.network.details) == [str(head)] and staged.bundle.parts[head].has_detail
    lat = before.latents(expression={"jawOpen": 0.7})
    mesh = before.mesh(lat, resolution=64)
    pts = torch.from_numpy(mesh.vertices[::7] + np.random.default_rng(0).normal(size=(len(mesh.vertices[::7]), 3))
                           .astype(np.float32) * 0.02)
    assert torch.equal(before.query(pts, lat)[0], staged.query(pts, lat)[0])  # untrained: zero correction

    (tmp_path / "data").mkdir()
    path = data.make_chunk((str(start), str(tmp_path / "data"), 0, 2, 7, "head"))
    recipe = data.RECIPES["head"]
    with np.load(path) as d:  # head-dense: most points within millimetres of the surface
        n = sum(c for c, _ in recipe.surface_mix) + recipe.n_region_uniform
        assert d["points"].shape == (2, n, 3) and np.isfinite(d["sdf"]).all()
        assert np.percentile(np.abs(d["sdf"]), 60) < 0.003
    run = tmp_path / "run"
    train.main(["--bundle", str(start), "--data", str(tmp_path / "data"), "--workdir", str(run), "--val-bodies", "1",
                "--bodies-per-step", "1", "--points-per-body", "512", "--max-steps", "6", "--eval-every", "6",
                "--train-region", "head", "--lr", "1e-2"])
    trained = load_model(run / "best.safetensors", field="neural")
    assert trained.bundle.info["detail"]["head"]["training"]["steps"] == 6
    old, new = staged.network.state_dict(), trained.network.state_dict()
    changed = {k.split(".")[0] + "." + k.split(".")[1] for k in old if not torch.equal(old[k].half(), new[k].half())}
    assert changed == {f"details.{head}"}, changed
    sdf_before, sdf_after = before.query(pts, lat)[0], trained.query(pts, lat)[0]
    moved = (sdf_before - sdf_after).abs() > 0
    assert moved.any() and (sdf_before[moved].abs() < DETAIL_BAND + 0.02).all()  # near the surface only
    with pytest.raises(SystemExit, match="no detail networks"):
        train.main(["--bundle", str(start), "--data", str(tmp_path / "data"), "--workdir", str(tmp_path / "r2"),
                    "--val-bodies", "1", "--max-steps", "1", "--train-region", "hands"])


def test_rebox_grows_the_part_boxes_to_the_slider_corners_and_keeps_every_weight(teacher, tmp_path):
    import dataclasses

    from imghum_blender.field.loader import load_bundle
    from imghum_blender.training.build_bundle import part_extents
    from imghum_blender.training.rebox import rebox
    from imghum_blender.training.teacher import corners
    from imghum_blender.bundle.vocabulary import PHENOTYPE_NAMES

    shipped = load_bundle(DEFAULT_BUNDLE)  # with its leg boxes cut 3 cm short, as a bundle fitted to fewer bodies
    short = [dataclasses.replace(p, box_lo=tuple(x + 0.03 for x in p.box_lo), box_hi=tuple(x - 0.03 for x in p.box_hi))
             if p.name.startswith(("upperleg", "lowerleg")) else p for p in shipped.parts]
    bundle, _ = shipped.with_parts(short, dict(shipped.info))
    bundle.save(tmp_path / "short.safetensors", _)
    bundle = load_bundle(tmp_path / "short.safetensors")
    new, net, grown = rebox(bundle, reps=1)
    assert {"upperleg.L", "upperleg.R", "lowerleg.L", "lowerleg.R"} <= set(grown)
    assert grown and min(grown.values()) > 0.002 and set(new.info["reboxed"]["grown_mm"]) == set(grown)
    old = bundle.build_network()
    for (k, a), (k2, b) in zip(old.state_dict().items(), net.state_dict().items()):
        assert k == k2 and torch.equal(a, b)  # the trained weights travel unchanged
    for p, q in zip(bundle.parts, new.parts):  # boxes only grow; the others stay as they were
        assert all(x <= y for x, y in zip(q.box_lo, p.box_lo)) and all(x >= y for x, y in zip(q.box_hi, p.box_hi))
        assert (p == q) == (p.name not in grown)

    # the corner bodies rebox drew (its seed): the cut leg boxes miss them, the grown ones hold them
    mains = [p.main for p in bundle.parts]
    lows, highs = part_extents(corners(PHENOTYPE_NAMES, (0.0, 1.0)), torch.Generator().manual_seed(3), mains,
                               bundle.tensors["template_parts"].long())
    legs = [i for i, p in enumerate(bundle.parts) if p.name.startswith(("upperleg", "lowerleg"))]

    def shortfall(parts):  # of the leg boxes
        lo = torch.tensor([p.box_lo for p in parts])
        hi = torch.tensor([p.box_hi for p in parts])
        return float(torch.maximum(lo - lows, highs - hi)[legs].max())

    assert shortfall(bundle.parts) > 0.01 and shortfall(new.parts) <= -0.0099  # inside, with the 1 cm margin
    new.save(tmp_path / "reboxed.safetensors", net)
    back = Model(load_bundle(tmp_path / "reboxed.safetensors"))
    assert [p.box_lo for p in back.network.parts] == [p.box_lo for p in new.parts]
    sdf, _ = back.query(np.zeros((1, 3)), back.latents())
    assert np.isfinite(np.asarray(sdf)).all()
