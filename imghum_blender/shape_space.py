"""Named phenotypes <-> shape code beta.

The teacher's phenotype blendshape weights are multilinear between per-phenotype anchors, so
beta is a multilinear interpolation of its values on the anchor grid (exact up to the PCA
truncation). The inverse is a bounded least-squares fit.
"""
from __future__ import annotations

import torch


def interpolate_grid(values: torch.Tensor, nodes: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Multilinear interpolation.

    values: (n_1, ..., n_D, K) grid values; nodes: D increasing (n_d,) node lists;
    x: (B, D) query points (clamped to the grid). Returns (B, K).
    """
    out = values.unsqueeze(0).expand((x.shape[0],) + values.shape)
    for d, node in enumerate(nodes):
        node = node.to(x.dtype)
        xd = x[:, d].clamp(node[0], node[-1])
        i = torch.searchsorted(node, xd.detach(), right=True).clamp(1, len(node) - 1)
        t = (xd - node[i - 1]) / (node[i] - node[i - 1])
        idx_shape = (x.shape[0],) + (1,) * (out.dim() - 1)
        view = [-1] + list(out.shape[2:])
        lo = torch.gather(out, 1, (i - 1).view(idx_shape).expand([x.shape[0], 1] + view[1:]))[:, 0]
        hi = torch.gather(out, 1, i.view(idx_shape).expand([x.shape[0], 1] + view[1:]))[:, 0]
        t = t.view((-1,) + (1,) * (lo.dim() - 1))
        out = lo + t * (hi - lo)
    return out


def fit_phenotypes(values: torch.Tensor, nodes: list[torch.Tensor], beta: torch.Tensor,
                   steps: int = 200) -> torch.Tensor:
    """Phenotypes in [0, 1] (B, D) whose interpolated beta is nearest to ``beta`` (B, K)."""
    z = torch.zeros(beta.shape[0], len(nodes), dtype=beta.dtype, requires_grad=True)
    opt = torch.optim.Adam([z], lr=0.1)
    target = beta.detach()
    for _ in range(steps):
        opt.zero_grad()
        loss = ((interpolate_grid(values.to(beta.dtype), nodes, torch.sigmoid(z)) - target) ** 2).sum()
        loss.backward()
        opt.step()
    return torch.sigmoid(z).detach()
