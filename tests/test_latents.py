"""Latent construction: defaults, named phenotypes, teacher conversion, and clear errors."""
import numpy as np
import pytest
import torch

import imghum_blender as ih
from imghum_blender.training import teacher as T
from imghum_blender.bundle.vocabulary import load as load_vocabulary

K = load_vocabulary().beta_size


def test_defaults_are_mean_shape_rest_pose(model):
    lat = model.latents()
    assert lat.beta.shape == (1, model.beta_width) and lat.beta.abs().sum() == 0
    assert torch.equal(lat.pose, torch.eye(3).expand(1, len(model.vocabulary.bone_names), 3, 3))
    assert lat.expression.abs().sum() == 0


@pytest.mark.parametrize("bad", [
    {"beta": [float("nan")] * K},
    {"beta": [0.0] * 5},
    {"beta": [1e3] * K},
    {"phenotypes": {"age": 1.5}},
    {"phenotypes": {"age": float("nan")}},
    {"phenotypes": {"shoe_size": 0.3}},
    {"expression": {"jawOpen": 2.0}},
    {"expression": {"notAnAction": 0.5}},
    {"pose": {"elbow_of_doom": [0, 0, 1]}},
    {"pose": np.zeros((3, 3))},
    {"pose": {"root": [0.0, 1.0]}},
    {"pose": {"root": [0.0, 1.0, 0.0, 1.0]}},
    {"pose": {"root": "up"}},
    {"root_translation": [1e30, 0.0, 0.0]},
    {"root_translation": [0.0, 0.0, 2e4]},
    {"root_translation": [1.0, 2.0]},
    {"root_translation": [[1.0, 2.0, 3.0, 4.0]]},
    {"root_translation": "here"},
    {"phenotypes": [0.5, 0.5]},
    {"phenotypes": {"age": "old"}},
    {"phenotypes": {"age": [0.2, 0.3], "weight": [0.1, 0.2, 0.3]}},
    {"expression": {"jawOpen": "wide"}},
    {"expression": np.zeros((0, 52))},
    {"beta": np.zeros((0, K))},
])
def test_bad_latents_raise_clear_errors(model, bad):
    with pytest.raises(ih.LatentError):
        model.latents(**bad)


def test_latents_from_anny_match_named_phenotypes(model, teacher):
    """The same phenotypes via the teacher's coefficients and via the bundle's grid agree."""
    gen = torch.Generator().manual_seed(4)
    phen = T.sample_phenotypes(5, gen)
    face = T.sample_expressions(5, gen)
    pose = T.sample_poses(5, gen)
    lat_t = T.latents_from_anny(model, phen, face, pose)
    named = {k: phen[k].float() for k in model.vocabulary.phenotype_names}
    lat_n = model.latents(phenotypes=named)
    assert torch.allclose(lat_t.beta, lat_n.beta, atol=2e-3)
    assert torch.allclose(lat_t.pose, pose[..., :3, :3].float(), atol=1e-6)
    k = model.vocabulary.expression_names.index("jawOpen")
    assert torch.allclose(lat_t.expression[:, k], face["jawOpen"].float())


def test_round_trip_to_anny_and_back(model, teacher):
    lat = model.latents(phenotypes={"gender": 0.2, "age": 0.8, "weight": 0.7, "muscle": 0.3,
                                    "height": 0.6, "proportions": 0.4}, expression={"mouthSmileLeft": 0.6})
    phen, face, deltas = T.anny_from_latents(model, lat)
    back = T.latents_from_anny(model, phen, face, deltas)
    assert (back.beta - lat.beta).abs().max() < 0.05
    assert torch.allclose(back.expression, lat.expression)


def test_latents_live_in_their_own_module(model):
    from imghum_blender.field import latents

    assert ih.Latents is latents.Latents and ih.LatentError is latents.LatentError
    lat = model.latents(root_translation=[0.0, 0.0, latents.MAX_TRANSLATION])
    assert lat.root_translation[0, 2] == latents.MAX_TRANSLATION
    two = model.latents(beta=np.zeros((2, model.vocabulary.beta_size)), root_translation=[[0, 0, 1], [0, 0, 2]])
    assert two.batch_size == 2 and two.body(1).root_translation.tolist() == [[0.0, 0.0, 2.0]]
    with pytest.raises(ih.LatentError, match="batch of 2"):
        two.body(2)
