"""Relevance in [0, 1]: the fitted maps (core.relevance), the lexical component and fusion, on real
models (the aligned test model, the real all-MiniLM-L6-v2, tiny-random), real FAISS and SQLite."""

from __future__ import annotations

import numpy as np
import pytest

from mmexplorer.core import relevance as rel
from mmexplorer.core.engine import Engine
from mmexplorer.core.types import FusionWeights, ItemQuery, Modality, TextQuery
from mmexplorer.devtools import synth


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _pairs(rng: np.random.Generator, *, informative: bool, n: int = 40, d: int = 32) -> rel.CalibrationData:
    items = _unit(rng.normal(size=(n, d)))
    noise = rng.normal(size=(n, d))
    queries = _unit(items * 3 + noise) if informative else _unit(noise)
    return rel.CalibrationData(
        queries=queries,
        items=items,
        positives=[frozenset({i}) for i in range(n)],
        background=_unit(rng.normal(size=(30, d))),
        source="synthetic",
    )


def test_a_fit_on_separable_pairs_is_informative_and_orders_by_score():
    model = rel.fit(_pairs(np.random.default_rng(0), informative=True), model_id="m", kind="text")
    assert model.informative and model.auc > 0.95
    low, high = model(np.array([0.0, 0.9]))
    assert 0.0 <= low < 0.2
    assert 0.8 < high <= 1.0


def test_a_model_that_cannot_tell_its_pairs_apart_never_makes_anything_relevant():
    model = rel.fit(_pairs(np.random.default_rng(1), informative=False), model_id="m", kind="text")
    assert not model.informative
    assert float(np.max(model(np.linspace(-1, 1, 50)))) <= rel.UNINFORMATIVE_CAP < rel.RELEVANT


def test_the_fitted_map_is_cached_per_model_and_refitted_for_another(tmp_path):
    cache = rel.RelevanceCache(tmp_path)
    calls = []

    def make():
        calls.append(1)
        return _pairs(np.random.default_rng(2), informative=True)

    first, _ = cache.get_or_fit("text", "text", "model-a", make)
    again, background = cache.get_or_fit("text", "text", "model-a", make)
    assert len(calls) == 1 and again == first and background.shape == (30, 32)
    cache.get_or_fit("text", "text", "model-b", make)
    assert len(calls) == 2
    (next(tmp_path.glob("*.json"))).write_text("{not json")  # a corrupt cache file is refitted
    cache.get_or_fit("text", "text", "model-a", make)
    cache.get_or_fit("text", "text", "model-b", make)
    assert len(calls) == 3


def test_noisy_or_stays_in_unit_interval_and_grows_with_evidence():
    assert rel.noisy_or([]) == 0.0
    assert rel.noisy_or([0.5]) == pytest.approx(0.5)
    assert rel.noisy_or([0.5, 0.5]) == pytest.approx(0.75)
    assert 0.0 <= rel.noisy_or([1.5, -2.0, 0.3]) <= 1.0


@pytest.fixture(scope="module")
def mixed_engine(tmp_path_factory, aligned_model_dir):
    root = tmp_path_factory.mktemp("mixed")
    photos = synth.make_photo_library(root / "lib" / "photos", n=72, seed=21, size=(96, 96))
    notes = synth.make_note_library(root / "lib" / "notes")
    special = root / "lib" / "trips" / "kilimanjaro-summit.jpg"
    special.parent.mkdir(parents=True)
    synth.render_shape("green", "triangle", size=96, seed=4).save(special)
    engine = Engine(root / "data", image_model=str(aligned_model_dir), device="cpu")
    engine.index([root / "lib"])
    yield engine, photos, notes, special
    engine.close()


@pytest.mark.slow
def test_every_result_has_relevance_in_unit_interval_with_its_components(mixed_engine):
    engine, _photos, _notes, _special = mixed_engine
    for query in ("a red circle", "my cat has to see the vet", "the stock market crash of 1929"):
        results = engine.search(TextQuery(query), k=30)
        assert results
        for r in results:
            assert 0.0 <= r.relevance <= 1.0 and r.score == r.relevance
            assert r.components and all(0.0 <= c.relevance <= 1.0 and 0.0 <= c.weight <= 1.0 for c in r.components)
            assert r.relevant == (r.relevance >= rel.RELEVANT)
        assert [r.relevance for r in results] == sorted((r.relevance for r in results), reverse=True)


