"""Adapter to the explicit teacher body model ``anny`` (training time only).

Samples plausible bodies (shape, pose, facial actions), runs the teacher, and converts teacher
parameters to the implicit model's latents and back. Importing this module needs ``anny``.
"""
from __future__ import annotations

import functools
import itertools
import math
import os
from typing import TYPE_CHECKING

import torch

from ..field.poses import POSE_RANGES, pose_range_key
from ..field.rotations import rotvec_to_matrix

if TYPE_CHECKING:
    from ..field.model import Model

#: Morphological age range of v1 (teenagers to the elderly), in years.
AGE_RANGE_YEARS = (13.0, 90.0)
#: The whole slider range (model v2): toddlers to the elderly, in years.
FULL_AGE_RANGE_YEARS = (1.0, 90.0)
#: :func:`sample_slider_space`'s mixture: plausible bodies (anny's age-conditioned distribution),
#: uniform over the phenotype box, and extremes (each phenotype at 0 or 1 with probability
#: :data:`EXTREME_P`, else uniform: the box's corners, edges and faces).
SLIDER_MIX = {"plausible": 0.5, "uniform": 0.3, "extreme": 0.2}
EXTREME_P = 0.6


#: The sign of each row of anny's compact phenotype basis that every bundle is built in: the sign of
#: the row's dot product with :func:`_probe` (the smallest margin is 4e-5 of the product's bound).
#: anny leaves each row's sign to how its cache was built (one torch thread or two flip three rows),
#: so :func:`load_teacher` flips rows to this convention.
BASIS_SIGNS = ("-+----++-+-+---++-+-+---+-++-+--+-+--+++----++-----+----+++----++-+---++-+--++--+-----+++--+"
               "--+---++++-+--+-----+--++++++++++++-+--++-++")


@functools.lru_cache(maxsize=2)
def load_teacher(local_changes: bool = False):
    """The teacher (anny.Anny with all 52 facial actions, float64; ``local_changes``: with its
    MakeHuman / MPFB2 modelling targets too), built once per process, with its compact phenotype basis
    in the :data:`BASIS_SIGNS` convention."""
    os.environ.setdefault("ANNY_CACHE_DIR", os.path.expanduser("~/.cache/imghum/anny"))
    import warnings

    import anny

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = anny.Anny(facial_actions="all", local_changes="all" if local_changes else "none")
    _canonical_basis(t)
    return t


def _probe(size: int) -> torch.Tensor:
    import numpy as np

    return torch.from_numpy(np.random.default_rng(0).standard_normal(size))


def _canonical_basis(t) -> None:
    """Flip the rows of the teacher's compact phenotype basis (vertex and bone blendshapes, and the
    projection's columns: the bodies stay the same) to :data:`BASIS_SIGNS`."""
    n = t.phenotype_blendshape_projection.shape[1]
    if n != len(BASIS_SIGNS):
        raise RuntimeError(f"the teacher's compact basis has {n} rows; this code knows {len(BASIS_SIGNS)}")
    with torch.no_grad():
        rows = t.blendshapes[:n].reshape(n, -1)
        want = torch.tensor([1.0 if c == "+" else -1.0 for c in BASIS_SIGNS], dtype=rows.dtype)
        flip = torch.sign(rows @ _probe(rows.shape[1]).to(rows.dtype)) * want  # -1 where a row is flipped
        t.blendshapes[:n] *= flip[:, None, None]
        t.bone_heads_blendshapes[:n] *= flip[:, None, None]
        t.bone_orientation_blendshapes[:n] *= flip[:, None, None, None]
        t.phenotype_blendshape_projection *= flip[None, :]


def sample_phenotypes(n: int, generator: torch.Generator,
                      ages: tuple[float, float] = AGE_RANGE_YEARS) -> dict[str, torch.Tensor]:
    """Plausible phenotypes (anny's age-conditioned distribution, ``ages`` in years), dict of (n,)."""
    import anny.shape_distribution as sd

    teacher = load_teacher()
    age = torch.distributions.Uniform(torch.tensor(ages[0], dtype=torch.float64),
                                      torch.tensor(ages[1], dtype=torch.float64))
    dist = sd.SimpleShapeDistribution(teacher, morphological_age_distribution=age)
    state = torch.random.get_rng_state()
    torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
    try:
        _, phen = dist.sample(n)
    finally:
        torch.random.set_rng_state(state)
    return {k: v.clamp(0.0, 1.0) for k, v in phen.items()}


