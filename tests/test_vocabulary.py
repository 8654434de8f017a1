"""The one vocabulary: built from a bundle header, shared ranges and random draws."""
import numpy as np
import pytest

from imghum_blender.bundle import header, vocabulary
from imghum_blender.surface import edits


def test_vocabulary_matches_the_shipped_model(model):
    voc = vocabulary.load()
    assert voc == model.vocabulary
    assert voc.part_names == tuple(p.name for p in model.bundle.parts)
    assert tuple(edits.REGIONS) == voc.region_names
    assert "lowerarm.L" in voc.limb_parts and "head" not in voc.limb_parts


def test_random_draws_stay_in_their_ranges():
    voc, rng = vocabulary.load(), np.random.default_rng(3)
    for _ in range(50):
        phen = voc.random_phenotypes(rng)
        ranges = vocabulary.RANDOM_PHENOTYPES
        assert all(ranges[n][0] <= v <= ranges[n][1] for n, v in phen.items())
        expr = voc.random_expression(rng)
        lo, hi = vocabulary.RANDOM_EXPRESSION_COUNT
        assert lo <= len(expr) <= hi and set(expr) <= set(voc.expression_names)
        assert max(abs(b) for b in voc.random_beta(rng)) <= vocabulary.RANDOM_BETA_CLIP


@pytest.mark.parametrize("doc", [{"spec": {}}, {"spec": None}, {"parts": [{}]}, {"spec": {"beta_size": "x"}}])
def test_malformed_documents_say_so(doc):
    good = header.read_document(header.DEFAULT_BUNDLE)
    with pytest.raises(vocabulary.VocabularyError, match="malformed"):
        vocabulary.Vocabulary.from_document({**good, **doc})


def test_edit_ranges_come_from_the_vocabulary():
    with pytest.raises(ValueError, match="thickness"):
        edits.Layer("SHIRT", thickness=vocabulary.LAYER["thickness"].hi * 2)
    with pytest.raises(ValueError, match="rounding"):
        edits.LimbCut("lowerarm.L", rounding=float("nan"))
