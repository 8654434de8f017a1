"""Latents of a batch of bodies and their validation against a bundle's vocabulary.

:func:`make_latents` turns what a user gives (arrays, named phenotypes / facial actions / bones)
into a :class:`Latents` batch or raises :class:`LatentError` naming the offending input and what is
allowed; :meth:`imghum_blender.field.model.Model.latents` is the documented entry point.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .rotations import rotvec_to_matrix
from ..bundle.vocabulary import Vocabulary
from ..formats.validate import did_you_mean

#: Names a message about an unknown one lists in full up to this many (the 255 modifiers are not listed).
MAX_LISTED = 60
#: Largest root translation (meters): float32 resolves ~1 mm there; farther, the body breaks up.
MAX_TRANSLATION = 1e4


class LatentError(ValueError):
    """Latents that cannot be used (NaN, out of range, wrong size or unknown names)."""


@dataclass
class Latents:
    """A batch of B bodies: beta (B,K), expression (B,E) in [0,1], pose deltas (B,J,3,3) in the
    teacher's 'local-ref' parameterization, root translation (B,3) in meters, and modifiers (B,M) in
    [-1,1] (local shape changes, in the vocabulary's order; None: all zero)."""

    beta: torch.Tensor
    expression: torch.Tensor
    pose: torch.Tensor
    root_translation: torch.Tensor
    modifiers: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        """B."""
        return self.beta.shape[0]

    def detach(self) -> "Latents":
        """A copy cut from the autograd graph."""
        mods = self.modifiers.detach() if self.modifiers is not None else None
        return Latents(*(t.detach() for t in (self.beta, self.expression, self.pose, self.root_translation)), mods)

    def expand(self, n: int) -> "Latents":
        """A batch of one body repeated ``n`` times (views, no copies)."""
        if self.batch_size != 1:
            raise LatentError(f"only a batch of one body can be expanded; this one has {self.batch_size}")
        mods = self.modifiers.expand(n, -1) if self.modifiers is not None else None
        return Latents(self.beta.expand(n, -1), self.expression.expand(n, -1), self.pose.expand(n, -1, -1, -1),
                       self.root_translation.expand(n, -1), mods)

    def body(self, index: int = 0) -> "Latents":
        """Body ``index`` alone (a batch of one)."""
        if not -self.batch_size <= index < self.batch_size:
            raise LatentError(f"body {index} does not exist in a batch of {self.batch_size}")
        i = index % self.batch_size
        mods = self.modifiers[i:i + 1] if self.modifiers is not None else None
        return Latents(*(t[i:i + 1] for t in (self.beta, self.expression, self.pose, self.root_translation)), mods)


def as_tensor(value, name: str) -> torch.Tensor:
    """``value`` as a finite floating tensor; :class:`LatentError` naming ``name`` otherwise."""
    if isinstance(value, torch.Tensor):
        t = value if value.is_floating_point() else value.double()
    else:
        try:
            t = torch.from_numpy(np.array(value, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise LatentError(f"{name} must be numbers, got {type(value).__name__} {value!r:.80}") from exc
    if not torch.isfinite(t).all():
        raise LatentError(f"{name} contains NaN or infinite values")
    return t


def _rows(t: torch.Tensor, width: int, name: str) -> torch.Tensor:
    """(W,) or (B,W) -> (B,W) with B >= 1."""
    rows = t.reshape(1, -1) if t.dim() == 1 else t
    if rows.dim() == 2 and rows.shape[1] == width and rows.shape[0] < 1:
        raise LatentError(f"{name} holds no body (shape {tuple(t.shape)}); give at least one")
    if rows.dim() != 2 or rows.shape[1] != width:
        raise LatentError(f"{name} must have {width} values per body, shape ({width},) or (B,{width}); "
                          f"got shape {tuple(t.shape)}")
    return rows


def _columns(values: Mapping, names: tuple[str, ...], default: Callable[[str], float], what: str) -> torch.Tensor:
    """A mapping name -> value or (B,) values -> (B, len(names)); unset names take ``default``."""
    if not isinstance(values, Mapping):
        raise LatentError(f"{what}s must be a mapping name -> value, got {type(values).__name__}")
    unknown = sorted(str(n) for n in values if n not in names)
    if unknown:
        known = f"known: {list(names)}" if len(names) <= MAX_LISTED else f"{len(names)} are known, e.g. {names[0]!r}"
        raise LatentError(f"unknown {what}s {unknown[:5]}{did_you_mean(unknown[0], names)}; {known}")
    given = {n: as_tensor(v, f"{what} {n}").reshape(-1) for n, v in values.items()}
    bsz = max((c.shape[0] for c in given.values()), default=1)
    for n, c in given.items():
        if c.shape[0] not in (1, bsz) or bsz == 0:
            raise LatentError(f"{what} {n} has {c.shape[0]} values; expected 1 or {bsz} (one per body)")
    out = torch.tensor([float(default(n)) for n in names], dtype=torch.float64).repeat(bsz, 1)
    column = {n: k for k, n in enumerate(names)}
    for n, c in given.items():
        out[:, column[n]] = c.to(out.dtype)
    return out


def _unit_range(t: torch.Tensor, name: str) -> torch.Tensor:
    if (t < 0).any() or (t > 1).any():
        raise LatentError(f"{name} values must lie in [0, 1]")
    return t


def _beta(voc: Vocabulary, beta_from_phenotypes, beta, phenotypes, width: int) -> torch.Tensor:
    """(B, width) shape codes; a code of the vocabulary's ``beta_size`` values is padded with zeros."""
    if beta is not None and phenotypes is not None:
        raise LatentError("give either beta or phenotypes, not both")
    if phenotypes is not None:
        phen = _columns(phenotypes, voc.phenotype_names, voc.phenotype_default, "phenotype")
        return beta_from_phenotypes(_unit_range(phen, "phenotype"))
    if beta is None:
        return torch.zeros(1, width)
    t = as_tensor(beta, "beta")
    if width != voc.beta_size and t.dim() in (1, 2) and t.shape[-1] not in (voc.beta_size, width):
        raise LatentError(f"beta must have {voc.beta_size} or {width} values per body (the shape code's first "
                          f"{voc.beta_size} components, as the neural field reads it, or all {width}); got shape "
                          f"{tuple(t.shape)}")
    t = _rows(t, voc.beta_size if t.dim() in (1, 2) and t.shape[-1] == voc.beta_size else width, "beta")
    if t.abs().max() > voc.beta_limit:
        raise LatentError(f"beta values must lie within +-{voc.beta_limit:g} (standard deviations)")
    return torch.nn.functional.pad(t, (0, width - t.shape[1]))


def _expression(voc: Vocabulary, expression) -> torch.Tensor:
    names = voc.expression_names
    if expression is None:
        return torch.zeros(1, len(names))
    if isinstance(expression, Mapping):
        t = _columns(expression, names, lambda _: 0.0, "facial action")
    else:
        t = _rows(as_tensor(expression, "expression"), len(names), "expression")
    return _unit_range(t, "facial action")


def _modifiers(voc: Vocabulary, modifiers) -> torch.Tensor | None:
    """(B,M) modifier values in [-1,1], or None when none is given."""
    if modifiers is None:
        return None
    names = voc.modifier_names
    if not names:
        raise LatentError("this model has no modifiers (its modifiers file is missing)")
    if isinstance(modifiers, Mapping):
        t = _columns(modifiers, names, lambda _: 0.0, "modifier")
    else:
        t = _rows(as_tensor(modifiers, "modifiers"), len(names), "modifiers")
    if (t.abs() > 1).any():
        raise LatentError("modifier values must lie in [-1, 1]")
    return t


def check_rotations(rot: torch.Tensor, name: str = "pose") -> torch.Tensor:
    """``rot`` (...,3,3) when every matrix is a proper rotation, else :class:`LatentError`."""
    eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
    if ((rot @ rot.transpose(-1, -2) - eye).abs().max() > 1e-3) or (torch.det(rot) < 0).any():
        raise LatentError(f"{name} matrices must be rotations (orthonormal, determinant +1)")
    return rot


def _bone_rotation(value, name: str) -> torch.Tensor:
    v = as_tensor(value, f"pose {name}")
    if v.shape == (3,):
        return rotvec_to_matrix(v)
    if v.shape == (3, 3):
        return check_rotations(v, f"pose {name}")
    raise LatentError(f"pose {name} must be a rotation vector (3 values, radians) or a 3x3 rotation matrix; "
                      f"got shape {tuple(v.shape)}")


def _pose(voc: Vocabulary, pose) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Rotations (B,J,3,3) and, for 4x4 deltas, the root translation (B,3)."""
    names, j = voc.bone_names, len(voc.bone_names)
    if pose is None:
        return torch.eye(3).expand(1, j, 3, 3), None
    if isinstance(pose, Mapping):
        unknown = [str(n) for n in pose if n not in names]
        if unknown:
            raise LatentError(f"unknown bones {sorted(unknown)}")
        rot = torch.eye(3, dtype=torch.float64).repeat(1, j, 1, 1)
        for name, value in pose.items():
            rot[0, names.index(name)] = _bone_rotation(value, name).double()
        return rot, None
    t = as_tensor(pose, "pose")
    given = tuple(t.shape)
    if t.dim() in (2, 3) and t.shape[0] == j:
        t = t[None]
    if t.dim() == 3 and t.shape[1:] == (j, 3) and len(t):
        return rotvec_to_matrix(t), None
    if t.dim() == 4 and t.shape[1] == j and t.shape[-2:] == (4, 4) and len(t):
        return check_rotations(t[..., :3, :3]), t[:, 0, :3, 3]
    if t.dim() == 4 and t.shape[1] == j and t.shape[-2:] == (3, 3) and len(t):
        return check_rotations(t), None
    raise LatentError(f"pose must be (B,{j},4,4), (B,{j},3,3) or (B,{j},3) (B may be omitted); "
                      f"got shape {given}")


def _translation(value) -> torch.Tensor:
    t = _rows(as_tensor(value, "root_translation"), 3, "root_translation")
    if t.abs().max() > MAX_TRANSLATION:
        raise LatentError(f"root_translation must lie within +-{MAX_TRANSLATION:g} m (float32 cannot represent "
                          f"a body farther away); got {t.abs().max().item():.3g} m")
    return t


def make_latents(voc: Vocabulary, beta_from_phenotypes: Callable[[torch.Tensor], torch.Tensor],
                 dtype: torch.dtype = torch.float32, device: torch.device | str | None = None, beta=None,
                 phenotypes=None, expression=None, pose=None, root_translation=None,
                 beta_width: int | None = None, beta_dtype: torch.dtype | None = None, modifiers=None) -> Latents:
    """Validated latents of ``dtype`` on ``device`` (see :meth:`imghum_blender.field.model.Model.latents`
    for the accepted forms); ``beta_from_phenotypes`` maps (B,P) phenotypes in
    ``voc.phenotype_names`` order to beta (B,K); K = ``beta_width`` (default: the vocabulary's
    beta size), and a beta of the vocabulary's size is padded with zeros to it; ``beta_dtype``
    (default ``dtype``): beta's own dtype (the exact field keeps its long code in float64);
    ``modifiers``: dict name -> value(s) or (M,)/(B,M) values in [-1,1] (None: all zero)."""
    beta_t = _beta(voc, beta_from_phenotypes, beta, phenotypes, beta_width or voc.beta_size)
    expr_t = _expression(voc, expression)
    rot, trans = _pose(voc, pose)
    if root_translation is not None:
        trans = root_translation
    trans_t = _translation(trans if trans is not None else torch.zeros(1, 3))
    mods_t = _modifiers(voc, modifiers)
    parts = {"beta": beta_t, "expression": expr_t, "pose": rot, "root_translation": trans_t}
    if mods_t is not None:
        parts["modifiers"] = mods_t
    bsz = max(t.shape[0] for t in parts.values())
    for name, t in parts.items():
        if t.shape[0] not in (1, bsz):
            raise LatentError(f"{name} has batch size {t.shape[0]}, expected 1 or {bsz}")
    rest = (t.to(device=device, dtype=dtype) for t in (expr_t.expand(bsz, -1), rot.expand(bsz, -1, -1, -1),
                                                       trans_t.expand(bsz, -1)))
    mods = mods_t.expand(bsz, -1).to(device=device, dtype=dtype) if mods_t is not None else None
    return Latents(beta_t.expand(bsz, -1).to(device=device, dtype=beta_dtype or dtype), *rest, mods)
