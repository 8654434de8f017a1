"""The imGHUM-style implicit network: per-part MLPs in local bone frames, box-gated, soft-min combined.

Each part owns a padded box in the frame of its main bone. A query point is evaluated only by the
parts whose box contains it (gather/scatter); the per-body conditioning (shape code, the rotations
of the bones that deform the part, and the expression for the head) enters through FiLM
modulations computed once per body, so the per-point cost is a small MLP on the encoded local
coordinates. Part outputs are combined by a soft minimum; outside every box the field is the
analytic distance to the nearest box.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class PartSpec:
    """One body part: its bones (indices), frame, conditioning and box (meters, main-bone frame)."""

    name: str
    bones: tuple[int, ...]
    main: int
    cond_bones: tuple[int, ...]
    width: int
    n_freq: int
    expression: bool
    box_lo: tuple[float, float, float]
    box_hi: tuple[float, float, float]
    pad: float

    @classmethod
    def from_json(cls, d: dict) -> "PartSpec":
        """Inverse of ``asdict``."""
        return cls(name=d["name"], bones=tuple(d["bones"]), main=int(d["main"]),
                   cond_bones=tuple(d["cond_bones"]), width=int(d["width"]), n_freq=int(d["n_freq"]),
                   expression=bool(d["expression"]), box_lo=tuple(d["box_lo"]), box_hi=tuple(d["box_hi"]),
                   pad=float(d["pad"]))

    def to_json(self) -> dict:
        """Plain-JSON form stored in the bundle."""
        return asdict(self)


def fourier(u: torch.Tensor, n_freq: int) -> torch.Tensor:
    """[u, sin(2^k pi u), cos(2^k pi u)] for k < n_freq: (n, 3) -> (n, 3 + 6 n_freq)."""
    freqs = torch.pi * 2.0 ** torch.arange(n_freq, dtype=u.dtype, device=u.device)
    x = (u[:, None, :] * freqs[:, None]).reshape(u.shape[0], -1)
    return torch.cat([u, torch.sin(x), torch.cos(x)], -1)


class PartNet(nn.Module):
    """A part's MLP: 3 hidden ReLU layers, the first two FiLM-modulated by the conditioning."""

    def __init__(self, cond_dim: int, width: int, n_freq: int, hyper_width: int = 64):
        super().__init__()
        self.width, self.n_freq = width, n_freq
        self.hyper = nn.Sequential(nn.Linear(cond_dim, hyper_width), nn.ReLU(), nn.Linear(hyper_width, 4 * width))
        nn.init.zeros_(self.hyper[2].weight)
        nn.init.zeros_(self.hyper[2].bias)
        self.l0 = nn.Linear(3 + 6 * n_freq, width)
        self.l1 = nn.Linear(width, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 4)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def film(self, cond: torch.Tensor) -> torch.Tensor:
        """Per-body modulations (B, 4W) from conditioning (B, C)."""
        return self.hyper(cond)

    def forward(self, u: torch.Tensor, film: torch.Tensor) -> torch.Tensor:
        """Normalized local points (n, 3) and their bodies' modulations (n, 4W) -> (n, 4)."""
        g0, b0, g1, b1 = film.split(self.width, -1)
        h = torch.relu(self.l0(fourier(u, self.n_freq)) * (1.0 + g0) + b0)
        h = torch.relu(self.l1(h) * (1.0 + g1) + b1)
        h = torch.relu(self.l2(h))
        return self.out(h)


