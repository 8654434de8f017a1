"""Shared fixtures: the shipped model, the teacher, and a tiny real bundle built from the teacher."""
import os
import warnings
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ANNY_CACHE_DIR", str(Path.home() / ".cache" / "imghum" / "anny"))
warnings.filterwarnings("ignore", message=".*Warp.*")


@pytest.fixture(scope="session")
def model():
    """The shipped default model."""
    import imghum_blender as ih

    return ih.load_model()


@pytest.fixture(scope="session")
def teacher():
    """The anny teacher (built once; the first build fills ANNY_CACHE_DIR)."""
    from imghum_blender.training import teacher as t

    return t.load_teacher()


@pytest.fixture()
def gen():
    """A seeded torch generator."""
    return torch.Generator().manual_seed(0)
