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
    detail_width: int = 0
    detail_depth: int = 0
    detail_freq: int = 0

    @property
    def has_detail(self) -> bool:
        """Whether the part carries a detail network (:class:`DetailNet`) beside its own."""
        return self.detail_width > 0

    @classmethod
    def from_json(cls, d: dict) -> "PartSpec":
        """Inverse of ``asdict`` (no detail network when the detail fields are absent, as in v1)."""
        return cls(name=d["name"], bones=tuple(d["bones"]), main=int(d["main"]),
                   cond_bones=tuple(d["cond_bones"]), width=int(d["width"]), n_freq=int(d["n_freq"]),
                   expression=bool(d["expression"]), box_lo=tuple(d["box_lo"]), box_hi=tuple(d["box_hi"]),
                   pad=float(d["pad"]), detail_width=int(d.get("detail_width", 0)),
                   detail_depth=int(d.get("detail_depth", 0)), detail_freq=int(d.get("detail_freq", 0)))

    def to_json(self) -> dict:
        """Plain-JSON form stored in the bundle."""
        return asdict(self)


def fourier(u: torch.Tensor, n_freq: int) -> torch.Tensor:
    """[u, sin(2^k pi u), cos(2^k pi u)] for k < n_freq: (n, 3) -> (n, 3 + 6 n_freq)."""
    freqs = torch.pi * 2.0 ** torch.arange(n_freq, dtype=u.dtype, device=u.device)
    x = (u[:, None, :] * freqs[:, None]).reshape(u.shape[0], -1)
    return torch.cat([u, torch.sin(x), torch.cos(x)], -1)


