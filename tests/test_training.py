"""Training data generation and a few optimisation steps on real teacher data."""
import numpy as np
import torch

from imghum_blender.bundle import DEFAULT_BUNDLE
from imghum_blender.model import Model
from imghum_blender.training import data, train


def test_data_chunk_and_few_steps_lower_the_loss(model, teacher, tmp_path):
    path = data.make_chunk((str(DEFAULT_BUNDLE), str(tmp_path), 0, 3, 99))
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
