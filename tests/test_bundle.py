"""Bundle save/load round trip and clear errors for broken files."""
import pytest
import torch

import imghum_blender as ih
from imghum_blender.field.loader import DEFAULT_BUNDLE, load_bundle


def test_round_trip_preserves_tensors_and_queries(model, tmp_path):
    path = tmp_path / "copy.safetensors"
    model.bundle.save(path, model.network)
    again = ih.load_model(path)
    for name, t in model.bundle.tensors.items():
        assert torch.equal(t, again.bundle.tensors[name]), name
    pts = torch.rand(500, 3) - 0.5
    lat = model.latents(phenotypes={"weight": 0.8})
    s1, c1 = model.query(pts, lat)
    s2, c2 = again.query(pts, again.latents(phenotypes={"weight": 0.8}))
    assert torch.allclose(s1, s2) and torch.allclose(c1, c2)


def test_shipped_bundle_is_small_half_precision(model):
    assert DEFAULT_BUNDLE.stat().st_size <= 25 * 1024 * 1024
    nets = [t for k, t in model.bundle.tensors.items() if k.startswith("net.")]
    assert nets and all(t.dtype == torch.float16 for t in nets)


def test_truncated_bundle_gives_clear_error(tmp_path):
    data = DEFAULT_BUNDLE.read_bytes()
    for cut in (4, 100, len(data) // 2, len(data) - 1):
        p = tmp_path / f"cut{cut}.safetensors"
        p.write_bytes(data[:cut])
        with pytest.raises(ih.BundleError, match="truncated|corrupt|not an imGHUM"):
            load_bundle(p)


def test_tampered_bundle_gives_clear_error(tmp_path):
    data = bytearray(DEFAULT_BUNDLE.read_bytes())
    data[-1000] ^= 0x55
    p = tmp_path / "tampered.safetensors"
    p.write_bytes(bytes(data))
    with pytest.raises(ih.BundleError, match="checksum"):
        load_bundle(p)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(ih.BundleError, match="not found"):
        load_bundle(tmp_path / "nope.safetensors")
    p = tmp_path / "foreign.safetensors"
    p.write_bytes(b"PK\x03\x04 this is a zip file, not a bundle" * 10)
    with pytest.raises(ih.BundleError):
        load_bundle(p)


def test_hostile_headers_give_bundle_errors(tmp_path):
    """Issue 31.3: a header nested too deeply or holding a number too long is a BundleError, not
    RecursionError / a bare ValueError."""
    import struct

    for name, header in (("deep", b"[" * 200_000), ("digits", b'{"a": ' + b"1" * 5000 + b"}")):
        p = tmp_path / f"{name}.safetensors"
        p.write_bytes(struct.pack("<Q", len(header)) + header)
        with pytest.raises(ih.BundleError, match="truncated or not an imGHUM"):
            load_bundle(p)


def _write_document(tmp_path, doc, checksum: str, name: str = "edited"):
    """A copy of the shipped bundle with JSON document ``doc`` (the tensors untouched) and its
    document checksum: "reseal" (matching: a malformed bundle from a buggy tool), "keep" (the
    original: a hand edit) or "drop" (an older bundle)."""
    import json

    from imghum_blender.bundle import tensorfile
    from imghum_blender.bundle.header import document_digest

    arrays, meta = tensorfile.load(DEFAULT_BUNDLE)
    text = json.dumps(doc)
    sums = {"reseal": {"document_sha256": document_digest(text)}, "drop": {},
            "keep": {"document_sha256": meta["document_sha256"]}}[checksum]
    meta = {"bundle": text, "sha256": meta["sha256"], **sums}
    path = tmp_path / f"{name}.safetensors"
    tensorfile.save(path, arrays, meta)
    return path


def _rewrite_document(tmp_path, edit, checksum: str, name: str = "edited"):
    """The shipped bundle with its document changed in place by ``edit(doc)``."""
    from imghum_blender.bundle.header import read_document

    doc = read_document(DEFAULT_BUNDLE)
    edit(doc)
    return _write_document(tmp_path, doc, checksum, name)


@pytest.mark.parametrize("key, value", [("softmin_k", 0.02), ("beta_limit", 50.0)])
def test_edited_document_is_refused(tmp_path, key, value):
    from imghum_blender.bundle import vocabulary

    def edit(doc):
        (doc["info"] if key == "softmin_k" else doc["spec"])[key] = value

    path = _rewrite_document(tmp_path, edit, "keep")
    with pytest.raises(ih.BundleError, match="corrupt or was modified"):
        load_bundle(path)
    with pytest.raises(ValueError, match="corrupt or was modified"):
        vocabulary.load(path)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("spec"), "malformed"),
    (lambda d: [p.pop("name") for p in d["parts"]], "malformed"),
    (lambda d: d["parts"][3].pop("box_lo"), "part 3"),
    (lambda d: d["parts"][0].update(main=500), "out of range"),
    (lambda d: d.update(parts=[]), "no part list"),
    (lambda d: d.update(info=[1, 2]), "info"),
    (lambda d: d["info"].pop("phenotype_nodes"), "phenotype grid"),
    (lambda d: d["info"].update(softmin_k="big"), "softmin_k"),
    (lambda d: [d.clear(), d.update(format="imghum-bundle", format_version=1)], "malformed"),
])
def test_malformed_documents_give_bundle_errors(tmp_path, edit, message):
    path = _rewrite_document(tmp_path, edit, "reseal")
    with pytest.raises(ih.BundleError, match=message):
        ih.load_model(path)


def test_document_that_is_not_an_object_or_lacks_its_checksum(tmp_path):
    path = _write_document(tmp_path, ["imghum-bundle", 1], "reseal")
    with pytest.raises(ih.BundleError, match="not an imGHUM model bundle"):
        load_bundle(path)
    path = _rewrite_document(tmp_path, lambda d: None, "drop", name="old")
    with pytest.raises(ih.BundleError, match="no document checksum"):
        load_bundle(path)


def test_directory_is_not_a_bundle(tmp_path):
    from imghum_blender.bundle import vocabulary

    with pytest.raises(ih.BundleError, match="is a directory, not a model bundle"):
        load_bundle(tmp_path)
    with pytest.raises(ValueError, match="is a directory, not a model bundle"):
        vocabulary.load(tmp_path)
