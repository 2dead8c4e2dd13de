"""The generated benchmark libraries (devtools.worlds): their data files load and their labels hold."""

from __future__ import annotations

from pathlib import Path

from mmexplorer.devtools import worlds


def test_the_pool_loads_from_its_data_files_and_its_invariants_hold() -> None:
    assert len(worlds.NOTE_POOL) == 77
    assert len({n.key for n in worlds.NOTE_POOL}) == 77
    assert worlds.NOTE_POOL[0].key == "gutters" and worlds.NOTE_POOL[0].rare == ("Pemberton",)
    assert dict(worlds.SPECIAL_PHOTO_NAMES)["P1040871.JPG"] == ()
    assert "the meaning of life" in worlds.OFFTOPIC_QUERIES
    assert worlds.check_pool() == []


def test_a_small_world_is_labelled_and_deterministic(tmp_path: Path) -> None:
    a = worlds.make_world(tmp_path / "a", photos=40, notes=12, seed=3, photo_size=(32, 32))
    b = worlds.make_world(tmp_path / "b", photos=40, notes=12, seed=3, photo_size=(32, 32))
    counts = a.counts()
    assert counts["photos"] == 40 and counts["notes"] == 12
    assert all(counts[k] > 0 for k in ("photo_queries", "note_queries", "multi_queries", "exact_queries"))
    assert a.offtopic_queries == worlds.OFFTOPIC_QUERIES
    rel = lambda w, qs: [(q, sorted(p.relative_to(w.root) for p in right)) for q, right in qs]
    for kind in ("photo_queries", "note_queries", "multi_queries", "exact_queries"):
        assert rel(a, getattr(a, kind)) == rel(b, getattr(b, kind))
        assert all(right and all(p.is_file() for p in right) for _q, right in getattr(a, kind))
    for path, key in a.note_keys.items():
        note = next(n for n in worlds.NOTE_POOL if n.key == key)
        assert note.title in path.read_text(encoding="utf-8")
