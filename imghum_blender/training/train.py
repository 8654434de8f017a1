"""Train the part networks on generated data (resumable, logged, checkpointed).

    python -m imghum_blender.training.train --bundle runs/base.safetensors --data runs/data \
        --workdir runs/v1 --minutes 90

Runs on CUDA when available and under ``torchrun`` (DistributedDataParallel, bodies sharded by
rank) unchanged. The learning rate follows a cosine over the time budget; ``--minutes`` may be
raised when resuming. ``WORKDIR/last.pt`` holds the resumable state, ``WORKDIR/best.safetensors``
the best bundle so far (half precision) by validation loss. ``--session-minutes`` ends this run
early with a checkpoint (e.g. 9-minute runs on a lent GPU, resumed elsewhere). ``--stream N``
trains on fresh bodies that N worker processes generate meanwhile (:mod:`.stream`); the ``--data``
set then serves for validation and for the first steps. ``--train-region head`` (a detail stage,
:mod:`.detail`) trains only that region's detail networks on ``--focus head`` data.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from ..field.loader import load_bundle
from ..field.latents import Latents
from ..field.model import Model
from ..formats.atomic import atomic_path
from .detail import TRAIN_REGIONS, region_parts
from .stream import Stream

CLAMP = 0.05
SEM_BAND = 0.02


class Dataset:
    """All chunks in memory as float32 tensors (bodies x points)."""

    def __init__(self, paths: list[str]):
        parts: dict[str, list[np.ndarray]] = {}
        for p in paths:
            with np.load(p) as d:
                for k in d.files:
                    parts.setdefault(k, []).append(d[k])
        self.t = {k: torch.from_numpy(np.concatenate(v)) for k, v in parts.items()}
        self.n_bodies = self.t["sdf"].shape[0]
        self.n_on = self.t["normals"].shape[1]

    def batch(self, bodies: torch.Tensor, n_points: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """Random points of the given bodies: the on-surface share as in the data."""
        n_total = self.t["sdf"].shape[1]
        n_on = max(1, n_points * self.n_on // n_total)
        on = torch.randint(0, self.n_on, (len(bodies), n_on), generator=gen)
        off = torch.randint(self.n_on, n_total, (len(bodies), n_points - n_on), generator=gen)
        idx = torch.cat([on, off], 1)
        b = bodies[:, None]
        return {
            "points": self.t["points"][b, idx], "sdf": self.t["sdf"][b, idx],
            "semantics": self.t["semantics"][b, idx], "normals": self.t["normals"][b, on],
            "n_on": torch.tensor(n_on), "code": self.t["code"][bodies], "pose": self.t["pose"][bodies],
            "root_translation": self.t["root_translation"][bodies],
        }


def latents_of(batch: dict[str, torch.Tensor], beta_size: int) -> Latents:
    """Latents of a data batch."""
    code = batch["code"]
    return Latents(code[:, :beta_size], code[:, beta_size:], batch["pose"], batch["root_translation"])


def losses(model: Model, batch: dict[str, torch.Tensor], grad_points: int = 256) -> dict[str, torch.Tensor]:
    """Clamped-L1 SDF, L1 semantics near the surface, normal alignment and eikonal terms."""
    lat = latents_of(batch, model.vocabulary.beta_size)
    state = model.prepare(lat, grid_cells=12)
    pts = batch["points"]
    n_on = int(batch["n_on"])
    g = min(grad_points, n_on)
    gpts = pts[:, :g].clone().requires_grad_(True)
    sdf_g, _ = model.network(gpts, state.frames, state.films, state.grid)
    sdf, sem = model.network(pts[:, g:], state.frames, state.films, state.grid)
    gt = batch["sdf"][:, g:]
    l_sdf = (sdf.clamp(-CLAMP, CLAMP) - gt.clamp(-CLAMP, CLAMP)).abs().mean()
    band = (gt.abs() < SEM_BAND).float()
    l_sem = ((sem - batch["semantics"][:, g:]).abs().sum(-1) * band).sum() / band.sum().clamp_min(1)
    grad = torch.autograd.grad(sdf_g.sum(), gpts, create_graph=True)[0]
    gn = grad.norm(dim=-1)
    l_normal = (1 - (grad * batch["normals"][:, :g]).sum(-1) / gn.clamp_min(1e-6)).mean()
    l_eik = ((gn - 1) ** 2).mean()
    l_surf = sdf_g.abs().mean()
    total = l_sdf * 10 + l_sem + 0.1 * l_normal + 0.01 * l_eik + l_surf * 3
    return {"total": total, "sdf": l_sdf, "sem": l_sem, "normal": l_normal, "eikonal": l_eik, "surf": l_surf}


class Objective(torch.nn.Module):
    """The training loss as a module, so DistributedDataParallel can wrap it unchanged."""

    def __init__(self, model: Model):
        super().__init__()
        self.net = model.network
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss terms for a batch."""
        return losses(self.model, batch)


