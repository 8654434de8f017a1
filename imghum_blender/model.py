"""Public model object: latents, SDF + semantics queries and mesh extraction."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .bundle import Bundle, load_bundle
from .kinematics import forward_kinematics, rest_frames
from .network import PartGrid
from .rotations import matrix_to_6d, rotvec_to_matrix


class LatentError(ValueError):
    """Latents that cannot be used (NaN, out of range, wrong size or unknown names)."""


@dataclass
class Latents:
    """A batch of B bodies: beta (B,K), expression (B,E) in [0,1], pose deltas (B,J,3,3) in the
    teacher's 'local-ref' parameterization, root translation (B,3) in meters."""

    beta: torch.Tensor
    expression: torch.Tensor
    pose: torch.Tensor
    root_translation: torch.Tensor

    @property
    def batch_size(self) -> int:
        """B."""
        return self.beta.shape[0]

    def detach(self) -> "Latents":
        """A copy cut from the autograd graph."""
        return Latents(*(t.detach() for t in (self.beta, self.expression, self.pose, self.root_translation)))


@dataclass
class BodyState:
    """Per-batch quantities derived from latents once, reused by every query of those bodies."""

    frames: torch.Tensor
    films: list[torch.Tensor]
    grid: PartGrid


def _as_tensor(value, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
    if not t.is_floating_point():
        t = t.double()
    if not torch.isfinite(t).all():
        raise LatentError(f"{name} contains NaN or infinite values")
    return t


class Model:
    """An implicit body model loaded from a bundle (see :func:`load_model`)."""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.vocabulary = bundle.vocabulary
        self.skeleton = bundle.skeleton
        self.network = bundle.build_network()
        self._levels = self.skeleton.levels
        self.template_vertices = bundle.tensors["template_vertices"]
        self.template_faces = bundle.tensors["template_faces"].long()
        self.dtype = torch.float32
        self._template_surface = None
        self._bone_directions = None
        self._part_geometry = None

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> "Model":
        """Move the network and skeleton to ``dtype`` (e.g. float64 for gradient checks) and/or
        ``device``; the skeleton's integer parents keep their dtype."""
        import dataclasses

        sk = self.skeleton

        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if t.is_floating_point() else None)

        self.skeleton = dataclasses.replace(sk, **{f.name: move(getattr(sk, f.name)) for f in dataclasses.fields(sk)
                                                   if isinstance(getattr(sk, f.name), torch.Tensor)})
        self.network.to(device=device, dtype=dtype)
        self.dtype = dtype or self.dtype
        return self

    @property
    def template_surface(self):
        """Nearest-triangle index of the canonical template (built on first use)."""
        if self._template_surface is None:
            from .correspondence import TemplateSurface

            self._template_surface = TemplateSurface(self.template_vertices.numpy(), self.template_faces.numpy(),
                                                     self.bundle.tensors["template_face_uvs"].numpy())
        return self._template_surface

    @property
    def bone_directions(self) -> tuple[np.ndarray, np.ndarray]:
        """Fixed armature bone axes (y along the bone, z for the roll), see :mod:`.rig`."""
        if self._bone_directions is None:
            from .rig import bone_directions

            self._bone_directions = bone_directions(self)
        return self._bone_directions

    @property
    def part_geometry(self):
        """Part capsules and region weights on the template for :mod:`.edits` (built on first use)."""
        if self._part_geometry is None:
            from .edits import PartGeometry

            self._part_geometry = PartGeometry(self)
        return self._part_geometry

    # -- latents -------------------------------------------------------------------------------
    def latents(self, beta=None, phenotypes=None, expression=None, pose=None,
                root_translation=None) -> Latents:
        """Validated latents; defaults: the mean body (beta = 0, the template's shape), a neutral face
        and the teacher's rest pose (identity deltas).

        beta: (K,) or (B,K). phenotypes: dict name -> value(s) in [0,1] (unset names take the
        vocabulary defaults), exclusive with beta. expression: (E,)/(B,E) or dict name -> value in [0,1].
        pose: (J,4,4)/(B,J,4,4) teacher 'local-ref' deltas (root translation included),
        (J,3,3)/(B,J,3,3) rotations, (J,3)/(B,J,3) rotation vectors, or dict bone -> rotvec/matrix.
        """
        voc = self.vocabulary
        k, e, j = voc.beta_size, len(voc.expression_names), len(voc.bone_names)
        if beta is not None and phenotypes is not None:
            raise LatentError("give either beta or phenotypes, not both")
        if phenotypes is not None:
            unknown = set(phenotypes) - set(voc.phenotype_names)
            if unknown:
                raise LatentError(f"unknown phenotypes {sorted(unknown)}; known: {list(voc.phenotype_names)}")
            cols = [_as_tensor(phenotypes.get(n, voc.phenotype_defaults.get(n, 0.5)), f"phenotype {n}").reshape(-1)
                    for n in voc.phenotype_names]
            bsz = max(c.shape[0] for c in cols)
            phen = torch.stack([c.expand(bsz) for c in cols], -1)
            if (phen < 0).any() or (phen > 1).any():
                raise LatentError("phenotype values must lie in [0, 1]")
            beta_t = self.bundle.beta_from_phenotypes(phen)
        elif beta is not None:
            beta_t = _as_tensor(beta, "beta")
            beta_t = beta_t.reshape(1, -1) if beta_t.dim() == 1 else beta_t
            if beta_t.dim() != 2 or beta_t.shape[1] != k:
                raise LatentError(f"beta must have {k} values per body, got shape {tuple(beta_t.shape)}")
            if beta_t.abs().max() > voc.beta_limit:
                raise LatentError(f"beta values must lie within +-{voc.beta_limit} (standard deviations)")
        else:
            beta_t = torch.zeros(1, k)
        expr_t = self._expression(expression, e)
        rot, trans = self._pose(pose, j)
        bsz = max(beta_t.shape[0], expr_t.shape[0], rot.shape[0])
        for name, t in (("beta", beta_t), ("expression", expr_t), ("pose", rot)):
            if t.shape[0] not in (1, bsz):
                raise LatentError(f"{name} has batch size {t.shape[0]}, expected 1 or {bsz}")
        if root_translation is not None:
            trans = _as_tensor(root_translation, "root_translation").reshape(-1, 3)
        dt = self.dtype
        return Latents(beta_t.expand(bsz, -1).to(dt), expr_t.expand(bsz, -1).to(dt),
                       rot.expand(bsz, -1, -1, -1).to(dt), trans.expand(bsz, -1).to(dt))

    def _expression(self, expression, e: int) -> torch.Tensor:
        names = self.vocabulary.expression_names
        if expression is None:
            return torch.zeros(1, e)
        if isinstance(expression, dict):
            unknown = set(expression) - set(names)
            if unknown:
                raise LatentError(f"unknown facial actions {sorted(unknown)}")
            cols = [_as_tensor(expression.get(n, 0.0), f"expression {n}").reshape(-1) for n in names]
            bsz = max(c.shape[0] for c in cols)
            t = torch.stack([c.expand(bsz) for c in cols], -1)
        else:
            t = _as_tensor(expression, "expression")
            t = t.reshape(1, -1) if t.dim() == 1 else t
            if t.dim() != 2 or t.shape[1] != e:
                raise LatentError(f"expression must have {e} values per body, got shape {tuple(t.shape)}")
        if (t < 0).any() or (t > 1).any():
            raise LatentError("facial action values must lie in [0, 1]")
        return t

    def _pose(self, pose, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        names = self.vocabulary.bone_names
        zero_t = torch.zeros(1, 3)
        if pose is None:
            return torch.eye(3).expand(1, j, 3, 3), zero_t
        if isinstance(pose, dict):
            unknown = set(pose) - set(names)
            if unknown:
                raise LatentError(f"unknown bones {sorted(unknown)}")
            rot = torch.eye(3).repeat(1, j, 1, 1)
            for name, value in pose.items():
                v = _as_tensor(value, f"pose {name}")
                rot[0, names.index(name)] = rotvec_to_matrix(v) if v.shape == (3,) else v.reshape(3, 3)
            return self._check_rotations(rot), zero_t
        t = _as_tensor(pose, "pose")
        if t.dim() in (2, 3) and t.shape[0] == j:
            t = t[None]
        shape = f"(B,{j},4,4), (B,{j},3,3) or (B,{j},3)"
        if t.dim() < 3 or t.shape[1] != j:
            raise LatentError(f"pose must be {shape}; got {tuple(t.shape)}")
        if t.dim() == 3 and t.shape[-1] == 3:
            return rotvec_to_matrix(t), zero_t
        if t.dim() == 4 and t.shape[-2:] == (4, 4):
            return self._check_rotations(t[..., :3, :3]), t[:, 0, :3, 3]
        if t.dim() == 4 and t.shape[-2:] == (3, 3):
            return self._check_rotations(t), zero_t
        raise LatentError(f"pose must be {shape}; got {tuple(t.shape)}")

    @staticmethod
    def _check_rotations(rot: torch.Tensor) -> torch.Tensor:
        eye = torch.eye(3, dtype=rot.dtype)
        if ((rot @ rot.transpose(-1, -2) - eye).abs().max() > 1e-3) or (torch.det(rot) < 0).any():
            raise LatentError("pose matrices must be rotations")
        return rot

    # -- evaluation ----------------------------------------------------------------------------
    def bone_frames(self, lat: Latents) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Posed frames W (B,J,4,4), rest rotations (B,J,3,3) and rest heads (B,J,3)."""
        dt = self.dtype
        code = torch.cat([lat.beta, lat.expression], -1).to(dt)
        rest_rot, heads = rest_frames(self.skeleton, code)
        frames = forward_kinematics(self.skeleton, rest_rot, heads, lat.pose.to(dt),
                                    lat.root_translation.to(dt), self._levels)
        return frames, rest_rot, heads

    def prepare(self, lat: Latents, grid_cells: int = 40) -> BodyState:
        """Frames, per-part modulations and the part-candidate grid for a batch of bodies (reuse
        across many queries; ``grid_cells`` per axis: finer pays off for large queries)."""
        frames, rest_rot, _ = self.bone_frames(lat)
        parents = self.skeleton.parents.clamp_min(0)
        rest_rel = rest_rot[:, parents].transpose(-1, -2) @ rest_rot
        posed = frames[..., :3, :3]
        posed_rel = posed[:, parents].transpose(-1, -2) @ posed
        delta = rest_rel.transpose(-1, -2) @ posed_rel
        rel6d = matrix_to_6d(delta) - matrix_to_6d(torch.eye(3, dtype=delta.dtype))
        films = self.network.conditioning(lat.beta.to(self.dtype), rel6d, lat.expression.to(self.dtype))
        return BodyState(frames, films, self.network.candidate_grid(frames, grid_cells))

    def query(self, points, lat: Latents, chunk: int = 200_000, state: BodyState | None = None):
        """Signed distance (meters, negative inside) and semantics (template point) of points.

        points: (N,3) for every body or (B,N,3); torch or numpy. Returns (N,)/(N,3) for B == 1
        with (N,3) points, else (B,N)/(B,N,3); numpy in -> numpy out. Differentiable w.r.t.
        points and latents when given torch tensors.
        """
        as_numpy = isinstance(points, np.ndarray)
        pts = torch.as_tensor(points).to(self.dtype)
        squeeze = pts.dim() == 2
        if squeeze:
            pts = pts[None].expand(lat.batch_size, -1, -1)
        state = state or self.prepare(lat)
        sdf_parts, sem_parts = [], []
        for start in range(0, pts.shape[1], chunk):
            s, c = self.network(pts[:, start:start + chunk], state.frames, state.films, state.grid)
            sdf_parts.append(s)
            sem_parts.append(c)
        sdf, sem = torch.cat(sdf_parts, 1), torch.cat(sem_parts, 1)
        if squeeze and lat.batch_size == 1:
            sdf, sem = sdf[0], sem[0]
        if as_numpy:
            return sdf.detach().numpy(), sem.detach().numpy()
        return sdf, sem

    def bounds(self, lat: Latents, margin: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned box (lo, hi) around body 0 from its posed part boxes, plus ``margin``."""
        with torch.no_grad():
            frames = self.bone_frames(lat)[0][0]
        net = self.network
        f = frames[net.main]
        signs = torch.tensor([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=f.dtype)
        corners = net.center[:, None] + signs * net.core_half[:, None]
        world = torch.einsum("pcd,pkd->pkc", f[:, :3, :3], corners) + f[:, None, :3, 3]
        world = world.reshape(-1, 3).numpy()
        return world.min(0) - margin, world.max(0) + margin

    def mesh(self, lat: Latents, resolution: int = 256, **kwargs):
        """Extract the zero level set of body 0 (see :func:`imghum_blender.meshing.extract_mesh`)."""
        from .meshing import extract_mesh

        return extract_mesh(self, lat, resolution=resolution, **kwargs)


def load_model(path: str | Path | None = None) -> Model:
    """Load a model bundle (default: the shipped model)."""
    return Model(load_bundle(path))

