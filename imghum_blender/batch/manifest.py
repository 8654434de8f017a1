"""The run manifest (JSON): every item with its latents, seed, files and status; written atomically
after each item, read back (and checked) for ``--resume``, and merged across shards. No bpy."""
from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

from ..formats.atomic import atomic_write
from ..formats.parsing import json_loads
from .spec import parse_shard

_SHARD_FILE = re.compile(r"manifest-shard-(\d+)-of-(\d+)\.json")


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names its file."""


def manifest_path(out: Path, shard: str | None) -> Path:
    """``manifest.json``, or ``manifest-shard-K-of-N.json`` for a shard."""
    if not shard:
        return out / "manifest.json"
    k, n = parse_shard(shard)
    return out / f"manifest-shard-{k}-of-{n}.json"


def write(path: Path, manifest: dict) -> None:
    """Atomic write."""
    atomic_write(path, json.dumps(manifest, indent=1))


def load(path: Path) -> dict | None:
    """A checked manifest, or None when there is none; :class:`ManifestError` when it is unusable."""
    if not path.exists():
        return None
    try:
        data = json_loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from exc
    except ValueError as exc:  # not UTF-8, not JSON
        raise ManifestError(f"{path}: not a JSON manifest ({exc})") from exc
    _check(data, path)
    return data


def _check(m, path: Path) -> None:
    """The fields ``--resume`` and ``merge`` rely on, with the types they need."""
    def bad(what: str):
        return ManifestError(f"{path}: not a batch manifest ({what}); delete it or choose another --out")

    if not isinstance(m, dict):
        raise bad(f"expected a JSON object, got {type(m).__name__}")
    if not isinstance(m.get("spec_sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", m["spec_sha256"]):
        raise bad("'spec_sha256' must be a SHA-256 hex digest")
    if m.get("shard") is not None and not (isinstance(m["shard"], str) and re.fullmatch(r"\d+/\d+", m["shard"])):
        raise bad(f"'shard' must be 'K/N' or null, got {m['shard']!r}")
    if not isinstance(m.get("items"), list):
        raise bad("'items' must be a list")
    for i, item in enumerate(m["items"]):
        if not (isinstance(item, dict) and isinstance(item.get("id"), str) and item.get("status") in ("ok", "failed")
                and isinstance(item.get("index"), int) and not isinstance(item["index"], bool)):
            raise bad(f"items[{i}] needs a string 'id', an integer 'index' and a 'status' of 'ok' or 'failed'")
        files = item.get("files", {})
        if item["status"] == "ok" and not (isinstance(files, dict) and all(
                isinstance(f, str) and _inside(f) for f in files.values())):
            raise bad(f"items[{i}].files must map kinds to paths inside the output folder")


def _inside(relative: str) -> bool:
    p = PurePosixPath(relative)
    return bool(relative) and not p.is_absolute() and ".." not in p.parts


def finished(manifest: dict | None, path: Path, out: Path, digest: str) -> dict[str, dict]:
    """Items of a previous run of the same spec that succeeded and whose files all exist."""
    if manifest is None:
        return {}
    if manifest["spec_sha256"] != digest:
        raise ManifestError(f"{path} was written for another spec (or an edited one): --resume continues only "
                            "the same spec; delete the manifest or choose another --out")
    return {i["id"]: i for i in manifest["items"]
            if i["status"] == "ok" and all((out / f).is_file() for f in i["files"].values())}


def merge(out: Path) -> Path:
    """Join ``manifest-shard-K-of-N.json`` into ``manifest.json`` (same spec, all N shards; an item
    in several shard manifests is listed once)."""
    if not out.is_dir():
        raise ManifestError(f"{out} is not a folder")
    paths = sorted(p for p in out.glob("manifest-shard-*-of-*.json") if _SHARD_FILE.fullmatch(p.name))
    if not paths:
        raise ManifestError(f"no shard manifests (manifest-shard-K-of-N.json) in {out}")
    parts = {p: _shard_part(p) for p in paths}
    if len({m["spec_sha256"] for m in parts.values()}) != 1:
        raise ManifestError(f"the shard manifests in {out} come from different specs")
    counts = {m["shard"].split("/")[1] for m in parts.values()}
    if len(counts) != 1:
        raise ManifestError(f"the shard manifests in {out} come from different shard counts "
                            f"({', '.join(sorted(counts))})")
    n = int(counts.pop())
    missing = sorted(set(range(1, n + 1)) - {int(m["shard"].split("/")[0]) for m in parts.values()})
    if missing:
        raise ManifestError(f"shards {missing} of {n} are missing in {out}")
    items = _unique_items(parts)
    first = next(iter(parts.values()))
    merged = {**{k: v for k, v in first.items() if k != "items"}, "shard": None, "items": items,
              "failed": [i["id"] for i in items if i["status"] != "ok"]}
    path = out / "manifest.json"
    write(path, merged)
    return path


def _shard_part(path: Path) -> dict:
    """A shard manifest whose ``shard`` field agrees with its file name."""
    m = load(path)
    k, n = _SHARD_FILE.fullmatch(path.name).groups()
    if m.get("shard") != f"{int(k)}/{int(n)}":
        raise ManifestError(f"{path}: 'shard' is {json.dumps(m.get('shard'))}, the file name says {int(k)}/{int(n)}")
    return m


def _unique_items(parts: dict[Path, dict]) -> list[dict]:
    """All items by index, each once (a finished entry wins over a failed one)."""
    by_id: dict[str, dict] = {}
    for path, m in parts.items():
        for item in m["items"]:
            seen = by_id.setdefault(item["id"], item)
            if seen["index"] != item["index"]:
                raise ManifestError(f"{path}: item {item['id']!r} has index {item['index']}, another shard "
                                    f"says {seen['index']}")
            if seen["status"] != "ok" and item["status"] == "ok":
                by_id[item["id"]] = item
    return sorted(by_id.values(), key=lambda i: i["index"])
