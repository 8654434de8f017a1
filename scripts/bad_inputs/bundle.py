"""Bad model bundles for the loader (``load_bundle`` / ``load_model``) and the light header readers
(``vocabulary.load``, ``summary.read_header``): missing, foreign, truncated, tampered, edited or
malformed files (the full loader on the catalogue's field backend). Each must end in a BundleError (a
ValueError) that says what is wrong."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .catalogue import Case, expect_error

AREA = "bundle"


def edited_bundle(tmp: Path, name: str, edit: Callable[[dict], object], checksum: str = "reseal",
                  document=None) -> Path:
    """A copy of the shipped bundle, tensors untouched, whose JSON document went through ``edit``
    (in place) or is ``document``; its document checksum is recomputed ("reseal": a malformed
    bundle from a buggy tool), the original ("keep": a hand edit) or absent ("drop")."""
    from imghum_blender.bundle import tensorfile
    from imghum_blender.bundle.header import DEFAULT_BUNDLE, document_digest

    arrays, meta = tensorfile.load(DEFAULT_BUNDLE)
    doc = json.loads(meta["bundle"])
    edit(doc)
    text = json.dumps(doc if document is None else document)
    sums = {"reseal": {"document_sha256": document_digest(text)}, "drop": {},
            "keep": {"document_sha256": meta["document_sha256"]}}[checksum]
    path = tmp / f"{name}.safetensors"
    tensorfile.save(path, arrays, {"bundle": text, "sha256": meta["sha256"], **sums})
    return path


def _raw(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / f"{name}.safetensors"
    path.write_bytes(data)
    return path


def _loads(path: Path, field: str) -> Callable[[], object]:
    from imghum_blender import load_model

    return lambda: load_model(path, field=field)


def _files(tmp: Path) -> list[tuple[str, Path]]:
    """(name, path) of broken files."""
    from imghum_blender.bundle.header import DEFAULT_BUNDLE

    data = DEFAULT_BUNDLE.read_bytes()
    tampered = bytearray(data)
    tampered[-1000] ^= 0x55
    return [
        ("missing file", tmp / "missing.safetensors"),
        ("a directory", tmp),
        ("empty file", _raw(tmp, "empty", b"")),
        ("4 bytes", _raw(tmp, "four", data[:4])),
        ("truncated header", _raw(tmp, "cut100", data[:100])),
        ("truncated in the tensors", _raw(tmp, "half", data[:len(data) // 2])),
        ("last byte missing", _raw(tmp, "last", data[:-1])),
        ("foreign file (zip)", _raw(tmp, "zip", b"PK\x03\x04 not a bundle" * 20)),
        ("header length 2^60", _raw(tmp, "huge", (2 ** 60).to_bytes(8, "little") + data[8:])),
        ("header not JSON", _raw(tmp, "notjson", (12).to_bytes(8, "little") + b"{not json!!}" + data[8:])),
        ("header nested 200000 deep", _raw(tmp, "deep", (200_000).to_bytes(8, "little") + b"[" * 200_000)),
        ("tensor byte flipped", _raw(tmp, "tampered", bytes(tampered))),
    ]


def _documents(tmp: Path) -> list[tuple[str, Path]]:
    """(name, path) of bundles with an edited or malformed document."""
    def info(key, value):
        return lambda d: d["info"].__setitem__(key, value)

    def spec(key, value):
        return lambda d: d["spec"].__setitem__(key, value)

    def part(i, key, value):
        return lambda d: d["parts"][i].__setitem__(key, value)

    return [
        ("edited softmin_k (hand edit)", edited_bundle(tmp, "softmin", info("softmin_k", 0.02), "keep")),
        ("edited beta_limit (hand edit)", edited_bundle(tmp, "betalimit", spec("beta_limit", 50.0), "keep")),
        ("document without its checksum", edited_bundle(tmp, "nosum", lambda d: None, "drop")),
        ("no spec", edited_bundle(tmp, "nospec", lambda d: d.pop("spec"))),
        ("spec is null", edited_bundle(tmp, "nullspec", lambda d: d.__setitem__("spec", None))),
        ("parts without names", edited_bundle(tmp, "noname", lambda d: [p.pop("name") for p in d["parts"]])),
        ("a list at the top level", edited_bundle(tmp, "list", lambda d: None, document=["imghum-bundle", 1])),
        ("format version 2", edited_bundle(tmp, "v2", lambda d: d.__setitem__("format_version", 2))),
        ("another format", edited_bundle(tmp, "other", lambda d: d.__setitem__("format", "smplx"))),
        ("beta_size 0", edited_bundle(tmp, "beta0", spec("beta_size", 0))),
        ("beta_size a string", edited_bundle(tmp, "betastr", spec("beta_size", "sixteen"))),
        ("duplicate bone names",
         edited_bundle(tmp, "dupbones", lambda d: d["spec"]["bone_names"].__setitem__(1, "root"))),
        ("bone list one short", edited_bundle(tmp, "shortbones", lambda d: d["spec"]["bone_names"].pop())),
        ("empty part list", edited_bundle(tmp, "noparts", lambda d: d.__setitem__("parts", []))),
        ("part without box", edited_bundle(tmp, "nobox", lambda d: d["parts"][3].pop("box_lo"))),
        ("part bone index 500", edited_bundle(tmp, "bone500", part(0, "main", 500))),
        ("part box inverted", edited_bundle(tmp, "inverted", part(2, "box_lo", [1.0, 1.0, 1.0]))),
        ("part width changed (weights mismatch)", edited_bundle(tmp, "width", part(5, "width", 40))),
        ("info is a list", edited_bundle(tmp, "infolist", lambda d: d.__setitem__("info", [1, 2]))),
        ("phenotype nodes missing", edited_bundle(tmp, "nonodes", lambda d: d["info"].pop("phenotype_nodes"))),
        ("phenotype nodes unsorted",
         edited_bundle(tmp, "unsorted", lambda d: d["info"]["phenotype_nodes"][0].reverse())),
        ("softmin_k a string", edited_bundle(tmp, "softstr", info("softmin_k", "big"))),
        ("softmin_k negative", edited_bundle(tmp, "softneg", info("softmin_k", -0.003))),
    ]


def cases(tmp: Path, field: str) -> list[Case]:
    """Every broken file through the full loader (``field`` backend), and the edited ones through the header
    readers."""
    from imghum_blender.bundle import summary, vocabulary

    tmp = tmp / AREA
    tmp.mkdir(parents=True, exist_ok=True)
    out = [Case(AREA, f"load_model: {name}", lambda p=path: expect_error(_loads(p, field)))
           for name, path in _files(tmp) + _documents(tmp)]
    edited = tmp / "softmin.safetensors"
    out += [Case(AREA, "vocabulary.load: edited document", lambda: expect_error(lambda: vocabulary.load(edited))),
            Case(AREA, "vocabulary.load: a directory", lambda: expect_error(lambda: vocabulary.load(tmp))),
            Case(AREA, "read_header: parts without names",
                 lambda: expect_error(lambda: summary.read_header(tmp / "noname.safetensors"))),
            Case(AREA, "read_header: no spec",
                 lambda: expect_error(lambda: summary.read_header(tmp / "nospec.safetensors")))]
    return out
