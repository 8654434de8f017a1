"""The model bundle: one versioned tensor file with weights, skeleton, shape space, template, spec.

Everything loads without pickle (see :mod:`tensorfile`). The file's metadata holds a JSON
document (format version, latent spec, parts, provenance) and a SHA-256 of the tensor data, so
a truncated or tampered file fails with a clear message instead of producing a wrong body.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import tensorfile
from .bundle_info import DEFAULT_BUNDLE, FORMAT, FORMAT_VERSION, BundleHeaderError, read_document
from .kinematics import Skeleton
from .network import ImplicitBody, PartSpec
from .shape_space import fit_phenotypes, interpolate_grid
from .vocabulary import Vocabulary



class BundleError(BundleHeaderError):
    """A model bundle that cannot be used (missing, truncated, tampered, wrong version/shapes)."""


def _digest(tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(np.ascontiguousarray(tensors[name]).tobytes())
    return h.hexdigest()


@dataclass
class Bundle:
    """Everything the runtime needs; tensors are torch float32 unless noted."""

    vocabulary: Vocabulary
    parts: list[PartSpec]
    skeleton: Skeleton
    tensors: dict[str, torch.Tensor]
    info: dict = field(default_factory=dict)

    # -- shape space -------------------------------------------------------------------------
    @property
    def phenotype_nodes(self) -> list[torch.Tensor]:
        """Per-phenotype grid nodes of the phenotype -> beta map."""
        return [torch.tensor(v) for v in self.info["phenotype_nodes"]]

    def beta_from_phenotypes(self, phen: torch.Tensor) -> torch.Tensor:
        """Named phenotypes (B,6) in [0,1], in ``vocabulary.phenotype_names`` order -> beta (B,K)."""
        return interpolate_grid(self.tensors["phenotype_grid"].to(phen.dtype), self.phenotype_nodes, phen)

    def phenotypes_from_beta(self, beta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Best-fitting named phenotypes (dict of (B,)) for beta (B,K)."""
        phen = fit_phenotypes(self.tensors["phenotype_grid"], self.phenotype_nodes, beta.detach().float())
        return {name: phen[:, i] for i, name in enumerate(self.vocabulary.phenotype_names)}

    def beta_from_coefficients(self, coeffs: torch.Tensor) -> torch.Tensor:
        """Teacher phenotype blendshape coefficients (B,C) -> beta (B,K) (vertex-metric projection)."""
        return (coeffs - self.tensors["coeff_mean"]) @ self.tensors["beta_projection"]

    # -- construction --------------------------------------------------------------------------
    def build_network(self, fresh: bool = False) -> ImplicitBody:
        """The part networks with this bundle's weights (float32, eval mode); ``fresh``: untrained."""
        net = ImplicitBody(self.parts, self.vocabulary.beta_size, len(self.vocabulary.expression_names),
                           softmin_k=float(self.info.get("softmin_k", 0.003)))
        state = {} if fresh else {k[len("net."):]: v.float() for k, v in self.tensors.items() if k.startswith("net.")}
        if state:
            missing, unexpected = net.load_state_dict(state, strict=False)
            missing = [m for m in missing if m != "template_frames"]
            if missing or unexpected:
                raise BundleError(f"bundle weights do not match its parts: missing {missing[:3]}, "
                                  f"unexpected {unexpected[:3]}")
        net.template_frames.copy_(self.tensors["template_part_frames"])
        return net.eval()

    def save(self, path: str | Path, network: ImplicitBody | None = None) -> None:
        """Write the bundle (network weights in float16) to ``path``."""
        arrays = {k: v.detach().cpu().numpy() for k, v in self.tensors.items() if not k.startswith("net.")}
        if network is not None:
            for k, v in network.state_dict().items():
                if k != "template_frames":
                    arrays["net." + k] = v.detach().cpu().half().numpy()
        else:
            arrays.update({k: v.numpy() for k, v in self.tensors.items() if k.startswith("net.")})
        sk = self.skeleton
        arrays.update({"skel.parents": sk.parents.numpy().astype(np.int64), "skel.ref_orient": sk.ref_orient.numpy(),
                       "skel.heads_mean": sk.heads_mean.numpy(), "skel.heads_basis": sk.heads_basis.numpy(),
                       "skel.orient_mean": sk.orient_mean.numpy(), "skel.orient_basis": sk.orient_basis.numpy()})
        doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "spec": self.vocabulary.to_document(),
               "parts": [p.to_json() for p in self.parts], "info": self.info}
        tensorfile.save(path, arrays, {"bundle": json.dumps(doc), "sha256": _digest(arrays)})


_REQUIRED = {
    "template_vertices": 2, "template_faces": 2, "template_uvs": 2, "template_face_uvs": 2,
    "template_parts": 1, "skin_indices": 2, "skin_weights": 2, "template_part_frames": 3,
    "coeff_mean": 1, "beta_projection": 2, "phenotype_grid": 7,
}


def load_bundle(path: str | Path | None = None) -> Bundle:
    """Load and validate a bundle (default: the shipped model). Raises :class:`BundleError`."""
    path = Path(path) if path is not None else DEFAULT_BUNDLE
    if not path.is_file():
        raise BundleError(f"model bundle not found: {path}")
    try:
        doc = read_document(path)
        arrays, meta = tensorfile.load(path)
    except (BundleHeaderError, tensorfile.TensorFileError) as exc:
        raise BundleError(str(exc)) from exc
    if meta.get("sha256") != _digest(arrays):
        raise BundleError(f"{path} is corrupt or was modified (checksum mismatch)")
    for name, ndim in _REQUIRED.items():
        if name not in arrays or arrays[name].ndim != ndim:
            raise BundleError(f"{path} lacks tensor {name!r} or has the wrong shape")
    vocabulary = Vocabulary.from_document(doc)
    j = len(vocabulary.bone_names)
    skel = Skeleton(
        names=vocabulary.bone_names,
        parents=torch.from_numpy(arrays.pop("skel.parents")).long(),
        ref_orient=torch.from_numpy(arrays.pop("skel.ref_orient")).float(),
        heads_mean=torch.from_numpy(arrays.pop("skel.heads_mean")).float(),
        heads_basis=torch.from_numpy(arrays.pop("skel.heads_basis")).float(),
        orient_mean=torch.from_numpy(arrays.pop("skel.orient_mean")).float(),
        orient_basis=torch.from_numpy(arrays.pop("skel.orient_basis")).float(),
    )
    k = vocabulary.beta_size + len(vocabulary.expression_names)
    if skel.parents.shape != (j,) or skel.heads_basis.shape != (k, j, 3) or skel.orient_basis.shape != (k, j, 3, 3):
        raise BundleError(f"{path}: skeleton shapes do not match the latent spec")
    tensors = {}
    for name, a in arrays.items():
        t = torch.from_numpy(np.array(a))
        tensors[name] = t.float() if t.is_floating_point() and not name.startswith("net.") else t
    if tensors["template_vertices"].shape[1] != 3 or tensors["beta_projection"].shape[1] != vocabulary.beta_size:
        raise BundleError(f"{path}: template or shape-space shapes do not match the latent spec")
    parts = [PartSpec.from_json(p) for p in doc["parts"]]
    return Bundle(vocabulary=vocabulary, parts=parts, skeleton=skel, tensors=tensors, info=doc.get("info", {}))