@torch.no_grad()
def validate(model: Model, data: Dataset, bodies: torch.Tensor) -> dict[str, float]:
    """SDF L1 (clamped, mm) and near-surface sign accuracy on held-back bodies."""
    gen = torch.Generator().manual_seed(123)
    err, acc, sem = [], [], []
    for chunk in bodies.split(8):
        batch = {k: v.to(model.device) for k, v in data.batch(chunk, 4096, gen).items()}
        lat = latents_of(batch, model.vocabulary.beta_size)
        state = model.prepare(lat, grid_cells=12)
        sdf, s = model.network(batch["points"], state.frames, state.films, state.grid)
        gt = batch["sdf"]
        err.append((sdf.clamp(-CLAMP, CLAMP) - gt.clamp(-CLAMP, CLAMP)).abs().mean())
        near = (gt.abs() < 0.01) & (gt != 0)
        acc.append(((sdf < 0) == (gt < 0))[near].float().mean())
        band = gt.abs() < SEM_BAND
        sem.append((s - batch["semantics"]).norm(dim=-1)[band].median())
    return {"sdf_mm": float(torch.stack(err).mean()) * 1000, "sign_acc": float(torch.stack(acc).mean()),
            "sem_mm": float(torch.stack(sem).mean()) * 1000}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--workdir", required=True, help="run folder: checkpoints, logs, best bundle")
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--bodies-per-step", type=int, default=8)
    ap.add_argument("--points-per-body", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--val-bodies", type=int, default=64)
    ap.add_argument("--eval-every", type=int, default=300)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: time budget)")
    ap.add_argument("--session-minutes", type=float, default=0.0, help="end this run after so many minutes "
                    "with a checkpoint (0: run to the budget)")
    ap.add_argument("--stream", type=int, default=0, metavar="WORKERS", help="generate fresh bodies meanwhile")
    ap.add_argument("--stream-window", type=int, default=160, help="newest streamed chunks trained on")
    ap.add_argument("--chunk-bodies", type=int, default=25)
    ap.add_argument("--refresh-every", type=int, default=100, help="steps between taking in streamed chunks")
    ap.add_argument("--seed", type=int, default=0, help="data seed of the streamed chunks")
    ap.add_argument("--train-region", choices=sorted(TRAIN_REGIONS), default=None,
                    help="a detail stage: train only this region's detail networks (see training.detail)")
    return ap.parse_args(argv)


def trainable(net, region: str | None) -> list[torch.nn.Parameter]:
    """The parameters a run optimises: all, or (a detail stage) the region's detail networks only,
    every other parameter frozen."""
    if region is None:
        return list(net.parameters())
    names = set(region_parts([p.name for p in net.parts], region))
    keys = [k for k in net.details if net.parts[int(k)].name in names]
    if not keys:
        raise SystemExit(f"error: the bundle's {region} parts have no detail networks; "
                         f"add them first (python -m imghum_blender.training.detail --region {region})")
    net.requires_grad_(False)
    params = [q for k in keys for q in net.details[k].parameters()]
    for q in params:
        q.requires_grad_(True)
    return params


def _distributed() -> tuple[bool, int, int, torch.device]:
    """(distributed, rank, world size, device) from torchrun's environment (else one CPU/GPU process)."""
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return distributed, dist.get_rank() if distributed else 0, dist.get_world_size() if distributed else 1, device


def _resume(ckpt: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, rank: int) -> dict:
    """The run state (step, elapsed seconds, best score), restored from ``ckpt`` when it exists."""
    state = {"step": 0, "elapsed": 0.0, "best": float("inf")}
    if ckpt.exists():
        saved = torch.load(ckpt, map_location="cpu", weights_only=True)
        net.load_state_dict(saved["net"])
        opt.load_state_dict(saved["opt"])
        state = {k: saved[k] for k in state}
        if rank == 0:
            print(f"resumed at step {state['step']} ({state['elapsed'] / 60:.1f} min)", flush=True)
    return state