def age_in_years(age: torch.Tensor) -> torch.Tensor:
    """Morphological age in years of anny's age phenotype (0.05: 1 year, 0.67: 16, 1.0: 110)."""
    import anny.shape_distribution as sd

    mapping = sd.SimpleShapeDistribution(load_teacher()).morphological_age_mapping
    return mapping.anny_to_morphological_age(torch.as_tensor(age, dtype=torch.float64).reshape(-1))


def corners(names: tuple[str, ...], values: tuple[float, float]) -> dict[str, torch.Tensor]:
    """Every combination of ``values`` over ``names``: dict name -> (2^len(names),) float64."""
    grid = torch.tensor(list(itertools.product(values, repeat=len(names))), dtype=torch.float64)
    return {n: grid[:, i] for i, n in enumerate(names)}


def sample_slider_space(n: int, generator: torch.Generator, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Phenotypes over every slider's whole range (:data:`SLIDER_MIX`; plausible ages 1-90), in a
    random order, dict of (n,) over ``names``."""
    counts = {k: int(round(w * n)) for k, w in SLIDER_MIX.items()}
    counts["plausible"] += n - sum(counts.values())
    plausible = sample_phenotypes(counts["plausible"], generator, FULL_AGE_RANGE_YEARS)
    uniform = torch.rand(counts["uniform"], len(names), generator=generator, dtype=torch.float64)
    m = counts["extreme"]
    at_end = torch.rand(m, len(names), generator=generator, dtype=torch.float64) < EXTREME_P
    ends = (torch.rand(m, len(names), generator=generator, dtype=torch.float64) < 0.5).double()
    extreme = torch.where(at_end, ends, torch.rand(m, len(names), generator=generator, dtype=torch.float64))
    order = torch.randperm(n, generator=generator)
    return {name: torch.cat([plausible[name], uniform[:, j], extreme[:, j]])[order] for j, name in enumerate(names)}


def sample_expressions(n: int, generator: torch.Generator, strong: bool = False) -> dict[str, torch.Tensor]:
    """Sparse facial actions: a third neutral, the rest 1-6 active actions in [0, 1]; ``strong``
    (the face's detail data): an eighth neutral, the rest 1-8 actions, half of them at 0.6-1."""
    labels = load_teacher().facial_action_labels
    values = torch.zeros(n, len(labels), dtype=torch.float64)
    neutral, most = (1 / 8, 8) if strong else (1 / 3, 6)
    for i in range(n):
        if torch.rand((), generator=generator) < neutral:
            continue
        k = int(torch.randint(1, most + 1, (), generator=generator))
        idx = torch.randperm(len(labels), generator=generator)[:k]
        u = torch.rand(k, generator=generator, dtype=torch.float64)
        if strong:
            u = torch.where(torch.rand(k, generator=generator, dtype=torch.float64) < 0.5, 0.6 + 0.4 * u, u)
        values[i, idx] = u
    return {name: values[:, j] for j, name in enumerate(labels)}


def sample_poses(n: int, generator: torch.Generator, mild_fraction: float = 0.25) -> torch.Tensor:
    """Random 'local-ref' pose deltas (n,J,4,4) within joint ranges; toes stay at rest.

    A ``mild_fraction`` of bodies get ranges scaled by 0.3; every body gets a random yaw.
    """
    teacher = load_teacher()
    names = teacher.bone_labels
    rotvec = torch.zeros(n, len(names), 3, dtype=torch.float64)
    scale = torch.where(torch.rand(n, generator=generator, dtype=torch.float64) < mild_fraction, 0.3, 1.0)
    for j, name in enumerate(names):
        key = pose_range_key(name)
        if key is None:
            continue
        lo_hi = torch.tensor(POSE_RANGES[key], dtype=torch.float64)
        if name.endswith(".R"):
            lo_hi = lo_hi * torch.tensor([[1.0], [-1.0], [-1.0]], dtype=torch.float64)
            lo_hi = lo_hi.sort(dim=1).values
        u = torch.rand(n, 3, generator=generator, dtype=torch.float64)
        rotvec[:, j] = (lo_hi[:, 0] + u * (lo_hi[:, 1] - lo_hi[:, 0])) * scale[:, None]
    yaw = (torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi
    rotvec[:, 0] = torch.stack([torch.zeros_like(yaw), torch.zeros_like(yaw), yaw], -1)
    deltas = torch.eye(4, dtype=torch.float64).repeat(n, len(names), 1, 1)
    deltas[..., :3, :3] = rotvec_to_matrix(rotvec)
    return deltas


def blendshape_coefficients(phenotypes: dict[str, torch.Tensor],
                            facial_actions: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """The teacher's blendshape coefficients (B, C): phenotype basis then facial actions."""
    teacher = load_teacher()
    _, phen, local, face = teacher.get_tensor_inputs(None, phenotypes, None, facial_actions)
    return teacher._get_phenotype_blendshape_coefficients(phen, local, face)


def run_teacher(phenotypes: dict[str, torch.Tensor], facial_actions: dict[str, torch.Tensor],
                pose_parameters: torch.Tensor) -> dict[str, torch.Tensor]:
    """Teacher forward: posed 'vertices' (B,V,3), 'bone_poses' (B,J,4,4) and rest data."""
    with torch.no_grad():
        return load_teacher()(pose_parameters=pose_parameters, phenotype_kwargs=phenotypes,
                              facial_actions=facial_actions)


def latents_from_anny(model: Model, phenotype_kwargs: dict, facial_actions: dict | None,
                      pose_parameters: torch.Tensor | None):
    """Model latents for teacher inputs exactly as ``anny.Anny(facial_actions="all")`` takes them.

    ``pose_parameters`` are (B,J,4,4) 'local-ref' deltas; only their rotations and the root's
    translation matter to the teacher, and both are kept.
    """
    teacher = load_teacher()
    phen = {k: torch.as_tensor(v, dtype=torch.float64).reshape(-1) for k, v in phenotype_kwargs.items()}
    coeffs = blendshape_coefficients(phen)
    n_phen = len(coeffs[0]) - len(teacher.facial_action_labels)
    if model.explicit is not None:  # the exact field's full shape code (exact)
        beta = model.explicit.code_from_coefficients(coeffs[:, :n_phen])
    else:
        beta = model.bundle.beta_from_coefficients(coeffs[:, :n_phen].float())
    expression = None
    if facial_actions:
        b = beta.shape[0]
        expression = torch.zeros(b, len(teacher.facial_action_labels))
        for j, name in enumerate(teacher.facial_action_labels):
            if name in facial_actions:
                expression[:, j] = torch.as_tensor(facial_actions[name], dtype=torch.float32).reshape(-1)
    return model.latents(beta=beta, expression=expression,
                         pose=None if pose_parameters is None else torch.as_tensor(pose_parameters).float())


def anny_from_latents(model: Model, lat) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    """Teacher inputs (phenotypes, facial actions, (B,J,4,4) pose deltas) for model latents.

    Phenotypes come from a bounded least-squares fit of beta (its network part: the first
    ``vocabulary.beta_size`` components; exact for betas the phenotypes reach).
    """
    phen = model.bundle.phenotypes_from_beta(lat.beta[:, :model.vocabulary.beta_size].float())
    face = {name: lat.expression[:, j].double() for j, name in enumerate(model.vocabulary.expression_names)}
    deltas = torch.eye(4, dtype=torch.float64).repeat(lat.batch_size, lat.pose.shape[1], 1, 1)
    deltas[..., :3, :3] = lat.pose.double()
    deltas[:, 0, :3, 3] = lat.root_translation.double()
    return {k: v.double() for k, v in phen.items()}, face, deltas
