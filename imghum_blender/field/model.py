"""Public model object: latents, SDF + semantics queries and mesh extraction, over one of two field
backends: ``neural`` (the imGHUM part network of the bundle) or ``exact`` (the teacher's own surface
from :mod:`.explicit`, with exact signed distance and semantics from :mod:`.exact`)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from . import exact
from .explicit import DEFAULT_EXPLICIT, ExplicitLayer, extends_beta, load_explicit
from .loader import Bundle, load_bundle
from .kinematics import forward_kinematics, rest_frames
from .latents import LatentError, Latents, make_latents
from .modifiers import load_modifiers
from .network import PartGrid
from .rotations import matrix_to_6d
from ..bundle.vocabulary import DEFAULT_MODIFIERS, FIELD_BACKENDS, read_modifiers


class BoneFrames(NamedTuple):
    """Bone frames of a batch: posed W (B,J,4,4), rest rotations (B,J,3,3), rest heads (B,J,3)."""

    posed: torch.Tensor
    rest_rotations: torch.Tensor
    rest_heads: torch.Tensor


@dataclass
class BodyState:
    """Per-batch quantities derived from latents once, reused by every query of those bodies."""

    frames: torch.Tensor
    films: list[torch.Tensor]
    grid: PartGrid | None


def _points(points, batch_size: int) -> torch.Tensor:
    """Query points as a tensor (N,3) or (1|B,N,3); ValueError naming a wrong shape or NaN."""
    if isinstance(points, torch.Tensor):
        pts = points
    else:
        try:
            arr = np.asarray(points)
            pts = torch.as_tensor(arr if arr.dtype.kind in "fiu" else arr.astype(np.float64))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"points must be an array of numbers, got {type(points).__name__}") from exc
    pts = pts if pts.is_floating_point() else pts.double()
    ok = (pts.dim() == 2 or (pts.dim() == 3 and pts.shape[0] in (1, batch_size))) and pts.shape[-1] == 3
    if not ok:
        raise ValueError(f"points must have shape (N,3) or ({batch_size},N,3); got {tuple(pts.shape)}")
    if not torch.isfinite(pts.detach()).all():
        raise ValueError("points contain NaN or infinite coordinates")
    return pts




class ExplicitMismatch(ValueError):
    """An explicit layer built for another bundle (its shape code does not extend the bundle's beta)."""


class Model:
    """An implicit body model loaded from a bundle (see :func:`load_model`); with an explicit layer
    its field is ``exact`` (the teacher's surface), else ``neural`` (the bundle's network)."""

    def __init__(self, bundle: Bundle, explicit: ExplicitLayer | None = None):
        self.bundle = bundle
        self.explicit = explicit
        self.field = "exact" if explicit is not None else "neural"
        if explicit is not None:
            if not extends_beta(explicit.code_basis, bundle.tensors["beta_basis"]) \
                    or explicit.skeleton.names != bundle.skeleton.names:
                raise ExplicitMismatch("the explicit layer does not extend this bundle's shape code (built for another "
                                 "bundle); load it with field='neural'")
        self.vocabulary = replace(bundle.vocabulary, modifiers=read_modifiers())
        if explicit is not None and explicit.modifiers is not None \
                and explicit.modifiers.names != self.vocabulary.modifier_names:
            raise ExplicitMismatch("the modifiers file does not match the model's modifier list")
        self.skeleton = bundle.skeleton
        self.network = bundle.build_network()
        self._levels = self.skeleton.levels
        self.template_vertices = bundle.tensors["template_vertices"]
        self.template_faces = bundle.tensors["template_faces"].long()
        self._faces_np = self.template_faces.numpy().astype(np.int64)
        self.dtype = torch.float32
        self.device = torch.device("cpu")

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> "Model":
        """Move the network and skeleton to ``dtype`` (e.g. float64 for gradient checks) and/or
        ``device`` (latents, queries and meshes follow); the skeleton's integer parents keep their
        dtype."""
        import dataclasses

        sk = self.skeleton

        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if t.is_floating_point() else None)

        self.skeleton = dataclasses.replace(sk, **{f.name: move(getattr(sk, f.name)) for f in dataclasses.fields(sk)
                                                   if isinstance(getattr(sk, f.name), torch.Tensor)})
        self.network.to(device=device, dtype=dtype)
        if self.explicit is not None:
            self.explicit = self.explicit.to(dtype=dtype, device=device)
        self.dtype = dtype or self.dtype
        self.device = torch.device(device) if device is not None else self.device
        self._levels = [level.to(self.device) for level in self._levels]
        return self

    # -- latents -------------------------------------------------------------------------------
    def latents(self, beta=None, phenotypes=None, expression=None, pose=None,
                root_translation=None, modifiers=None) -> Latents:
        """Validated latents; defaults: the mean body (beta = 0, the template's shape), a neutral face
        and the teacher's rest pose (identity deltas). Raises
        :class:`~imghum_blender.field.latents.LatentError` naming the bad input.

        beta: (K,) or (B,K). phenotypes: dict name -> value(s) in [0,1] (unset names take the
        vocabulary defaults), exclusive with beta. expression: (E,)/(B,E) or dict name -> value in [0,1].
        pose: (J,4,4)/(B,J,4,4) teacher 'local-ref' deltas (root translation included),
        (J,3,3)/(B,J,3,3) rotations, (J,3)/(B,J,3) rotation vectors, or dict bone -> rotvec/matrix.
        root_translation: (3,)/(B,3) meters, within +-:data:`~imghum_blender.field.latents.MAX_TRANSLATION`.
        modifiers: dict name -> value(s) in [-1,1] (``vocabulary.modifier_names``; unset: 0) or (M,)/(B,M)
        values: local shape changes, exact field only (the network's beta does not span them).
        """
        lat = make_latents(self.vocabulary, self._beta_from_phenotypes, self.dtype, self.device, beta=beta,
                           phenotypes=phenotypes, expression=expression, pose=pose,
                           root_translation=root_translation, beta_width=self.beta_width,
                           beta_dtype=torch.float64 if self.explicit is not None else None, modifiers=modifiers)
        self.check_modifiers(lat)
        return lat

    def check_modifiers(self, lat: Latents) -> None:
        """:class:`~imghum_blender.field.latents.LatentError` when ``lat`` has non-zero modifiers and this
        model cannot show them (the neural field, or an exact one without the modifiers file)."""
        if lat.modifiers is None or not bool((lat.modifiers != 0).any()):
            return
        if self.explicit is None:
            raise LatentError("modifiers need the exact field: the neural network's shape code does not span "
                              "them (load the model with field='exact', or set every modifier to 0)")
        if self.explicit.modifiers is None:
            raise LatentError("this explicit layer was loaded without its modifiers file")

    @property
    def beta_width(self) -> int:
        """K, the shape code's size: the explicit layer's full code (exact; its first
        ``vocabulary.beta_size`` components are the network's beta) or the network's beta (neural)."""
        return self.explicit.shape_rows if self.explicit is not None else self.vocabulary.beta_size

    def _beta_from_phenotypes(self, phen: torch.Tensor) -> torch.Tensor:
        if self.explicit is None:
            return self.bundle.beta_from_phenotypes(phen)
        layer = self.explicit
        phen = phen.to(device=layer.code_mean.device, dtype=torch.float64)
        return layer.code_from_coefficients(layer.coefficients_from_phenotypes(phen))

    def posed_surface(self, lat: Latents) -> tuple[torch.Tensor, torch.Tensor]:
        """The bodies' own surface (exact field only): posed vertices (B,V,3) in the template's
        topology (``template_faces``) and bone frames (B,J,4,4); differentiable in the latents."""
        if self.explicit is None:
            raise ValueError("the neural field has no explicit surface; load the model with field='exact'")
        layer, dt = self.explicit, self.dtype
        coefficients = layer.coefficients_from_code(lat.beta.double()).to(dt)
        return layer.posed(coefficients, lat.expression.to(dt), lat.pose.to(dt), lat.root_translation.to(dt),
                           lat.modifiers)

    # -- evaluation ----------------------------------------------------------------------------
    def bone_frames(self, lat: Latents) -> BoneFrames:
        """Posed frames W (B,J,4,4), rest rotations (B,J,3,3) and rest heads (B,J,3)."""
        dt = self.dtype
        if self.explicit is not None:  # the teacher's rig, computed in float64 (the smallest bodies need it)
            skel, ct = self.explicit.skeleton, torch.float64
            code = self.explicit.rig_code(self.explicit.coefficients_from_code(lat.beta.double()), lat.expression,
                                          lat.modifiers)
        else:
            skel, ct = self.skeleton, dt
            code = torch.cat([lat.beta, lat.expression], -1).to(dt)
        rest_rot, heads = rest_frames(skel, code, proper=self.explicit is not None)
        frames = forward_kinematics(skel, rest_rot, heads, lat.pose.to(ct), lat.root_translation.to(ct), self._levels)
        return BoneFrames(frames.to(dt), rest_rot.to(dt), heads.to(dt))

    def prepare(self, lat: Latents, grid_cells: int = 40) -> BodyState | exact.ExactBodies:
        """What every query of a batch of bodies reuses. Neural: frames, per-part modulations and the
        part-candidate grid (``grid_cells`` per axis: finer pays off for large queries; 0: no grid,
        every point tests every part, cheaper for a few thousand points). Exact: the posed surfaces
        with their search trees and winding readings (``grid_cells`` is ignored)."""
        if self.explicit is not None:
            verts, frames = self.posed_surface(lat)
            return exact.prepare_bodies(verts, frames, self._faces_np)
        return self.prepare_network(lat, grid_cells)

    def prepare_network(self, lat: Latents, grid_cells: int = 40) -> BodyState:
        """The neural network's per-batch state (see :meth:`prepare`), with either backend."""
        frames, rest_rot, _ = self.bone_frames(lat)
        parents = self.skeleton.parents.clamp_min(0)
        rest_rel = rest_rot[:, parents].transpose(-1, -2) @ rest_rot
        posed = frames[..., :3, :3]
        posed_rel = posed[:, parents].transpose(-1, -2) @ posed
        delta = rest_rel.transpose(-1, -2) @ posed_rel
        rel6d = matrix_to_6d(delta) - matrix_to_6d(torch.eye(3, dtype=delta.dtype, device=delta.device))
        beta = lat.beta[:, :self.vocabulary.beta_size].to(self.dtype)  # the network's beta: the code's first rows
        films = self.network.conditioning(beta, rel6d, lat.expression.to(self.dtype))
        return BodyState(frames, films, self.network.candidate_grid(frames, grid_cells) if grid_cells else None)

    def query(self, points, lat: Latents, chunk: int = 200_000, state: BodyState | None = None):
        """Signed distance (meters, negative inside) and semantics (template point) of points.

        points: (N,3) for every body or (B,N,3); torch or numpy (N may be 0). Returns (N,)/(N,3) for
        B == 1 with (N,3) points, else (B,N)/(B,N,3); numpy in -> numpy out. Differentiable w.r.t.
        points and latents when given torch tensors. ValueError for points of another shape or
        non-finite points.
        """
        as_numpy = isinstance(points, np.ndarray)
        pts = _points(points, lat.batch_size).to(device=self.device, dtype=self.dtype)
        squeeze = pts.dim() == 2
        pts = pts.expand(lat.batch_size, -1, -1) if squeeze or len(pts) == 1 else pts
        state = state or self.prepare(lat)
        if self.explicit is not None:
            sdf, sem = exact.query_bodies(state, self._faces_np, self.template_vertices, pts)
            return self._shaped(sdf, sem, squeeze and lat.batch_size == 1, as_numpy)
        sdf_parts, sem_parts = [], []
        for start in range(0, pts.shape[1], chunk):
            s, c = self.network(pts[:, start:start + chunk], state.frames, state.films, state.grid)
            sdf_parts.append(s)
            sem_parts.append(c)
        if not sdf_parts:
            sdf_parts, sem_parts = [pts.new_zeros(pts.shape[:2])], [pts.new_zeros(pts.shape)]
        return self._shaped(torch.cat(sdf_parts, 1), torch.cat(sem_parts, 1), squeeze and lat.batch_size == 1,
                            as_numpy)

    @staticmethod
    def _shaped(sdf: torch.Tensor, sem: torch.Tensor, squeeze: bool, as_numpy: bool):
        if squeeze:
            sdf, sem = sdf[0], sem[0]
        if as_numpy:
            return sdf.detach().cpu().numpy(), sem.detach().cpu().numpy()
        return sdf, sem

    def network_sdf(self, points: torch.Tensor, lat: Latents, grid_cells: int = 0) -> torch.Tensor:
        """The neural network's signed distance (B,N) of points (B,N,3) (model dtype and device), with
        either backend: the smooth, fast, differentiable surrogate fits optimise on (with the exact
        field the network reads the shape code's first ``vocabulary.beta_size`` components)."""
        state = self.prepare_network(lat, grid_cells)
        return self.network(points, state.frames, state.films, state.grid)[0]

    def bounds(self, lat: Latents, margin: float = 0.05,
               parts: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned box (lo, hi) around body 0 from its posed part boxes (all, or the part
        indices ``parts``; exact field: the posed vertices of those parts), plus ``margin``."""
        if self.explicit is not None:
            with torch.no_grad():
                verts = self.posed_surface(lat.body(0))[0][0]
            if parts is not None:
                verts = verts[torch.isin(self.bundle.tensors["template_parts"].long(), torch.tensor(parts))]
            world = verts.cpu().numpy()
            return world.min(0) - margin, world.max(0) + margin
        with torch.no_grad():
            frames = self.bone_frames(lat).posed[0]
        net = self.network
        f = frames[net.main]
        signs = torch.tensor([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=f.dtype,
                             device=f.device)
        corners = net.center[:, None] + signs * net.core_half[:, None]
        world = torch.einsum("pcd,pkd->pkc", f[:, :3, :3], corners) + f[:, None, :3, 3]
        world = (world if parts is None else world[parts]).reshape(-1, 3).cpu().numpy()
        return world.min(0) - margin, world.max(0) + margin

    def mesh(self, lat: Latents, resolution: int = 256, **kwargs):
        """Extract the zero level set of body 0 of ``lat`` (other bodies of a batch are ignored; see
        :func:`imghum_blender.surface.meshing.extract_mesh`). With the exact field, a whole body with
        edits is the template surface where no edit acts and marching cubes where one does
        (:func:`imghum_blender.surface.hybrid.hybrid_mesh`)."""
        from ..surface.hybrid import hybrid_mesh
        from ..surface.meshing import check_resolution, extract_mesh

        if self.explicit is not None and kwargs.get("edits") and kwargs.get("region") is None \
                and not kwargs.get("dense"):
            return hybrid_mesh(self, lat, check_resolution(resolution), kwargs["edits"],
                               kwargs.get("min_component"))
        return extract_mesh(self, lat, resolution=resolution, **kwargs)


def _set_threads(threads: int | str | None) -> None:
    if threads == "runtime":
        from ..runtime.threads import use_runtime_policy

        use_runtime_policy()
    elif isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1:
        torch.set_num_threads(threads)
    elif threads is not None:
        raise ValueError(f"threads must be 'runtime', a positive integer or None; got {threads!r}")


def load_model(path: str | Path | None = None, field: str | None = None,
               explicit: str | Path | None = None, threads: int | str | None = "runtime") -> Model:
    """Load a model bundle (default: the shipped model) with the ``field`` backend: ``exact`` (the
    teacher's surface from the explicit layer at ``explicit``, default: the shipped one, which extends
    the shipped bundle) or ``neural`` (the bundle's network). ``None``: exact where the explicit layer
    extends the bundle (always for the shipped model), else neural. ValueError for an unknown backend
    name or an explicit layer built for another bundle.

    ``threads``: torch's thread count for this process — "runtime" (the default) applies the runtime's
    policy (:func:`~imghum_blender.runtime.threads.use_runtime_policy`: one thread, or ``IMGHUM_THREADS``;
    beside a busy process torch's own pool collapses), an integer sets that many, None leaves torch's."""
    if field is not None and field not in FIELD_BACKENDS:
        raise ValueError(f"unknown field backend {field!r}; choose one of {', '.join(FIELD_BACKENDS)}")
    _set_threads(threads)
    bundle = load_bundle(path)
    if field == "neural":
        return Model(bundle)
    try:
        layer = load_explicit(explicit or DEFAULT_EXPLICIT)
        if DEFAULT_MODIFIERS.exists():
            layer = layer.with_modifiers(load_modifiers(DEFAULT_MODIFIERS, len(layer.template), layer.skeleton.names))
        return Model(bundle, layer)
    except ExplicitMismatch:
        if field == "exact":
            raise
        return Model(bundle)

