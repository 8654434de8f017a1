"""The explicit layer: the teacher's own posed surface rebuilt in torch (batched, differentiable).

Rest vertices are the template plus a linear blend of 188 blendshapes (the teacher's 136 compact
phenotype rows, then its 52 facial actions); bone heads and orientation matrices are linear in the
same coefficients (orientations through a special Procrustes step, as the teacher's cached rig);
posing is :func:`~.kinematics.forward_kinematics` followed by sparse linear blend skinning with the
teacher's weights. Shapes: B bodies, V vertices, J bones, C = 136 shape rows, E = 52 facial actions.

Local shape changes (:mod:`.modifiers`, optional) add sparse vertex and bone blendshapes after those.
Shape comes either as named phenotypes (mapped to coefficients multilinearly on the teacher's anchor
grid: exact) or as the full shape code (C values; a code of K < C values is the neural bundle's beta,
the rest taken as zero). The layer's file is written by :mod:`imghum_blender.training.build_explicit`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..bundle import tensorfile
from ..bundle.header import BundleHeaderError, document_digest
from .kinematics import Skeleton, forward_kinematics, rest_frames
from .modifiers import ModifierBasis, split_values
from .rotations import rigid
from .shape_space import interpolate_grid

EXPLICIT_FORMAT = "imghum-explicit"
EXPLICIT_VERSION = 1
DEFAULT_EXPLICIT = Path(__file__).parents[1] / "data" / "explicit_v1.safetensors"
_INT16_MAX = 32767.0


class ExplicitError(BundleHeaderError):
    """An explicit-layer file that cannot be used (missing, corrupt, wrong version or shapes)."""


def quantize_rows(basis: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Blendshapes (R,V,3) as int16 codes (R,V,3) and float32 scales (R,3), one per row and axis
    (rounding error at most half a step: 1.5e-5 of the row's largest offset)."""
    scale = basis.abs().amax(1).clamp_min(1e-12) / _INT16_MAX
    codes = torch.round(basis / scale[:, None, :]).to(torch.int16)
    return codes.numpy(), scale.float().numpy()


def extends_beta(code_basis: torch.Tensor, beta_basis: torch.Tensor, tolerance: float = 1e-4) -> bool:
    """Whether a full shape code's first rows (C,C) are a bundle's beta basis (K,C), to ``tolerance``
    of its largest entry (the neural network's beta is then the code's first K components)."""
    old = beta_basis.double()
    return float((code_basis[:len(old)].double() - old).abs().max() / old.abs().max()) <= tolerance


def save_explicit(path: str | Path, tensors: dict[str, np.ndarray], doc: dict) -> None:
    """Write the layer's tensors with its JSON document and checksums."""
    text = json.dumps(doc)
    tensorfile.save(path, tensors, {"explicit": text, "document_sha256": document_digest(text),
                                    "sha256": tensorfile.digest(tensors)})