class ImplicitBody(nn.Module):
    """All part networks plus the geometry that gates and combines them."""

    def __init__(self, parts: list[PartSpec], beta_size: int, expression_size: int,
                 softmin_k: float = 0.003):
        super().__init__()
        self.parts = list(parts)
        self.beta_size, self.expression_size, self.softmin_k = beta_size, expression_size, softmin_k
        self.nets = nn.ModuleList(
            PartNet(self.cond_dim(p), p.width, p.n_freq) for p in self.parts)
        lo = torch.tensor([p.box_lo for p in parts])
        hi = torch.tensor([p.box_hi for p in parts])
        pad = torch.tensor([p.pad for p in parts])[:, None]
        self.register_buffer("center", (lo + hi) / 2, persistent=False)
        self.register_buffer("core_half", (hi - lo) / 2, persistent=False)
        self.register_buffer("half_size", (hi - lo) / 2 + pad, persistent=False)
        self.register_buffer("main", torch.tensor([p.main for p in parts]), persistent=False)
        # Semantic prior: each part's main-bone frame in the template (set from the bundle).
        self.register_buffer("template_frames", torch.eye(4).repeat(len(parts), 1, 1))

    def cond_dim(self, part: PartSpec) -> int:
        """Size of a part's conditioning vector."""
        return self.beta_size + 6 * len(part.cond_bones) + (self.expression_size if part.expression else 0)

    def conditioning(self, beta: torch.Tensor, rel6d: torch.Tensor, expression: torch.Tensor) -> list[torch.Tensor]:
        """Per-part modulations [(B, 4W_p)] from beta (B,K), joint rotations (B,J,6), psi (B,E)."""
        films = []
        for part, net in zip(self.parts, self.nets):
            cond = [beta, rel6d[:, list(part.cond_bones)].flatten(1)]
            if part.expression:
                cond.append(expression)
            films.append(net.film(torch.cat(cond, -1)))
        return films

    def local_points(self, points: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Points (B,N,3) in every part's main-bone frame: (B,N,P,3), meters."""
        f = frames[:, self.main]  # (B,P,4,4)
        rel = points[:, :, None, :] - f[:, None, :, :3, 3]
        return torch.einsum("bnpc,bpcd->bnpd", rel, f[:, :, :3, :3])

    def forward(self, points: torch.Tensor, frames: torch.Tensor,
                films: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """SDF (B,N) and semantics (B,N,3) of points (B,N,3) given posed frames (B,J,4,4)."""
        b, n, _ = points.shape
        local = self.local_points(points, frames)
        u = (local - self.center) / self.half_size
        inside = (u.abs() <= 1.0).all(-1)  # (B,N,P)
        flat_ids, dists, sems = [], [], []
        for p, net in enumerate(self.nets):
            bi, ni = inside[:, :, p].nonzero(as_tuple=True)
            if bi.numel() == 0:
                continue
            up = u[bi, ni, p]
            out = net(up, films[p][bi])
            prior = (up.norm(dim=-1) - 0.75) * self.half_size[p].min()
            dists.append(prior + out[:, 0] * self.half_size[p].mean())
            tf = self.template_frames[p]
            sems.append(local[bi, ni, p] @ tf[:3, :3].T + tf[:3, 3] + 0.05 * out[:, 1:])
            flat_ids.append(bi * n + ni)
        box = ((local - self.center).abs() - self.core_half).clamp_min(0.0).norm(dim=-1)  # (B,N,P)
        box_d, box_p = box.min(-1)
        sdf = box_d.reshape(-1).clone()
        tf = self.template_frames[box_p]  # semantics outside all boxes: nearest box centre
        sem = (tf[..., :3, :3] @ self.center[box_p][..., None])[..., 0] + tf[..., :3, 3]
        sem = sem.reshape(-1, 3).clone()
        if flat_ids:
            ids = torch.cat(flat_ids)
            d = torch.cat(dists)
            s = torch.cat(sems)
            m = torch.full((b * n,), float("inf"), dtype=d.dtype, device=d.device)
            m = m.scatter_reduce(0, ids, d.detach(), "amin")
            w = torch.exp(-(d - m[ids]) / self.softmin_k)
            z = torch.zeros(b * n, dtype=d.dtype, device=d.device).index_add(0, ids, w)
            ws = torch.zeros(b * n, 3, dtype=d.dtype, device=d.device).index_add(0, ids, w[:, None] * s)
            hit = torch.isfinite(m)
            zc = z.clamp_min(1e-30)
            sdf = torch.where(hit, m - self.softmin_k * torch.log(zc), sdf)
            sem = torch.where(hit[:, None], ws / zc[:, None], sem)
        return sdf.reshape(b, n), sem.reshape(b, n, 3)
