"""Bundle save/load round trip and clear errors for broken files."""
import pytest
import torch

import imghum_blender as ih
from imghum_blender.bundle import DEFAULT_BUNDLE, load_bundle


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