def film_linear(layer: nn.Linear, x: torch.Tensor, gain: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``layer(x) * (1 + gain) + shift``; a modulation of one row (1, W) shared by all points is
    folded into the layer's weights instead (one matmul, no per-point modulation)."""
    if gain.shape[0] == 1:
        s = 1.0 + gain[0]
        return nn.functional.linear(x, layer.weight * s[:, None], layer.bias * s + shift[0])
    return layer(x) * (1.0 + gain) + shift


def _zeroed(layer: nn.Linear) -> nn.Linear:
    """``layer`` with zero weights and bias (a network that starts at its prior)."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class PartNet(nn.Module):
    """A part's MLP: 3 hidden ReLU layers, the first two FiLM-modulated by the conditioning."""

    def __init__(self, cond_dim: int, width: int, n_freq: int, hyper_width: int = 64):
        super().__init__()
        self.width, self.n_freq = width, n_freq
        self.hyper = nn.Sequential(nn.Linear(cond_dim, hyper_width), nn.ReLU(),
                                   _zeroed(nn.Linear(hyper_width, 4 * width)))
        self.l0 = nn.Linear(3 + 6 * n_freq, width)
        self.l1 = nn.Linear(width, width)
        self.l2 = nn.Linear(width, width)
        self.out = _zeroed(nn.Linear(width, 4))

    def film(self, cond: torch.Tensor) -> torch.Tensor:
        """Per-body modulations (B, 4W) from conditioning (B, C)."""
        return self.hyper(cond)

    def forward(self, u: torch.Tensor, film: torch.Tensor) -> torch.Tensor:
        """Normalized local points (n, 3) and modulations, (n, 4W) or one row (1, 4W) shared by
        all points (then folded into the weights) -> (n, 4)."""
        g0, b0, g1, b1 = film.split(self.width, -1)
        h = torch.relu_(film_linear(self.l0, fourier(u, self.n_freq), g0, b0))
        h = torch.relu_(film_linear(self.l1, h, g1, b1))
        return self.out(torch.relu_(self.l2(h)))


class DetailNet(nn.Module):
    """A part's detail network (faces, hands): ``depth`` SiLU layers, each FiLM-modulated, on
    random Fourier features of the normalized local point; its output corrects the part's own
    field near the surface (see :meth:`ImplicitBody._part_fields`).

    The Fourier matrix is drawn once from the part's name and kept with the weights (rounded to
    half precision, as bundles store weights)."""

    def __init__(self, cond_dim: int, width: int, depth: int, n_freq: int, name: str, hyper_width: int = 128):
        super().__init__()
        self.width = width
        gen = torch.Generator().manual_seed(sum(ord(c) * 31 ** i for i, c in enumerate(name)) % 2 ** 31)
        self.register_buffer("rff", (torch.randn(3, 8 * n_freq, generator=gen) * DETAIL_RFF_SCALE).half().float())
        self.hyper = nn.Sequential(nn.Linear(cond_dim, hyper_width), nn.SiLU(),
                                   _zeroed(nn.Linear(hyper_width, 2 * depth * width)))
        sizes = [3 + 16 * n_freq] + [width] * depth
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = _zeroed(nn.Linear(width, 4))

    def film(self, cond: torch.Tensor) -> torch.Tensor:
        """Per-body modulations (B, 2·depth·W) from conditioning (B, C)."""
        return self.hyper(cond)

    def forward(self, u: torch.Tensor, film: torch.Tensor) -> torch.Tensor:
        """Normalized local points (n, 3) and modulations ((n, ·) or one shared row) -> (n, 4)."""
        x = 2 * torch.pi * u @ self.rff
        h = torch.cat([u, torch.sin(x), torch.cos(x)], -1)
        mods = film.split(self.width, -1)
        for i, layer in enumerate(self.layers):
            h = nn.functional.silu(film_linear(layer, h, mods[2 * i], mods[2 * i + 1]))
        return self.out(h)


#: Spread of the detail networks' random Fourier frequencies (cycles per normalized box half-size).
DETAIL_RFF_SCALE = 6.0
#: The detail correction acts where the part's own SDF is within this band (m), fading out at its edge.
DETAIL_BAND = 0.01
#: Most padded (wasted) points a batched product of part networks may carry (about what the
#: per-operation overhead of running its parts one by one costs on a CPU).
PAD_BUDGET = 8192
#: Meters per unit of the detail network's SDF output.
DETAIL_SCALE = 0.01


class ImplicitBody(nn.Module):
    """All part networks plus the geometry that gates and combines them."""

    def __init__(self, parts: list[PartSpec], beta_size: int, expression_size: int,
                 softmin_k: float = 0.003):
        super().__init__()
        self.parts = list(parts)
        self.beta_size, self.expression_size, self.softmin_k = beta_size, expression_size, softmin_k
        self.nets = nn.ModuleList(
            PartNet(self.cond_dim(p), p.width, p.n_freq) for p in self.parts)
        self.details = nn.ModuleDict({
            str(i): DetailNet(self.cond_dim(p), p.detail_width, p.detail_depth, p.detail_freq, p.name)
            for i, p in enumerate(self.parts) if p.has_detail})
        lo = torch.tensor([p.box_lo for p in parts])
        hi = torch.tensor([p.box_hi for p in parts])
        pad = torch.tensor([p.pad for p in parts])[:, None]
        self.register_buffer("center", (lo + hi) / 2, persistent=False)
        self.register_buffer("core_half", (hi - lo) / 2, persistent=False)
        self.register_buffer("half_size", (hi - lo) / 2 + pad, persistent=False)
        self.register_buffer("main", torch.tensor([p.main for p in parts]), persistent=False)
        # Parts that can run as one batched product: same width and frequencies.
        shapes: dict[tuple[int, int], list[int]] = {}
        for i, p in enumerate(self.parts):
            shapes.setdefault((p.width, p.n_freq), []).append(i)
        self._groups = list(shapes.values())
        hypers: dict[tuple[int, int, int, bool], list[int]] = {}
        for i, p in enumerate(self.parts):
            key = (len(p.cond_bones), p.width, self.nets[i].hyper[0].out_features, p.expression)
            hypers.setdefault(key, []).append(i)
        self._cond_groups = list(hypers.values())
        # Semantic prior: each part's main-bone frame in the template (set from the bundle).
        self.register_buffer("template_frames", torch.eye(4).repeat(len(parts), 1, 1))

    def cond_dim(self, part: PartSpec) -> int:
        """Size of a part's conditioning vector."""
        return self.beta_size + 6 * len(part.cond_bones) + (self.expression_size if part.expression else 0)

    def conditioning(self, beta: torch.Tensor, rel6d: torch.Tensor, expression: torch.Tensor) -> list[torch.Tensor]:
        """Per-part modulations [(B, 4W_p), detail parts followed by their detail network's] from
        beta (B,K), joint rotations (B,J,6), psi (B,E). Parts whose hypernetworks share a shape
        run as one batched product."""
        films: list[torch.Tensor | None] = [None] * len(self.parts)
        for group in self._cond_groups:
            spec = self.parts[group[0]]
            bones = torch.tensor([self.parts[p].cond_bones for p in group], device=rel6d.device)
            cond = [beta[:, None].expand(-1, len(group), -1), rel6d[:, bones].flatten(2)]  # (B,G,·)
            if spec.expression:
                cond.append(expression[:, None].expand(-1, len(group), -1))
            cond = torch.cat(cond, -1).transpose(0, 1)  # (G,B,C)
            hyper = [self.nets[p].hyper for p in group]
            w0, b0 = torch.stack([h[0].weight for h in hyper]), torch.stack([h[0].bias for h in hyper])
            w1, b1 = torch.stack([h[2].weight for h in hyper]), torch.stack([h[2].bias for h in hyper])
            out = torch.baddbmm(b1[:, None], torch.relu(torch.baddbmm(b0[:, None], cond, w0.transpose(1, 2))),
                                w1.transpose(1, 2))
            for i, p in enumerate(group):
                films[p] = out[i]
                if self.parts[p].has_detail:
                    films[p] = torch.cat([out[i], self.details[str(p)].film(cond[i])], -1)
        return films

    def candidate_grid(self, frames: torch.Tensor, cells: int) -> "PartGrid":
        """Per-body uniform grid over the posed padded boxes listing, per cell, the parts whose
        padded box reaches the cell, and a lower bound of the distance to the other parts' core
        boxes (the candidates' core-box distances are computed exactly per point)."""
        with torch.no_grad():
            f = frames[:, self.main].detach()  # (B,P,4,4)
            signs = torch.tensor([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)],
                                 dtype=f.dtype, device=f.device)
            corners = self.center[:, None] + signs * self.half_size[:, None]  # (P,8,3)
            world = torch.einsum("bpcd,pkd->bpkc", f[..., :3, :3], corners) + f[:, :, None, :3, 3]
            lo = world.flatten(1, 2).amin(1) - 1e-3
            hi = world.flatten(1, 2).amax(1) + 1e-3
            size = (hi - lo) / cells  # (B,3)
            ax = torch.arange(cells, dtype=f.dtype, device=f.device) + 0.5
            g = torch.stack(torch.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)  # (C,3)
            centers = lo[:, None] + g * size[:, None]  # (B,C,3)
            radius = 0.5 * size.norm(dim=-1)  # (B,)
            rel = centers[:, :, None] - f[:, None, :, :3, 3]  # (B,C,P,3)
            u = torch.einsum("bcpd,bpde->bcpe", rel, f[..., :3, :3]) - self.center
            pad_d = (u.abs() - self.half_size).clamp_min(0).norm(dim=-1)
            core_d = (u.abs() - self.core_half).clamp_min(0).norm(dim=-1)
            hit = pad_d <= radius[:, None, None]  # (B,C,P)
            kmax = max(int(hit.sum(-1).max()), 1)
            order = torch.argsort((~hit).to(torch.uint8), dim=-1, stable=True)[..., :kmax]
            valid = torch.gather(hit, -1, order)
            far = torch.where(hit, torch.full_like(core_d, float("inf")), core_d)
            lower = (far.amin(-1) - radius[:, None]).clamp_min(0)
        return PartGrid(lo, size, cells, order, valid, lower)

    def _core_distance(self, points: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Exact distance (n,) from points (n,3) of one body (frames (J,4,4)) to the union of its
        core boxes; used for the few points outside the candidate grid."""
        f = frames[self.main]
        local = torch.einsum("npc,pcd->npd", points[:, None] - f[:, :3, 3], f[:, :3, :3])
        return ((local - self.center).abs() - self.core_half).clamp_min(0).norm(dim=-1).amin(-1)

    def forward(self, points: torch.Tensor, frames: torch.Tensor, films: list[torch.Tensor],
                grid: "PartGrid | None") -> tuple[torch.Tensor, torch.Tensor]:
        """SDF (B,N) and semantics (B,N,3) of points (B,N,3) given posed frames (B,J,4,4).

        Outside every padded part box the SDF is a lower bound of the distance to the core part
        boxes (hence to the surface) and the semantics are zero. Without a candidate ``grid`` every
        point is tested against every part's box (cheaper for a few thousand points, as in a
        fitting step)."""
        b, n, _ = points.shape
        if grid is None:
            pid = torch.arange(b * n, device=points.device).repeat_interleave(len(self.parts))
            part = torch.arange(len(self.parts), device=points.device).repeat(b * n)
            pid, part, local, lower = self._candidates(points, frames, pid, part)
            lower = lower.reshape(b, n)
        else:
            in_grid, flat_cell = self._cells(points, grid)
            n_cells = grid.cells ** 3
            cand_valid = grid.valid.reshape(b * n_cells, -1).index_select(0, flat_cell) & in_grid.reshape(-1, 1)
            pid, pk = cand_valid.nonzero(as_tuple=True)
            part = grid.order.reshape(b * n_cells, -1)[flat_cell[pid], pk]
            pid, part, local, near_core = self._candidates(points, frames, pid, part)
            lower = torch.minimum(grid.lower.reshape(-1).index_select(0, flat_cell), near_core).reshape(b, n).clone()
            for body in range(b):
                out_of_grid = ~in_grid[body]
                if bool(out_of_grid.any()):
                    lower[body, out_of_grid] = self._core_distance(points[body, out_of_grid], frames[body])
        dist, sem = self._part_fields(part, local, films, pid // n if b > 1 else None)
        sdf, sem = self._soft_min(lower.reshape(-1).to(points.dtype), pid, dist, sem)
        return sdf.reshape(b, n), sem.reshape(b, n, 3)

    @staticmethod
    def _cells(points: torch.Tensor, grid: "PartGrid") -> tuple[torch.Tensor, torch.Tensor]:
        """Whether each point (B,N) lies in its body's candidate grid, and its cell (B*N,) in the
        flattened grids of all bodies (clamped to the grid)."""
        b = points.shape[0]
        cell_f = ((points.detach() - grid.lo[:, None]) / grid.size[:, None]).floor().long()
        in_grid = ((cell_f >= 0) & (cell_f < grid.cells)).all(-1)
        cell_f = cell_f.clamp(0, grid.cells - 1)
        cell = (cell_f[..., 0] * grid.cells + cell_f[..., 1]) * grid.cells + cell_f[..., 2]  # (B,N)
        offsets = torch.arange(b, device=points.device)[:, None] * grid.cells ** 3
        return in_grid, (cell + offsets).reshape(-1)

    def _candidates(self, points, frames, pid, part):
        """Of the point-part pairs (point index pid into the B*N points, part), those whose padded
        box holds the point, sorted by part: pid (M,), part (M,), local coordinates (M,3) in the
        part's main-bone frame; and each point's distance (B*N,) to its pairs' core boxes (inf
        without pairs)."""
        b, n, _ = points.shape
        n_parts = len(self.parts)
        # One gather of [R | t] and of [center, half, core_half] per candidate pair.
        fr = frames[:, self.main, :3, :].reshape(b * n_parts, 12)
        pose = fr.index_select(0, part if b == 1 else (pid // n) * n_parts + part).reshape(-1, 3, 4)
        local = torch.einsum("nc,ncd->nd", points.reshape(-1, 3).index_select(0, pid) - pose[:, :, 3], pose[:, :, :3])
        boxes = torch.cat([self.center, self.half_size, self.core_half], 1).index_select(0, part)
        offset = (local - boxes[:, :3]).abs()
        inside = (offset.detach() <= boxes[:, 3:6]).all(-1)
        core = (offset - boxes[:, 6:]).clamp_min(0).norm(dim=-1)
        near_core = torch.full((b * n,), float("inf"), dtype=core.dtype, device=points.device).scatter_reduce(
            0, pid, core, "amin", include_self=True)
        keep = inside.nonzero()[:, 0]
        keep = keep[torch.argsort(part.index_select(0, keep))]
        pid, part, local = (t.index_select(0, keep) for t in (pid, part, local))
        return pid, part, local, near_core

    def _part_fields(self, part: torch.Tensor, local: torch.Tensor, films: list[torch.Tensor],
                     body: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Each candidate pair's part SDF (M,) and semantics (M,3) from the part networks (pairs
        sorted by part; ``body`` (M,): the pair's body in a batch, None for one body).

        Parts of the same architecture run together as one batched product where padding their
        point counts to the largest wastes little (:data:`PAD_BUDGET`; few points: the cost is per
        operation, not per point), the others one by one."""
        if len(part) == 0:
            return None, None
        u = (local - self.center.index_select(0, part)) / self.half_size.index_select(0, part)
        counts = torch.bincount(part, minlength=len(self.parts)).tolist()
        starts = [0]
        for c in counts:
            starts.append(starts[-1] + c)
        outs: list[tuple[int, torch.Tensor]] = []  # (first pair, outputs) pieces covering every pair
        for group in self._groups:
            live = [p for p in group if counts[p]]
            most = max((counts[p] for p in live), default=0)
            if len(live) > 1 and len(live) * most - sum(counts[p] for p in live) <= PAD_BUDGET:
                outs += self._batched(live, counts, starts, u, films, body)
            else:
                for p in live:
                    sl = slice(starts[p], starts[p + 1])
                    film = films[p] if body is None else films[p].index_select(0, body[sl])
                    outs.append((starts[p], self.nets[p](u[sl], film[:, :4 * self.nets[p].width])))
        out = torch.cat([o for _, o in sorted(outs, key=lambda t: t[0])])
        half = self.half_size.index_select(0, part)
        prior = (u.norm(dim=-1) - 0.75) * half.amin(-1)
        dist = prior + out[:, 0] * half.mean(-1)
        tf = self.template_frames.index_select(0, part)
        sem = torch.einsum("mc,mdc->md", local, tf[:, :3, :3]) + tf[:, :3, 3] + 0.05 * out[:, 1:]
        for p, spec in enumerate(self.parts):
            if spec.has_detail and counts[p]:
                sl = slice(starts[p], starts[p + 1])
                film = films[p] if body is None else films[p].index_select(0, body[sl])
                d, c = self._detail(p, u[sl], film[:, 4 * self.nets[p].width:], dist[sl], sem[sl])
                dist = torch.cat([dist[:sl.start], d, dist[sl.stop:]])
                sem = torch.cat([sem[:sl.start], c, sem[sl.stop:]])
        return dist, sem

    def _batched(self, live: list[int], counts: list[int], starts: list[int], u: torch.Tensor,
                 films: list[torch.Tensor], body: torch.Tensor | None) -> list[tuple[int, torch.Tensor]]:
        """The part networks ``live`` (one architecture) on their pairs as batched products over
        point counts padded to the largest: (first pair, outputs (count, 4)) per part."""
        nets = [self.nets[p] for p in live]
        width, most = nets[0].width, max(counts[p] for p in live)
        ar = torch.arange(most, device=u.device)
        cnt = torch.tensor([counts[p] for p in live], device=u.device)
        idx = torch.tensor([starts[p] for p in live], device=u.device)[:, None] + torch.minimum(ar, cnt[:, None] - 1)
        x = fourier(u[idx.reshape(-1)], nets[0].n_freq).reshape(len(live), most, -1)
        if body is None:
            film = torch.stack([films[p][0, :4 * width] for p in live])[:, None]  # (G,1,4W)
        else:
            film = torch.stack([films[p][:, :4 * width] for p in live])  # (G,B,4W)
            film = film.gather(1, body[idx][..., None].expand(-1, -1, 4 * width))
        g0, b0, g1, b1 = film.split(width, -1)

        def layer(h, name):
            w = torch.stack([getattr(n, name).weight for n in nets])
            b = torch.stack([getattr(n, name).bias for n in nets])
            return torch.baddbmm(b[:, None], h, w.transpose(1, 2))

        h = torch.relu_(layer(x, "l0") * (1.0 + g0) + b0)
        h = torch.relu_(layer(h, "l1") * (1.0 + g1) + b1)
        out = layer(torch.relu_(layer(h, "l2")), "out")
        return [(starts[p], out[i, :counts[p]]) for i, p in enumerate(live)]

    def _detail(self, p: int, u: torch.Tensor, film: torch.Tensor, dist: torch.Tensor,
                sem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Part ``p``'s field corrected by its detail network where the part's own SDF lies within
        :data:`DETAIL_BAND` (weight fading smoothly to 0 at the band's edge); the network runs
        only on those points."""
        t = (1.0 - dist.detach().abs() / DETAIL_BAND).clamp_min(0.0)
        near = (t > 0).nonzero()[:, 0]
        if len(near) == 0:
            return dist, sem
        w = t.index_select(0, near)
        w = (w * w * (3 - 2 * w))[:, None]
        out = self.details[str(p)](u.index_select(0, near), film if film.shape[0] == 1 else film.index_select(0, near))
        dist = dist.index_add(0, near, w[:, 0] * out[:, 0] * DETAIL_SCALE)
        sem = sem.index_add(0, near, w * out[:, 1:] * DETAIL_SCALE)
        return dist, sem

    def _soft_min(self, outside: torch.Tensor, pid: torch.Tensor, d: torch.Tensor | None,
                  s: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per point (P,): the soft minimum of its pairs' SDFs ``d`` and the matching blend of their
        semantics ``s``; points without pairs keep ``outside`` and zero semantics."""
        sem = torch.zeros(len(outside), 3, dtype=outside.dtype, device=outside.device)
        if d is None:
            return outside, sem
        m = torch.full_like(outside, float("inf"), dtype=d.dtype).scatter_reduce(0, pid, d.detach(), "amin")
        w = torch.exp(-(d - m[pid]) / self.softmin_k)
        z = torch.zeros_like(m).index_add(0, pid, w)
        ws = torch.zeros(len(outside), 3, dtype=d.dtype, device=d.device).index_add(0, pid, w[:, None] * s)
        hit = torch.isfinite(m)
        zc = z.clamp_min(1e-30)
        sdf = torch.where(hit, m - self.softmin_k * torch.log(zc), outside)
        return sdf, torch.where(hit[:, None], ws / zc[:, None], sem)


@dataclass
class PartGrid:
    """Candidate parts per grid cell for a batch of posed bodies (see ``candidate_grid``)."""

    lo: torch.Tensor
    size: torch.Tensor
    cells: int
    order: torch.Tensor
    valid: torch.Tensor
    lower: torch.Tensor

