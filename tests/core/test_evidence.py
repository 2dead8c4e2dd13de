"""Kinds of evidence and the one fusion (core.evidence): a caption is calibrated as a caption, and
counts only as far as the pixels it was read from support it (issue 24).

Real parts: the real all-MiniLM-L6-v2 for the caption map, and for the end-to-end test the aligned
test model (pixels) with the suite's trained test captioner, real FAISS and SQLite."""

from __future__ import annotations

import numpy as np
import pytest

from mmexplorer.core import evidence as ev
from mmexplorer.core import relevance as rel
from mmexplorer.core.types import Component, TextQuery


def _pixels(r: float) -> Component:
    return Component("image", "pixels", 0.3, r)


def _caption(r: float) -> Component:
    return Component("text", "caption", 0.72, r)


def test_a_caption_the_pixels_do_not_support_adds_nothing():
    near_miss = ev.with_support([_caption(0.9), _pixels(0.01)])
    assert near_miss[0].support == pytest.approx(0.02)
    assert ev.fuse_components(near_miss) < 0.05
    assert "not counted" in ev.support_note(near_miss[0])


def test_a_caption_raises_a_photo_the_pixels_already_support():
    supported = ev.with_support([_caption(0.9), _pixels(0.6)])
    assert supported[0].support == 1.0 and ev.support_note(supported[0]) == ""
    assert ev.fuse_components(supported) == pytest.approx(1 - 0.1 * 0.4)
    partly = ev.with_support([_caption(0.9), _pixels(0.25)])
    assert partly[0].support == pytest.approx(0.5)
    assert "counts 50%" in ev.support_note(partly[0])
    # the pixels' own component is independent evidence: never discounted
    assert partly[1].support == 1.0


def test_a_caption_stands_alone_where_the_pixels_carry_no_evidence():
    # tiny-random pixels (uninformative space), or no pixel component at all
    alone = ev.with_support([_caption(0.9), _pixels(0.01)], informative=lambda space: space != "image")
    assert alone[0].support == 1.0
    assert ev.with_support([_caption(0.9)])[0].support == 1.0


def test_one_fusion_for_floats_and_matrices():
    assert ev.fuse([]) == 0.0
    assert ev.fuse([0.5, 0.5]) == pytest.approx(0.75)
    assert ev.fuse([0.5, 0.8], rule="max") == pytest.approx(0.8)
    grid = ev.fuse([np.full((2, 2), 0.5), np.array([[0.0, 1.0], [0.5, 2.0]])])
    assert grid.shape == (2, 2) and np.allclose(grid, [[0.5, 1.0], [0.75, 1.0]])
    # weights are clamped and the result stays in [0, 1]
    heavy = Component("text", "chunk", 0.9, 0.9, weight=3.0)
    assert ev.fuse_components([heavy, heavy]) == pytest.approx(1 - 0.1 * 0.1)


def test_a_new_kind_of_evidence_arrives_with_its_own_calibration_and_source():
    kind = ev.register(ev.EvidenceKind("text", "ocr", "Text in the picture", source=("image", "pixels")))
    try:
        found = ev.with_support([Component("text", "ocr", 0.8, 0.9), _pixels(0.0)])
        assert found[0].support == 0.0
        assert ev.kind_of("text", "ocr") is kind
    finally:
        ev.unregister("text", "ocr")
    assert ev.kind_of("text", "ocr") is None


def test_the_caption_map_is_fitted_on_captions_and_is_stricter_than_the_note_map(minilm):
    from mmexplorer.core.calibration import sentence_encoder_data
    from mmexplorer.core.calibration.captions import caption_data

    captions = caption_data(minilm.encode)
    assert "near misses" in captions.source
    caption_map = rel.fit(captions, model_id=minilm.model_id, kind="text", gap=False)
    note_map = rel.fit(sentence_encoder_data(minilm.encode), model_id=minilm.model_id, kind="text", gap=False)
    assert caption_map.informative
    q, same, near, other = minilm.encode(["a red circle", "a red circle", "a green circle", "a blue star"])
    # the same caption is a match for both maps; a caption of another shape in another colour is not
    assert caption_map(float(q @ same)) > 0.9
    assert caption_map(float(q @ other)) < 0.2
    # a near miss scores like a paraphrase: the note map calls it certain, the caption map less so
    assert note_map(float(q @ near)) > 0.99
    assert caption_map(float(q @ near)) < note_map(float(q @ near)) - 0.05