@dataclass
class ExplicitLayer:
    """The teacher's surface as tensors; see the module docstring for the maps.

    template (V,3), basis (C+E,V,3), faces (F,3) long, skin_indices (V,S) long, skin_weights (V,S),
    skeleton (a :class:`~.kinematics.Skeleton` over the C+E coefficients), coefficient_grid
    (n_1..n_6, C) on ``phenotype_nodes``, code_mean (C,), code_basis (C,C), code_projection (C,C);
    ``modifiers``: the local shape changes (the skeleton's bases then end with their bone rows).
    """

    template: torch.Tensor
    basis: torch.Tensor
    faces: torch.Tensor
    skin_indices: torch.Tensor
    skin_weights: torch.Tensor
    skeleton: Skeleton
    coefficient_grid: torch.Tensor
    phenotype_nodes: list[torch.Tensor]
    code_mean: torch.Tensor
    code_basis: torch.Tensor
    code_projection: torch.Tensor
    document: dict
    modifiers: ModifierBasis | None = None

    @property
    def shape_rows(self) -> int:
        """C, the number of compact phenotype blendshapes (the full shape code's size)."""
        return self.code_mean.shape[0]

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> "ExplicitLayer":
        """A copy with floating tensors in ``dtype`` and every tensor on ``device``."""
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if t.is_floating_point() and dtype else None)

        def keep(t: torch.Tensor) -> torch.Tensor:  # the shape code's maps and the rig stay float64
            return t.to(device=device)

        sk = self.skeleton
        skel = Skeleton(sk.names, keep(sk.parents), *(keep(getattr(sk, n)) for n in
                                                     ("ref_orient", "heads_mean", "heads_basis", "orient_mean",
                                                      "orient_basis")))
        mods = self.modifiers.to(dtype=dtype, device=device) if self.modifiers is not None else None
        return ExplicitLayer(move(self.template), move(self.basis), move(self.faces), move(self.skin_indices),
                             move(self.skin_weights), skel, keep(self.coefficient_grid),
                             [keep(n) for n in self.phenotype_nodes], keep(self.code_mean), keep(self.code_basis),
                             keep(self.code_projection), self.document, mods)

    def with_modifiers(self, modifiers: ModifierBasis) -> "ExplicitLayer":
        """This layer with local shape changes: their bone rows appended to the skeleton's bases."""
        sk = self.skeleton
        skel = Skeleton(sk.names, sk.parents, sk.ref_orient, sk.heads_mean,
                        torch.cat([sk.heads_basis, modifiers.heads.to(sk.heads_basis)]), sk.orient_mean,
                        torch.cat([sk.orient_basis, modifiers.orient.to(sk.orient_basis)]))
        return ExplicitLayer(self.template, self.basis, self.faces, self.skin_indices, self.skin_weights, skel,
                             self.coefficient_grid, self.phenotype_nodes, self.code_mean, self.code_basis,
                             self.code_projection, self.document, modifiers.to(dtype=self.basis.dtype))

    def rig_code(self, coefficients: torch.Tensor, expression: torch.Tensor,
                 modifiers: torch.Tensor | None = None) -> torch.Tensor:
        """The skeleton's coefficients (B, C+E[+2M]) in float64: shape, facial actions and, with
        modifiers, their target weights (``modifiers`` (B,M) values; None: all zero)."""
        dt = self.skeleton.heads_mean.dtype
        parts = [coefficients.to(dt), expression.to(dt)]
        if self.modifiers is not None:
            values = modifiers if modifiers is not None else coefficients.new_zeros(len(coefficients),
                                                                                   len(self.modifiers.names))
            parts.append(split_values(values.to(dt)))
        return torch.cat(parts, -1)

    # -- shape -> coefficients -------------------------------------------------------------------
    def coefficients_from_phenotypes(self, phenotypes: torch.Tensor) -> torch.Tensor:
        """Named phenotypes (B,6) in [0,1], in the document's order -> compact coefficients (B,C)
        (computed in float64, returned in the phenotypes' dtype)."""
        grid = self.coefficient_grid
        return interpolate_grid(grid, self.phenotype_nodes, phenotypes.to(grid.dtype)).to(phenotypes.dtype)

    def coefficients_from_code(self, code: torch.Tensor) -> torch.Tensor:
        """Shape code (B,K), K <= C (the first K components; a neural beta is its first rows) -> (B,C)
        (computed in float64: the map is ill-conditioned; returned in the code's dtype)."""
        basis = self.code_basis[:code.shape[-1]]
        return (self.code_mean + code.to(basis.dtype) @ basis).to(code.dtype)

    def code_from_coefficients(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Compact coefficients (B,C) -> the full shape code (B,C) (exact inverse, in float64, returned
        in the coefficients' dtype)."""
        mean = self.code_mean
        return ((coefficients.to(mean.dtype) - mean) @ self.code_projection).to(coefficients.dtype)

    # -- surface -------------------------------------------------------------------------------------
    def rest(self, coefficients: torch.Tensor, expression: torch.Tensor,
             modifiers: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Rest vertices (B,V,3) in the coefficients' dtype, bone orientations (B,J,3,3) and heads
        (B,J,3) in float64 (the smallest bodies' bones need it) for shape coefficients (B,C), facial
        actions (B,E) and modifier values (B,M) (None: none)."""
        coeffs = torch.cat([coefficients, expression.to(coefficients.dtype)], -1)
        basis = self.basis.to(coeffs.dtype)
        verts = self.template.to(coeffs.dtype) + torch.einsum("br,rvc->bvc", coeffs, basis)
        code = self.rig_code(coefficients, expression, modifiers)
        if self.modifiers is not None and modifiers is not None:
            verts = verts + self.modifiers.offsets(code[:, coeffs.shape[1]:], verts.shape[1]).to(verts.dtype)
        rot, heads = rest_frames(self.skeleton, code, proper=True)
        return verts, rot, heads

    def posed(self, coefficients: torch.Tensor, expression: torch.Tensor, pose: torch.Tensor,
              root_translation: torch.Tensor,
              modifiers: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posed vertices (B,V,3) and bone frames (B,J,4,4) for coefficients (B,C), facial actions
        (B,E), pose deltas (B,J,3,3), root translations (B,3) and modifier values (B,M) (None: none)."""
        verts, rot, heads = self.rest(coefficients, expression, modifiers)
        frames = forward_kinematics(self.skeleton, rot, heads, pose.to(rot.dtype), root_translation.to(rot.dtype))
        rest_frames_ = rigid(rot, heads)
        dt = verts.dtype
        return skin(verts, rest_frames_.to(dt), frames.to(dt), self.skin_indices, self.skin_weights), frames.to(dt)


def skin(rest_vertices: torch.Tensor, rest_frames_: torch.Tensor, posed_frames: torch.Tensor,
         indices: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Sparse linear blend skinning: rest vertices (B,V,3), rest and posed bone frames (B,J,4,4),
    per-vertex bone indices and weights (V,S) -> posed vertices (B,V,3)."""
    transforms = (posed_frames @ torch.linalg.inv(rest_frames_))[..., :3, :].flatten(-2)  # (B,J,12)
    weights = weights.to(transforms.dtype)
    blended = sum(weights[:, s, None] * transforms[:, indices[:, s]] for s in range(indices.shape[1]))
    blended = blended.unflatten(-1, (3, 4))  # (B,V,3,4), one bone column at a time: no (B,V,S,4,4) copy
    return torch.einsum("bvij,bvj->bvi", blended[..., :3], rest_vertices) + blended[..., 3]


_REQUIRED = {"template": 2, "vertex_basis_q": 3, "vertex_basis_scale": 2, "faces": 2, "skin_indices": 2,
             "skin_weights": 2, "bone_parents": 1, "ref_orient": 3, "heads_mean": 2, "heads_basis": 3,
             "orient_mean": 3, "orient_basis": 4, "code_mean": 1, "code_basis": 2, "code_projection": 2}


def load_explicit(path: str | Path | None = None) -> ExplicitLayer:
    """Load and check the explicit layer's file (default: the shipped one); :class:`ExplicitError`."""
    path = Path(path) if path is not None else DEFAULT_EXPLICIT
    try:
        arrays, meta = tensorfile.load(path)
    except tensorfile.TensorFileError as exc:
        raise ExplicitError(str(exc)) from exc
    text = meta.get("explicit", "")
    if meta.get("document_sha256") != document_digest(text) or meta.get("sha256") != tensorfile.digest(arrays):
        raise ExplicitError(f"{path} is corrupt or was modified (checksum mismatch)")
    doc = json.loads(text)
    if doc.get("format") != EXPLICIT_FORMAT or doc.get("format_version") != EXPLICIT_VERSION:
        raise ExplicitError(f"{path} is not an explicit-layer file of version {EXPLICIT_VERSION}")
    for name, ndim in _REQUIRED.items():
        if name not in arrays or arrays[name].ndim != ndim:
            raise ExplicitError(f"{path} lacks tensor {name!r} or has the wrong shape")
    t = {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}
    basis = t["vertex_basis_q"].float() * t["vertex_basis_scale"][:, None, :]
    skel = Skeleton(names=tuple(doc["bone_names"]), parents=t["bone_parents"].long(),
                    ref_orient=t["ref_orient"].double(), heads_mean=t["heads_mean"].double(),
                    heads_basis=t["heads_basis"].double(), orient_mean=t["orient_mean"].double(),
                    orient_basis=t["orient_basis"].double())
    layer = ExplicitLayer(template=t["template"], basis=basis, faces=t["faces"].long(),
                          skin_indices=t["skin_indices"].long(), skin_weights=t["skin_weights"], skeleton=skel,
                          coefficient_grid=t["coefficient_grid"],
                          phenotype_nodes=[torch.tensor(n, dtype=torch.float64) for n in doc["phenotype_nodes"]],
                          code_mean=t["code_mean"], code_basis=t["code_basis"], code_projection=t["code_projection"],
                          document=doc)
    rows = layer.shape_rows + len(doc["expression_names"])
    if basis.shape[0] != rows or skel.heads_basis.shape[0] != rows or layer.code_basis.shape != (rows - len(
            doc["expression_names"]),) * 2:
        raise ExplicitError(f"{path}: blendshape, skeleton and shape-code sizes do not agree")
    return layer
