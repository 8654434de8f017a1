"""The run manifest (JSON): every item with its latents, seed, files and status; written atomically
after each item, read back for ``--resume``, and merged across shards. No bpy."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def spec_digest(path: Path) -> str:
    """SHA-256 of the spec file (shards and resumes must use the same spec)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def manifest_path(out: Path, shard: str | None) -> Path:
    """``manifest.json``, or ``manifest-shard-K-of-N.json`` for a shard."""
    if not shard:
        return out / "manifest.json"
    k, n = shard.split("/")
    return out / f"manifest-shard-{k}-of-{n}.json"


def write(path: Path, manifest: dict) -> None:
    """Atomic write."""
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)


def load(path: Path) -> dict | None:
    """A manifest, or None when there is none."""
    return json.loads(path.read_text()) if path.is_file() else None


def finished(manifest: dict | None, out: Path, digest: str) -> dict[str, dict]:
    """Items of a previous run of the same spec that succeeded and whose files all exist."""
    if not manifest or manifest.get("spec_sha256") != digest:
        return {}
    return {i["id"]: i for i in manifest["items"]
            if i["status"] == "ok" and all((out / f).is_file() for f in i["files"].values())}


def merge(out: Path) -> Path:
    """Join ``manifest-shard-*-of-N.json`` into ``manifest.json`` (same spec, all N shards)."""
    shards = sorted(out.glob("manifest-shard-*-of-*.json"))
    if not shards:
        raise ValueError(f"no shard manifests in {out}")
    parts = [json.loads(p.read_text()) for p in shards]
    digests = {p["spec_sha256"] for p in parts}
    counts = {p["shard"].split("/")[1] for p in parts}
    if len(digests) != 1 or len(counts) != 1:
        raise ValueError("the shard manifests come from different specs or shard counts")
    n = int(counts.pop())
    have = sorted(int(p["shard"].split("/")[0]) for p in parts)
    if have != list(range(1, n + 1)):
        missing = sorted(set(range(1, n + 1)) - set(have))
        raise ValueError(f"shards {missing} of {n} are missing")
    items = sorted((i for p in parts for i in p["items"]), key=lambda i: i["index"])
    merged = {**{k: v for k, v in parts[0].items() if k != "items"}, "shard": None, "items": items,
              "failed": [i["id"] for i in items if i["status"] != "ok"]}
    path = out / "manifest.json"
    write(path, merged)
    return path
