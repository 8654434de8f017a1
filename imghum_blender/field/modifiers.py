"""Local shape changes ("modifiers"): the teacher's MakeHuman / MPFB2 modelling target pairs as sparse
linear blendshapes of the explicit layer.

Modifier m with value v in [-1, 1] adds max(v, 0) times its "incr" target and max(-v, 0) times its
"decr" target to the rest surface, and moves the bones the same linear way (bone heads and orientation
matrices, as the teacher's rig). Each target touches only its region's vertices, so the file stores
them sparse: per target the vertex indices and int16 offsets scaled per axis. The file is written by
:mod:`imghum_blender.training.build_modifiers`; its modifier list is the vocabulary's
(:func:`imghum_blender.bundle.vocabulary.read_modifiers`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..bundle import tensorfile
from ..bundle.header import BundleHeaderError, read_file_document
from ..bundle.vocabulary import DEFAULT_MODIFIERS, MODIFIERS_FORMAT, MODIFIERS_VERSION, read_modifiers


class ModifiersError(BundleHeaderError):
    """A modifiers file that cannot be used (missing, corrupt, or built for another template or rig)."""


def split_values(values: torch.Tensor) -> torch.Tensor:
    """Modifier values (B,M) -> target weights (B,2M): (incr, decr) per modifier, as the teacher
    splits them (the incr side's gradient at 0 is 1, so a fit can move a modifier off zero)."""
    incr = values * (values >= 0).to(values.dtype)
    decr = -values * (values < 0).to(values.dtype)
    return torch.stack([incr, decr], -1).flatten(-2)


@dataclass
class ModifierBasis:
    """The targets of M modifiers (2M targets: (incr, decr) per modifier), sparse: target t moves
    vertices ``indices[pointers[t]:pointers[t+1]]`` by ``deltas`` there (N,3); ``column`` (N,) is each
    entry's target. ``heads`` (2M,J,3) and ``orient`` (2M,J,3,3): bone blendshapes (float64)."""

    names: tuple[str, ...]
    indices: torch.Tensor
    deltas: torch.Tensor
    column: torch.Tensor
    pointers: torch.Tensor
    heads: torch.Tensor
    orient: torch.Tensor

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> "ModifierBasis":
        """A copy with the vertex offsets in ``dtype`` and everything on ``device`` (bones stay float64)."""
        return ModifierBasis(self.names, self.indices.to(device), self.deltas.to(device=device, dtype=dtype),
                             self.column.to(device), self.pointers.to(device), self.heads.to(device=device),
                             self.orient.to(device=device))

    def moved_vertices(self, modifiers, n_vertices: int) -> np.ndarray:
        """Which vertices (V,) bool the targets of the modifiers at indices ``modifiers`` move."""
        bounds = self.pointers.tolist()
        moved = np.zeros(n_vertices, dtype=bool)
        for k in modifiers:
            moved[self.indices[bounds[2 * k]:bounds[2 * k + 2]].cpu().numpy()] = True
        return moved

    def offsets(self, weights: torch.Tensor, n_vertices: int) -> torch.Tensor:
        """Rest-surface offsets (B,V,3) of target weights (B,2M), differentiable in the weights. Only
        targets with a non-zero weight are summed, unless the weights need gradients (a zero
        modifier's gradient is not zero)."""
        weights = weights.to(self.deltas.dtype)
        out = weights.new_zeros(weights.shape[0], n_vertices, 3)
        if weights.requires_grad:
            entries = None
        else:
            active = torch.nonzero((weights != 0).any(0)).flatten().tolist()
            if not active:
                return out
            bounds = self.pointers.tolist()
            entries = torch.cat([torch.arange(bounds[t], bounds[t + 1], device=out.device) for t in active])
        index, deltas, column = (x if entries is None else x[entries] for x in (self.indices, self.deltas, self.column))
        return out.index_add(1, index, deltas[None] * weights[:, column, None])


def quantize_sparse(targets: torch.Tensor) -> dict[str, np.ndarray]:
    """Targets (T,V,3) -> the file's sparse arrays: ``offsets`` (T+1,) into ``indices`` (N,) int32 and
    ``deltas_q`` (N,3) int16, scaled per target and axis by ``scales`` (T,3)."""
    rows, indices, deltas, scales = [0], [], [], []
    for target in targets:
        touched = torch.nonzero(target.abs().amax(-1) > 0).flatten()
        scale = target[touched].abs().amax(0).clamp_min(1e-12) / 32767.0 if len(touched) else torch.ones(3)
        indices.append(touched.numpy().astype(np.int32))
        deltas.append(torch.round(target[touched] / scale).to(torch.int16).numpy())
        scales.append(scale.float().numpy())
        rows.append(rows[-1] + len(touched))
    return {"offsets": np.array(rows, dtype=np.int64), "indices": np.concatenate(indices),
            "deltas_q": np.concatenate(deltas), "scales": np.stack(scales)}


def load_modifiers(path: str | Path | None, n_vertices: int, bone_names: tuple[str, ...]) -> ModifierBasis:
    """Load and check a modifiers file (default: the shipped one) for a template of ``n_vertices``
    and a rig of ``bone_names``; :class:`ModifiersError` with a clear message otherwise."""
    path = Path(path) if path is not None else DEFAULT_MODIFIERS
    try:
        doc = read_file_document(path, "modifiers", MODIFIERS_FORMAT, MODIFIERS_VERSION)
        names = tuple(m.name for m in read_modifiers(path))
        arrays, meta = tensorfile.load(path)
    except (BundleHeaderError, tensorfile.TensorFileError, ValueError) as exc:
        raise ModifiersError(str(exc)) from exc
    if meta.get("sha256") != tensorfile.digest(arrays):
        raise ModifiersError(f"{path} is corrupt or was modified (checksum mismatch)")
    if doc.get("n_vertices") != n_vertices or tuple(doc.get("bone_names", ())) != tuple(bone_names):
        raise ModifiersError(f"{path} was built for another template or rig than this model's")
    offsets = arrays["offsets"].astype(np.int64)
    n_targets = 2 * len(names)
    if len(offsets) != n_targets + 1 or offsets[-1] != len(arrays["indices"]) \
            or arrays["heads_basis"].shape != (n_targets, len(bone_names), 3):
        raise ModifiersError(f"{path}: the targets do not match its modifier list")
    column = np.repeat(np.arange(n_targets), np.diff(offsets))
    deltas = arrays["deltas_q"].astype(np.float32) * arrays["scales"][column]
    indices = arrays["indices"].astype(np.int64)
    if len(indices) and (indices.min() < 0 or indices.max() >= n_vertices):
        raise ModifiersError(f"{path}: a target moves a vertex the template does not have")
    return ModifierBasis(names, torch.from_numpy(indices), torch.from_numpy(deltas), torch.from_numpy(column),
                         torch.from_numpy(offsets), torch.from_numpy(np.array(arrays["heads_basis"])).double(),
                         torch.from_numpy(np.array(arrays["orient_basis"])).double())
