"""Skeleton as a function of the shape code, and forward kinematics (pure tensor functions).

Notation follows the teacher's 'local-ref' pose parameterization. For bone c with parent p:
rest pose P_c = [R_c | h_c], constant reference orientation U_c, pose delta D_c (a rotation in
world-aligned axes at the bone) and the root translation d_0. Posed frames:
W_0 = [U_0^T D_0 U_0 | U_0^T d_0] and W_c = W_p K_c with
K_c = [U_p^T D_c U_c | U_p^T A_p (h_c - h_p)], A_p = U_p R_p^T (A_0 = I).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .rotations import rigid, special_procrustes


@dataclass(frozen=True)
class Skeleton:
    """Bone hierarchy and the linear maps from (beta, psi) to rest heads and orientation matrices.

    Shapes: J bones, K shape dims, E expression dims.
    parents (J,) long (root: -1), ref_orient (J,3,3), heads_mean (J,3), heads_basis (K+E,J,3),
    orient_mean (J,3,3), orient_basis (K+E,J,3,3).
    """

    names: tuple[str, ...]
    parents: torch.Tensor
    ref_orient: torch.Tensor
    heads_mean: torch.Tensor
    heads_basis: torch.Tensor
    orient_mean: torch.Tensor
    orient_basis: torch.Tensor

    @property
    def levels(self) -> list[torch.Tensor]:
        """Bone indices grouped by depth; each level's parents lie in earlier levels."""
        depth = [0] * len(self.names)
        for c, p in enumerate(self.parents.tolist()):
            depth[c] = 0 if p < 0 else depth[p] + 1
        return [torch.tensor([c for c, d in enumerate(depth) if d == k]) for k in range(max(depth) + 1)]


def rest_frames(skel: Skeleton, code: torch.Tensor, proper: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Rest orientations (B,J,3,3) and heads (B,J,3) for codes (B,K+E) = [beta, psi] (``proper``: see
    :func:`~.rotations.special_procrustes`)."""
    heads = skel.heads_mean + torch.einsum("bk,kjc->bjc", code, skel.heads_basis)
    m = skel.orient_mean + torch.einsum("bk,kjcd->bjcd", code, skel.orient_basis)
    return special_procrustes(m, proper=proper), heads


def forward_kinematics(skel: Skeleton, rest_rot: torch.Tensor, rest_heads: torch.Tensor,
                       pose_rot: torch.Tensor, root_t: torch.Tensor,
                       levels: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Posed bone frames W (B,J,4,4) from rest frames (B,J,3,3)/(B,J,3), pose deltas (B,J,3,3)
    and root translation (B,3)."""
    parents = skel.parents.clamp_min(0)
    u = skel.ref_orient.to(rest_rot.dtype)
    u_p = u[parents]
    a = u @ rest_rot.transpose(-1, -2)
    a = torch.cat([torch.eye(3, dtype=a.dtype, device=a.device).expand_as(a[:, :1]), a[:, 1:]], 1)
    offsets = torch.einsum("bjcd,bjd->bjc", a[:, parents], rest_heads - rest_heads[:, parents])
    k_rot = u_p.transpose(-1, -2) @ pose_rot @ u
    k_t = torch.einsum("jdc,bjd->bjc", u_p, offsets)
    levels = levels if levels is not None else skel.levels
    rot = torch.empty_like(pose_rot)
    trans = torch.empty_like(rest_heads)
    rot[:, 0] = k_rot[:, 0]
    trans[:, 0] = root_t @ u[0]
    for level in levels[1:]:
        par = parents[level]
        pr, pt = rot[:, par], trans[:, par]
        rot[:, level] = pr @ k_rot[:, level]
        trans[:, level] = pt + torch.einsum("bjcd,bjd->bjc", pr, k_t[:, level])
    return rigid(rot, trans)