@pytest.mark.slow
def test_photo_descriptions_find_photos_and_note_queries_find_notes_across_modalities(mixed_engine):
    engine, photos, notes, _special = mixed_engine
    captions = sorted({c for _p, c in photos})
    photo_hits = 0
    for cap in captions:
        strong = [r for r in engine.search(TextQuery(cap), k=10) if r.relevant]
        right = {str(p) for p, c in photos if c == cap}
        photo_hits += bool(strong) and strong[0].path in right
    note_first = note_hits = 0
    for query, key in synth.NOTE_QUERIES:
        results = engine.search(TextQuery(query), k=10)
        note_first += results[0].path == str(notes[key])
        strong = [r for r in results if r.relevant]
        note_hits += bool(strong) and strong[0].path == str(notes[key])
    assert photo_hits / len(captions) >= 0.9
    # Ranked first across photos and notes; judged relevant as well for all but the loosest
    # paraphrases (raw cosine ~0.2, e.g. "getting ready to meet a potential employer").
    assert note_first / len(synth.NOTE_QUERIES) >= 0.9
    assert note_hits / len(synth.NOTE_QUERIES) >= 0.85


@pytest.mark.slow
def test_an_off_topic_query_is_answered_with_no_good_match(mixed_engine):
    engine, *_ = mixed_engine
    results = engine.search(TextQuery("the causes of the French revolution in 1789"), k=20)
    assert results and not any(r.relevant for r in results)


@pytest.mark.slow
def test_exact_names_and_words_are_never_hidden(mixed_engine):
    engine, _photos, notes, special = mixed_engine
    by_name = engine.search(TextQuery("kilimanjaro summit"), k=5)
    assert by_name[0].path == str(special) and by_name[0].relevant
    assert any(c.space == "lexical" and c.via == "name" for c in by_name[0].components)
    by_stem = engine.search(TextQuery("kilimanjaro-summit.jpg"), k=5)
    assert by_stem[0].path == str(special)
    by_word = engine.search(TextQuery("Zermatt"), k=5)
    assert by_word[0].path == str(notes["alps_hike"]) and by_word[0].relevant
    assert "Zermatt" in (by_word[0].chunk_text or "")


@pytest.mark.slow
def test_weights_change_the_fusion_and_belong_to_the_library(mixed_engine):
    engine, photos, _notes, _special = mixed_engine
    cap = photos[0][1]
    assert engine.search(TextQuery(cap), k=1)[0].modality is Modality.PHOTO
    without_images = engine.search(TextQuery(cap), k=5, weights=FusionWeights(image=0.0))
    assert all(not r.relevant for r in without_images if r.modality is Modality.PHOTO)
    saved = engine.set_fusion_weights(FusionWeights(image=0.5, text=2.0))
    assert saved == FusionWeights(image=0.5, text=1.0)  # kept in [0, 1]
    assert engine.fusion_weights() == saved and engine.status().weights == saved
    top = engine.search(TextQuery(cap), k=1)[0]
    image = next(c for c in top.components if c.space == "image")
    assert image.weight == 0.5 and top.relevance == pytest.approx(rel.noisy_or([0.5 * image.relevance]), abs=1e-6)
    engine.set_fusion_weights(FusionWeights())


@pytest.mark.slow
def test_find_similar_is_calibrated_too(mixed_engine):
    engine, photos, _notes, _special = mixed_engine
    probe, cap = photos[0]
    item = engine.item_by_path(probe)
    results = engine.search(ItemQuery(item.item_id), k=10)
    assert all(r.item_id != item.item_id for r in results)
    assert all(0.0 <= r.relevance <= 1.0 for r in results)
    strong = [r for r in results if r.relevant]
    assert strong and strong[0].path in {str(p) for p, c in photos if c == cap}


@pytest.mark.slow
def test_tiny_random_photos_are_never_judged_relevant(tmp_path):
    photos = synth.make_photo_library(tmp_path / "lib", n=36, seed=2, size=(48, 48))
    with Engine(tmp_path / "data", image_model="tiny-random", device="cpu") as engine:
        engine.index([tmp_path / "lib"])
        for _p, cap in photos[:12]:
            results = engine.search(TextQuery(cap), k=10)
            assert results and not any(r.relevant for r in results)
