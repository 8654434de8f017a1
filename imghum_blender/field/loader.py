"""The model bundle: one versioned tensor file with weights, skeleton, shape space, template, spec.

Everything loads without pickle (see :mod:`tensorfile`). The file's metadata holds a JSON
document (format version, latent spec, parts, provenance), its SHA-256 and a SHA-256 of the tensor
data, so a truncated, tampered or malformed file fails with a clear message instead of producing a
wrong body.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..bundle import tensorfile
from ..bundle.header import DEFAULT_BUNDLE, FORMAT, FORMAT_VERSION, BundleHeaderError, document_digest, read_document
from .kinematics import Skeleton
from .network import ImplicitBody, PartSpec
from .shape_space import fit_phenotypes, interpolate_grid
from ..bundle.vocabulary import Vocabulary, VocabularyError

class BundleError(BundleHeaderError):
    """A model bundle that cannot be used (missing, truncated, tampered, wrong version/shapes)."""


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
            try:
                missing, unexpected = net.load_state_dict(state, strict=False)
            except RuntimeError as exc:
                detail = str(exc).splitlines()[-1].strip()
                raise BundleError(f"bundle weights do not match its parts: {detail}") from exc
            missing = [m for m in missing if m != "template_frames"]
            if missing or unexpected:
                raise BundleError(f"bundle weights do not match its parts: missing {missing[:3]}, "
                                  f"unexpected {unexpected[:3]}")
        net.template_frames.copy_(self.tensors["template_part_frames"])
        return net.eval()

    def with_parts(self, parts: list[PartSpec], info: dict,
                   fresh: tuple[str, ...] = ()) -> tuple["Bundle", ImplicitBody]:
        """A copy with new part specs (boxes, detail networks) that keeps every trained weight: the part
        networks, and the detail networks of parts not named in ``fresh`` (those start untrained).
        Returns the bundle and its network, to save together."""
        old = self.build_network()
        net = ImplicitBody(parts, self.vocabulary.beta_size, len(self.vocabulary.expression_names),
                           softmin_k=old.softmin_k)
        net.nets.load_state_dict(old.nets.state_dict())
        for key, detail in old.details.items():
            if parts[int(key)].name not in fresh:
                net.details[key].load_state_dict(detail.state_dict())
        net.template_frames.copy_(old.template_frames)
        tensors = {k: v for k, v in self.tensors.items() if not k.startswith("net.")}
        return Bundle(self.vocabulary, parts, self.skeleton, tensors, info), net

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
        text = json.dumps(doc)
        tensorfile.save(path, arrays, {"bundle": text, "document_sha256": document_digest(text),
                                       "sha256": tensorfile.digest(arrays)})


_REQUIRED = {
    "template_vertices": 2, "template_faces": 2, "template_uvs": 2, "template_face_uvs": 2,
    "template_parts": 1, "skin_indices": 2, "skin_weights": 2, "template_part_frames": 3,
    "coeff_mean": 1, "beta_projection": 2, "phenotype_grid": 7,
}


def load_bundle(path: str | Path | None = None) -> Bundle:
    """Load and validate a bundle (default: the shipped model). Raises :class:`BundleError`."""
    path = Path(path) if path is not None else DEFAULT_BUNDLE
    if path.is_dir():
        raise BundleError(f"{path} is a directory, not a model bundle")
    if not path.is_file():
        raise BundleError(f"model bundle not found: {path}")
    try:
        doc = read_document(path)
        arrays, meta = tensorfile.load(path)
    except (BundleHeaderError, tensorfile.TensorFileError) as exc:
        raise BundleError(str(exc)) from exc
    if meta.get("sha256") != tensorfile.digest(arrays):
        raise BundleError(f"{path} is corrupt or was modified (checksum mismatch)")
    try:
        vocabulary = Vocabulary.from_document(doc)
    except VocabularyError as exc:
        raise BundleError(f"{path}: {exc}") from exc
    for name, ndim in _REQUIRED.items():
        if name not in arrays or arrays[name].ndim != ndim:
            raise BundleError(f"{path} lacks tensor {name!r} or has the wrong shape")
    skel = _skeleton(path, arrays, vocabulary)
    tensors = {}
    for name, a in arrays.items():
        t = torch.from_numpy(np.array(a))
        tensors[name] = t.float() if t.is_floating_point() and not name.startswith("net.") else t
    if tensors["template_vertices"].shape[1] != 3 or tensors["beta_projection"].shape[1] != vocabulary.beta_size:
        raise BundleError(f"{path}: template or shape-space shapes do not match the latent spec")
    parts = _parts(path, doc.get("parts"), len(vocabulary.bone_names))
    info = _info(path, doc.get("info", {}), vocabulary, tuple(tensors["phenotype_grid"].shape))
    return Bundle(vocabulary=vocabulary, parts=parts, skeleton=skel, tensors=tensors, info=info)


def _skeleton(path: Path, arrays: dict[str, np.ndarray], vocabulary: Vocabulary) -> Skeleton:
    """The skeleton tensors (popped from ``arrays``), checked against the latent spec."""
    names = ("parents", "ref_orient", "heads_mean", "heads_basis", "orient_mean", "orient_basis")
    if any(f"skel.{n}" not in arrays for n in names):
        raise BundleError(f"{path} lacks its skeleton tensors")
    t = {n: torch.from_numpy(arrays.pop(f"skel.{n}")) for n in names}
    skel = Skeleton(names=vocabulary.bone_names, parents=t.pop("parents").long(),
                    **{n: v.float() for n, v in t.items()})
    j, k = len(vocabulary.bone_names), vocabulary.beta_size + len(vocabulary.expression_names)
    if skel.parents.shape != (j,) or skel.heads_basis.shape != (k, j, 3) or skel.orient_basis.shape != (k, j, 3, 3) \
            or skel.ref_orient.shape != (j, 3, 3) or skel.heads_mean.shape != (j, 3) \
            or skel.orient_mean.shape != (j, 3, 3):
        raise BundleError(f"{path}: skeleton shapes do not match the latent spec")
    if any(not -1 <= int(p) < c for c, p in enumerate(skel.parents)) or int(skel.parents[0]) != -1:
        raise BundleError(f"{path}: the skeleton's parents must precede their children (root first)")
    return skel


def _parts(path: Path, docs, n_bones: int) -> list[PartSpec]:
    """The document's part list as :class:`PartSpec` objects; BundleError naming a malformed part."""
    if not isinstance(docs, list) or not docs:
        raise BundleError(f"{path}: the bundle document has no part list")
    parts = []
    for i, d in enumerate(docs):
        try:
            part = PartSpec.from_json(d)
            ok = (all(0 <= b < n_bones for b in (*part.bones, part.main, *part.cond_bones))
                  and len(part.box_lo) == len(part.box_hi) == 3
                  and all(math.isfinite(x) and x < y for x, y in zip(part.box_lo, part.box_hi))
                  and part.width > 0 and part.n_freq >= 0 and math.isfinite(part.pad) and part.pad >= 0
                  and min(part.detail_width, part.detail_depth, part.detail_freq) >= 0)
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{path}: part {i} of the bundle document is malformed ({type(exc).__name__}: "
                              f"{exc})") from exc
        if not ok:
            raise BundleError(f"{path}: part {i} ({part.name}) has bones, box or sizes out of range")
        parts.append(part)
    return parts


def _info(path: Path, info, vocabulary: Vocabulary, grid_shape: tuple[int, ...]) -> dict:
    """The document's provenance and runtime settings, with the entries the runtime reads checked."""
    if not isinstance(info, dict):
        raise BundleError(f"{path}: the bundle document's info must be a JSON object")
    nodes = info.get("phenotype_nodes")
    try:
        sizes = tuple(len(n) for n in nodes) + (vocabulary.beta_size,)
        ok = len(nodes) == len(vocabulary.phenotype_names) and sizes == grid_shape \
            and all(all(math.isfinite(x) for x in n) and list(n) == sorted(set(n)) for n in nodes)
    except TypeError:
        ok = False
    if not ok:
        raise BundleError(f"{path}: the bundle's phenotype grid nodes are missing or do not match its grid")
    k = info.get("softmin_k", 0.003)
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k < 0.1:
        raise BundleError(f"{path}: softmin_k must be a number in (0, 0.1) meters, got {k!r}")
    return info