def _log(log, msg: dict) -> None:
    print(json.dumps(msg), flush=True)
    log.write(json.dumps(msg) + "\n")
    log.flush()


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: train until the time budget (or ``--max-steps``), checkpointing as it goes."""
    args = _parse(argv)
    distributed, rank, world, device = _distributed()
    if distributed and args.stream:
        raise SystemExit("error: --stream runs in a single process (not under torchrun)")
    run = Path(args.workdir)
    run.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle(args.bundle)
    model = Model(bundle)
    net = model.network.train()
    data = val_data = Dataset(sorted(glob.glob(str(Path(args.data) / "chunk_[0-9][0-9][0-9][0-9][0-9].npz"))))
    val_bodies = torch.arange(data.n_bodies - args.val_bodies, data.n_bodies)
    train_bodies = torch.arange(0, data.n_bodies - args.val_bodies)[rank::world]
    focus = "body" if args.train_region is None else "head" if args.train_region == "head" else "hands"
    stream = (Stream(args.bundle, run / "stream", args.stream, args.chunk_bodies, args.seed, args.stream_window, focus)
              if args.stream else None)
    opt = torch.optim.Adam(trainable(net, args.train_region), lr=args.lr)
    state = _resume(run / "last.pt", net, opt, rank)
    model.to(device=device)
    objective = Objective(model)
    if distributed:
        objective = torch.nn.parallel.DistributedDataParallel(objective, find_unused_parameters=True)
    gen = torch.Generator().manual_seed(1000 * rank + state["step"])
    budget = args.minutes * 60
    log = open(run / "train.log", "a")
    t_start = time.time() - state["elapsed"]
    session_end = time.time() + args.session_minutes * 60 if args.session_minutes else math.inf
    taken: list[str] = []
    while True:
        elapsed = time.time() - t_start
        if elapsed >= budget or (args.max_steps and state["step"] >= args.max_steps) or time.time() >= session_end:
            break
        if stream and state["step"] % args.refresh_every == 0 and (fresh := _refreshed(stream, taken)):
            data, taken, train_bodies = fresh, list(stream.ready), torch.arange(fresh.n_bodies)
            _log(log, {"step": state["step"], "stream": {"chunks": len(taken), "bodies": data.n_bodies}})
        lr = args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / budget))))
        for group in opt.param_groups:
            group["lr"] = lr
        bodies = train_bodies[torch.randint(0, len(train_bodies), (args.bodies_per_step,), generator=gen)]
        terms = _step(objective, opt, net, {k: v.to(device) for k, v in data.batch(bodies, args.points_per_body,
                                                                                   gen).items()})
        state["step"] += 1
        state["elapsed"] = time.time() - t_start
        if rank == 0 and state["step"] % 50 == 0:
            _log(log, {"step": state["step"], "min": round(state["elapsed"] / 60, 2), "lr": round(lr, 6),
                       **{k: round(float(v.detach()), 6) for k, v in terms.items()}})
        if rank == 0 and state["step"] % args.eval_every == 0:
            _checkpoint(model, net, opt, state, val_data, val_bodies, run, bundle, log, args.train_region)
    if rank == 0 and state["step"] % args.eval_every:
        _checkpoint(model, net, opt, state, val_data, val_bodies, run, bundle, log, args.train_region)
    if stream:
        stream.close()
    if distributed:
        dist.destroy_process_group()


def _step(objective, opt: torch.optim.Optimizer, net: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
    """One optimisation step; returns the loss terms."""
    terms = objective(batch)
    opt.zero_grad()
    terms["total"].backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
    return terms


def _refreshed(stream: Stream, taken: list[str]) -> Dataset | None:
    """The newest streamed chunks as the training set, when they changed since ``taken``."""
    stream.poll()
    return Dataset(stream.ready) if stream.ready and stream.ready != taken else None


def _checkpoint(model: Model, net, opt, state, data, val_bodies, run, bundle, log, region: str | None) -> None:
    net.eval()
    val = validate(model, data, val_bodies)
    net.train()
    score = val["sdf_mm"] + val["sem_mm"] * 0.05
    improved = score < state["best"]
    if improved:
        state["best"] = score
        record = {"steps": state["step"], "minutes": round(state["elapsed"] / 60, 1), "validation": val}
        if region is None:
            bundle.info["training"] = record
        else:
            bundle.info["detail"][region]["training"] = record
        bundle.save(run / "best.safetensors", net)
    with atomic_path(run / "last.pt") as tmp:
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), **state}, tmp)
    _log(log, {"step": state["step"], "val": val, "best": improved})


if __name__ == "__main__":
    main()