@pytest.fixture(scope="module")
def captioned_shapes(tmp_path_factory, aligned_model_dir):
    """Six shape photos (aligned test model), captioned by the suite's test captioner."""
    from mmexplorer.core.engine import Engine
    from mmexplorer.devtools import ensure_test_captioner, synth

    root = tmp_path_factory.mktemp("captioned")
    lib = root / "photos"
    lib.mkdir()
    shapes = [("red", "circle"), ("green", "circle"), ("red", "triangle"), ("blue", "square"),
              ("yellow", "star"), ("purple", "circle")]
    for i, (colour, shape) in enumerate(shapes):
        synth.render_shape(colour, shape, size=96, seed=40 + i).save(lib / f"photo_{i}.png")
    engine = Engine(root / "data", image_model=str(aligned_model_dir), device="cpu")
    engine.set_caption_model(str(ensure_test_captioner()))
    engine.index([lib])
    report = engine.caption_photos()
    assert report.captioned == len(shapes)
    yield engine, {f"photo_{i}.png": f"{c} {s}" for i, (c, s) in enumerate(shapes)}
    engine.close()


@pytest.mark.slow
def test_a_green_circle_is_not_a_strong_match_for_a_red_circle_with_captions_on(captioned_shapes):
    engine, _names = captioned_shapes
    results = engine.search(TextQuery("a red circle"), k=10)
    relevant = [r for r in results if r.relevant]
    assert [r.path.rsplit("/", 1)[-1] for r in relevant] == ["photo_0.png"]
    green = next(r for r in results if r.path.endswith("photo_1.png"))
    caption = next(c for c in green.components if c.via == "caption")
    pixels = next(c for c in green.components if c.via == "pixels")
    # the caption reads "a green circle": near the query, but the pixels do not support it
    assert pixels.relevance < 0.2 and caption.support < 0.5
    assert green.relevance < rel.RELEVANT
    # the red circle keeps its caption at full support
    red = relevant[0]
    assert all(c.support == 1.0 for c in red.components)
    # off-topic stays empty with captions on
    assert not [r for r in engine.search(TextQuery("volcano eruption in Iceland"), k=10) if r.relevant]


@pytest.mark.slow
def test_explain_scores_a_near_miss_as_search_does(captioned_shapes):
    engine, _names = captioned_shapes
    found = {r.path: r for r in engine.search(TextQuery("a red circle"), k=10)}
    green = next(p for p in found if p.endswith("photo_1.png"))
    explanation = engine.explain("a red circle", green)
    assert explanation.relevance == pytest.approx(found[green].relevance, abs=1e-4)
    caption = next(c for c in explanation.components if c.via == "caption")
    assert caption.support < 0.5


@pytest.mark.slow
def test_the_similarity_matrix_fuses_as_search_does(captioned_shapes):
    engine, _names = captioned_shapes
    by_name = {r.path.rsplit("/", 1)[-1]: r.item_id for r in engine.search(TextQuery("a circle"), k=10)}
    ids = [by_name["photo_0.png"], by_name["photo_1.png"], by_name["photo_3.png"]]  # red circle, green circle, blue square
    m = engine.similarity_matrix(ids)
    assert m.shape == (3, 3) and np.allclose(m, m.T) and np.allclose(np.diag(m), 1.0)
    assert ((0.0 <= m) & (m <= 1.0)).all()
    # "a red circle" and "a green circle" are close captions, but the pixels do not agree: the
    # caption-to-caption evidence counts only as far as the pixels support it
    raw = engine.similarity_matrix(ids, calibrated=False)
    assert raw[0, 1] > 0.3
    assert m[0, 1] < 0.5
