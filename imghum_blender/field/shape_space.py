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
                   steps: int = 300, starts: int = 4096, refine: int = 16) -> torch.Tensor:
    """Phenotypes in [0, 1] (B, D) whose interpolated beta is nearest to ``beta`` (B, K).

    The map is piecewise multilinear and not convex to invert, so the ``refine`` best of
    ``starts`` seeded random phenotype sets are each refined with Adam in logit space and the
    best result is kept."""
    values = values.to(beta.dtype)
    target = beta.detach()
    b, d = target.shape[0], len(nodes)
    cand = torch.rand(starts, d, generator=torch.Generator().manual_seed(0), dtype=beta.dtype).clamp(0.02, 0.98)
    top = torch.cdist(target, interpolate_grid(values, nodes, cand)).topk(refine, largest=False).indices
    z = torch.logit(cand[top.reshape(-1)]).clone().requires_grad_(True)  # (B*refine, D)
    goal = target.repeat_interleave(refine, 0)
    opt = torch.optim.Adam([z], lr=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        ((interpolate_grid(values, nodes, torch.sigmoid(z)) - goal) ** 2).sum().backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        phen = torch.sigmoid(z)
        err = ((interpolate_grid(values, nodes, phen) - goal) ** 2).sum(-1).reshape(b, refine)
        return phen.reshape(b, refine, d)[torch.arange(b), err.argmin(1)]
