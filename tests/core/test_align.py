"""Alignment maps between spaces (core.align): known rotations, held-out anchor recall with real
encoders, storage and refitting, and Engine.related across modalities."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from mmexplorer.core import align
from mmexplorer.core.engine import Engine
from mmexplorer.core.errors import UsageError
from mmexplorer.core.types import Modality, Space
from mmexplorer.devtools import synth


def _report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n[figures] {line}")


def _rotation(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _cloud(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# -------------------------------------------------------------------------------------- synthetic
def test_procrustes_and_least_squares_recover_a_known_rotation():
    x = _cloud(600, 32, seed=1)
    q = _rotation(32, seed=2)
    y = x @ q + 0.01 * np.random.default_rng(3).normal(size=x.shape)
    pro = align.fit_map(x, y, "procrustes")
    lsq = align.fit_map(x, y, "lstsq", ridge=1e-4)
    assert np.linalg.norm(pro.weight - q) / np.linalg.norm(q) < 0.02
    assert np.linalg.norm(lsq.weight - q) / np.linalg.norm(q) < 0.05
    np.testing.assert_allclose(pro.weight.T @ pro.weight, np.eye(32), atol=1e-8)  # orthogonal
    held = _cloud(200, 32, seed=4)
    target = held @ q
    assert align.recall_at(pro.apply(held), target)[1] == 1.0
    assert align.recall_at(lsq.apply(held), target)[1] == 1.0
    assert align.recall_at(held, target)[1] < 0.1  # without the map the spaces do not line up


def test_procrustes_between_spaces_of_different_dims():
    # A 16-d space embedded isometrically in a 24-d one: the zero-padded rotation, cut to 24 columns.
    x = _cloud(400, 16, seed=5)
    embed = _rotation(24, seed=6)[:16]  # (16, 24), orthonormal rows
    y = x @ embed + 0.005 * np.random.default_rng(7).normal(size=(400, 24))
    m = align.fit_map(x, y, "procrustes")
    assert m.weight.shape == (16, 24)
    assert np.linalg.norm(m.weight - embed) / np.linalg.norm(embed) < 0.02
    back = align.fit_map(y, x, "procrustes")  # and the projection the other way
    assert np.linalg.norm(back.weight - embed.T) / np.linalg.norm(embed) < 0.02


def test_choose_and_fit_reports_held_out_recall_against_no_map_and_a_shuffled_floor():
    x = _cloud(1000, 24, seed=8)
    q = _rotation(24, seed=9)
    y = x @ q + 0.05 * np.random.default_rng(10).normal(size=x.shape)
    m, quality = align.choose_and_fit(x, y)
    assert quality.n_held_out == 200 and quality.n_train == 800
    assert quality.methods["procrustes"]["r1"] > 0.95
    assert quality.no_map is not None and quality.no_map["r1"] < 0.05
    assert quality.shuffled_r1 < 0.05
    assert m.method in align.METHODS


def test_bad_fits_are_usage_errors():
    with pytest.raises(UsageError):
        align.fit_map(np.zeros((3, 4)), np.zeros((2, 4)), "procrustes")
    with pytest.raises(UsageError):
        align.fit_map(np.zeros((3, 4)), np.zeros((3, 4)), "cca")


def test_anchor_phrases_are_a_few_thousand_distinct_lines():
    phrases = align.anchor_phrases()
    assert len(phrases) >= 2000
    assert len(set(phrases)) == len(phrases)
    assert all(p == p.strip() and p and not p.startswith("#") for p in phrases)


# -------------------------------------------------------------------------------------- real encoders
@pytest.mark.slow
def test_held_out_anchor_recall_through_the_map_beats_no_map(aligned_model_dir, minilm, capsys):
    from mmexplorer.core.models import load_image_model

    clip = load_image_model(str(aligned_model_dir), device="cpu")
    phrases = align.anchor_phrases()
    a = np.asarray(clip.encode_texts(phrases), np.float32)
    b = np.asarray(minilm.encode(phrases), np.float32)
    for name, (x, y) in {"clip-text -> minilm": (a, b), "minilm -> clip-text": (b, a)}.items():
        m, quality = align.choose_and_fit(x, y)
        r = quality.methods[m.method]
        _report(
            capsys,
            f"{name}: held-out recall@1 {r['r1']:.3f} @5 {r['r5']:.3f} ({m.method}); "
            f"other {[(k, round(v['r1'], 3)) for k, v in quality.methods.items()]}; no map: n/a (dims "
            f"{x.shape[1]} vs {y.shape[1]}); shuffled {quality.shuffled_r1:.3f}; chance {quality.chance_r1:.4f}",
        )
        assert quality.no_map is None  # dims differ: no direct comparison exists
        assert r["r1"] >= 10 * quality.chance_r1
        assert r["r1"] > quality.shuffled_r1 + 0.02  # the map learned the pairing, not the spaces' shapes


# -------------------------------------------------------------------------------------- storage
def _map_files(data_dir) -> list:
    folder = data_dir / align.DIR_NAME
    return sorted(folder.glob("*-to-*.npz")) if folder.exists() else []


@pytest.mark.slow
def test_maps_are_stored_reloaded_and_refitted_when_a_model_changes(tmp_path, aligned_model_dir):
    data = tmp_path / "data"
    phrases = align.anchor_phrases()[::8]  # a few hundred: enough to fit and measure, quick to encode
    with Engine(data, image_model="tiny-random") as engine:
        aligner = align.Aligner(engine.catalog, engine.spaces, data / align.DIR_NAME, phrases=phrases)
        first = aligner.map(Space.IMAGE, Space.TEXT)
        assert first.source_model == engine.space(Space.IMAGE).encoder().model_id
        files = _map_files(data)
        assert len(files) == 1
        if os.name == "posix":
            assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
            assert stat.S_IMODE((data / align.DIR_NAME).stat().st_mode) == 0o700
        written = files[0].stat().st_mtime_ns
    with Engine(data, image_model="tiny-random") as engine:
        aligner = align.Aligner(engine.catalog, engine.spaces, data / align.DIR_NAME, phrases=phrases)
        again = aligner.map(Space.IMAGE, Space.TEXT)
        assert files[0].stat().st_mtime_ns == written  # read back, not refitted
        np.testing.assert_array_equal(again.linear.weight, first.linear.weight)
        assert again.quality == first.quality
    with Engine(data, image_model=str(aligned_model_dir)) as engine:
        aligner = align.Aligner(engine.catalog, engine.spaces, data / align.DIR_NAME, phrases=phrases)
        changed = aligner.map(Space.IMAGE, Space.TEXT)
        assert changed.source_model != first.source_model
        assert changed.linear.weight.shape == (64, 384)
        assert len(_map_files(data)) == 2  # keyed by both model ids
    # A damaged file is refitted, not a crash.
    for f in _map_files(data):
        f.write_bytes(b"not a map")
    with Engine(data, image_model=str(aligned_model_dir)) as engine:
        aligner = align.Aligner(engine.catalog, engine.spaces, data / align.DIR_NAME, phrases=phrases)
        assert aligner.map(Space.IMAGE, Space.TEXT).source_model == changed.source_model


@pytest.mark.slow
def test_photos_with_captions_are_paired_anchors_and_their_growth_refits(tmp_path, aligned_model_dir):
    from mmexplorer.core.types import Chunk

    root = tmp_path / "photos"
    root.mkdir()
    for i, (colour, shape) in enumerate([(c, s) for c in ("red", "blue", "green") for s in ("circle", "star", "ring")]):
        synth.render_shape(colour, shape, size=64, seed=40 + i).save(root / f"p{i}.png")
    data = tmp_path / "data"
    phrases = align.anchor_phrases()[::8]
    with Engine(data, image_model=str(aligned_model_dir)) as engine:
        engine.index([root])
        aligner = align.Aligner(engine.catalog, engine.spaces, data / align.DIR_NAME, phrases=phrases)
        before = aligner.map(Space.IMAGE, Space.TEXT)
        assert before.n_item_pairs == 0
        # Captions as the captioner stores them: one text-space chunk per photo, and its vector.
        text = engine.space(Space.TEXT)
        rows = sorted(engine.catalog.items_under([str(root)]).items())
        captions = [f"a {c} {s}" for c in ("red", "blue", "green") for s in ("circle", "star", "ring")]
        vectors = text.encode_texts(captions)
        added = []
        with engine.catalog.transaction():
            for (_path, row), caption in zip(rows, captions):
                _old, new = engine.catalog.replace_chunks(row.id, Space.TEXT.value, [Chunk(0, 0, len(caption), caption)])
                added += new
        text.writable_index().add(np.asarray(added, dtype=np.int64), np.asarray(vectors, dtype=np.float32))
        x, y = aligner.item_pairs(Space.IMAGE, Space.TEXT)
        assert x.shape == (9, 64) and y.shape == (9, 384)
        after = aligner.map(Space.IMAGE, Space.TEXT)  # nine new pairs: refitted with them
        assert after.n_item_pairs == 9
        assert after.quality.n_train + after.quality.n_held_out == len(phrases) + 9
        assert aligner.map(Space.IMAGE, Space.TEXT) is after  # unchanged library: no refit


# -------------------------------------------------------------------------------------- related
# Notes that name a colour and a shape in everyday words, and notes about neither.
SHAPE_NOTES = {
    ("red", "circle"): "The red circle on the bus stop sign was freshly painted this week.",
    ("blue", "square"): "She framed a small blue square of fabric and hung it by the window.",
    ("yellow", "star"): "The children stuck a yellow star on the classroom door for the best reader.",
    ("green", "triangle"): "A green triangle marks the footpath through the woods to the lake.",
}
OTHER_NOTES = (
    "Call the plumber on Monday about the dripping kitchen tap.",
    "The quarterly tax return is due at the end of the month.",
    "Grandma's recipe: two cups of flour, one egg, a pinch of salt.",
)


@pytest.fixture(scope="module")
def shape_library(tmp_path_factory, aligned_model_dir):
    root = tmp_path_factory.mktemp("related")
    (root / "photos").mkdir()
    (root / "notes").mkdir()
    photos = {}
    for i, (colour, shape) in enumerate(SHAPE_NOTES):
        for copy in range(2):
            path = root / "photos" / f"IMG_{i}{copy}.png"
            synth.render_shape(colour, shape, size=96, seed=300 + 10 * i + copy).save(path)
            photos.setdefault((colour, shape), []).append(path)
    notes = {}
    for i, (key, text) in enumerate(SHAPE_NOTES.items()):
        path = root / "notes" / f"note-{i}.txt"
        path.write_text(text, encoding="utf-8")
        notes[key] = path
    for i, text in enumerate(OTHER_NOTES):
        (root / "notes" / f"other-{i}.txt").write_text(text, encoding="utf-8")
    engine = Engine(tmp_path_factory.mktemp("data"), image_model=str(aligned_model_dir))
    engine.index([root])
    yield engine, photos, notes
    engine.close()


@pytest.mark.slow
def test_a_photos_related_notes_are_about_its_colour_and_shape(shape_library, capsys):
    engine, photos, notes = shape_library
    hits, right_relevance = 0, []
    for key, paths in photos.items():
        for path in paths:
            item = engine.item_by_path(path)
            related = engine.related(item.item_id, k=3)
            assert set(related) >= {Modality.PHOTO, Modality.NOTE}
            assert all(r.item_id != item.item_id for rs in related.values() for r in rs)
            top_note = related[Modality.NOTE][0]
            hits += top_note.path == str(notes[key])
            right_relevance.append(top_note.relevance)
            assert 0.0 <= top_note.relevance <= 1.0
            assert {c.space for c in top_note.components} == {"text"}  # reached through the map
            # Its own space directly: the other photo of the same colour and shape comes first.
            assert related[Modality.PHOTO][0].path in {str(p) for p in paths}
    total = sum(len(p) for p in photos.values())
    _report(capsys, f"related notes of {total} photos through the image->text map: top-1 right {hits}/{total}, "
            f"relevance of the top note {np.mean(right_relevance):.2f} (mean)")
    assert hits / total >= 0.5  # chance: 1 in 7 notes


@pytest.mark.slow
def test_a_notes_related_photos_show_what_it_names(shape_library):
    engine, photos, notes = shape_library
    hits = 0
    for key, path in notes.items():
        item = engine.item_by_path(path)
        top = engine.related(item.item_id, k=2)[Modality.PHOTO]
        hits += bool(top) and top[0].path in {str(p) for p in photos[key]}
    assert hits >= 3


def test_related_of_an_unknown_item_is_a_usage_error(tmp_path):
    with Engine(tmp_path / "data", image_model="tiny-random") as engine, pytest.raises(UsageError):
        engine.related(12345)


@pytest.mark.slow
def test_cli_related_prints_neighbours_per_modality(shape_library, capsys):
    import json

    from mmexplorer import cli

    engine, photos, notes = shape_library
    photo = photos[("yellow", "star")][0]
    code = cli.main(["related", str(photo), "--data-dir", str(engine.data_dir), "--json", "-k", "2"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert {line["modality"] for line in lines} == {"photo", "note"}
    assert all(line["related_to"] == str(photo) and 0 <= line["relevance"] <= 1 for line in lines)
    assert next(line["path"] for line in lines if line["modality"] == "note") == str(notes[("yellow", "star")])
    assert cli.main(["related", str(photo.parent / "missing.png"), "--data-dir", str(engine.data_dir)]) == 2
