"""The SQLite catalog: schema, migrations, items, chunks, ids that are never reused."""

from __future__ import annotations

import sqlite3

import pytest

from mmexplorer.core import catalog as cat
from mmexplorer.core.errors import CatalogError
from mmexplorer.core.types import Chunk


@pytest.fixture
def catalog(tmp_path):
    c = cat.Catalog(tmp_path / "catalog.sqlite3")
    yield c
    c.close()


def _add(c: cat.Catalog, path: str, **kw) -> int:
    args = {"modality": "photo", "size": 10, "mtime_ns": 1, "status": cat.INDEXED, "content_hash": "h" + path}
    args.update(kw)
    with c.transaction():
        return c.upsert_item(path, **args)


def test_fresh_catalog_is_at_current_version_in_wal_mode(catalog, tmp_path):
    db = sqlite3.connect(tmp_path / "catalog.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == cat.VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "c.sqlite3"
    cat.Catalog(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={cat.VERSION + 1}")
    db.close()
    with pytest.raises(CatalogError, match="newer mmexplorer"):
        cat.Catalog(path)


def test_not_a_database_is_a_catalog_error(tmp_path):
    path = tmp_path / "c.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CatalogError, match="cannot open"):
        cat.Catalog(path)


def test_upsert_keeps_the_item_id(catalog):
    first = _add(catalog, "/r/a.jpg")
    again = _add(catalog, "/r/a.jpg", size=99)
    assert first == again
    assert catalog.item(first).size == 99


def test_chunk_ids_are_never_reused_after_deletion(catalog):
    item = _add(catalog, "/r/a.jpg")
    with catalog.transaction():
        _old, first = catalog.replace_chunks(item, "image", [None])
    with catalog.transaction():
        gone = catalog.delete_items([item])
    assert gone == [("image", first[0])]
    item2 = _add(catalog, "/r/b.jpg")
    with catalog.transaction():
        _old, second = catalog.replace_chunks(item2, "image", [None])
    assert second[0] > first[0]


def test_replace_chunks_returns_old_and_new_ids_and_keeps_offsets(catalog):
    item = _add(catalog, "/r/n.txt", modality="note")
    with catalog.transaction():
        old, new = catalog.replace_chunks(item, "text", [Chunk(0, 0, 5, "hello"), Chunk(1, 6, 11, "world")])
    assert old == []
    with catalog.transaction():
        old2, new2 = catalog.replace_chunks(item, "text", [Chunk(0, 0, 3, "hey")])
    assert old2 == new and len(new2) == 1
    row = catalog.chunks(new2)[new2[0]]
    assert (row.start, row.end, row.text, row.item_id) == (0, 3, "hey", item)


def test_items_under_matches_only_that_folder_even_with_like_wildcards(catalog):
    _add(catalog, "/photos_2020/a.jpg")
    _add(catalog, "/photos%2020/b.jpg")
    _add(catalog, "/photos/c.jpg")
    _add(catalog, "/photos/sub/d.jpg")
    assert sorted(catalog.items_under(["/photos"])) == ["/photos/c.jpg", "/photos/sub/d.jpg"]
    assert sorted(catalog.items_under(["/photos%2020"])) == ["/photos%2020/b.jpg"]


def test_a_failed_transaction_leaves_nothing(catalog):
    with pytest.raises(RuntimeError), catalog.transaction():
        catalog.upsert_item("/r/x.jpg", modality="photo", size=1, mtime_ns=1, status=cat.INDEXED)
        raise RuntimeError("boom")
    assert catalog.item_by_path("/r/x.jpg") is None


def test_skipped_and_counts(catalog):
    _add(catalog, "/r/a.jpg")
    _add(catalog, "/r/b.jpg", status=cat.SKIPPED, error="truncated or corrupt image")
    _add(catalog, "/r/n.md", modality="note")
    assert catalog.counts() == {"photo": 1, "note": 1, "recording": 0}
    (s,) = catalog.skipped()
    assert (s.path, s.reason) == ("/r/b.jpg", "truncated or corrupt image")


def test_moving_an_item_keeps_id_and_chunks(catalog):
    item = _add(catalog, "/r/a.jpg")
    with catalog.transaction():
        _o, new = catalog.replace_chunks(item, "image", [None])
        catalog.move_item(item, "/r/renamed.jpg", size=10, mtime_ns=5)
    assert catalog.item_by_path("/r/renamed.jpg").id == item
    assert catalog.chunk_ids_of([item]) == [("image", new[0])]


def _open_new_catalogs(folder: str, rounds: int, barrier, errors) -> None:
    """One of several processes: each round, all of them open the same new catalog at once."""
    from pathlib import Path

    for r in range(rounds):
        barrier.wait(timeout=60)
        try:
            cat.Catalog(Path(folder) / str(r) / "catalog.sqlite3").close()
        except (CatalogError, sqlite3.Error) as e:  # reported to the test, which names it
            errors.put(f"round {r}: {e}")


def test_processes_opening_a_new_library_at_once_all_get_the_same_schema(tmp_path):
    # Before the open was retried and the migration re-read its version under the write lock,
    # about one round in six failed here ("database is locked", "duplicate column name").
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    rounds, workers = 30, 3
    barrier, errors = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(target=_open_new_catalogs, args=(str(tmp_path), rounds, barrier, errors))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0] * workers
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    for r in range(rounds):
        db = sqlite3.connect(tmp_path / str(r) / "catalog.sqlite3")
        assert db.execute("PRAGMA user_version").fetchone()[0] == cat.VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()


def test_an_upgrade_that_fails_part_way_leaves_the_old_schema_whole(tmp_path, monkeypatch):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for version, script in enumerate(cat._MIGRATIONS[:3]):
        db.executescript("BEGIN;" + script + f"PRAGMA user_version={version + 1}; COMMIT;")
    db.close()
    # The last step breaks on its final statement: nothing of the steps before it may stay either.
    broken = cat._MIGRATIONS[:-1] + [cat._MIGRATIONS[-1] + "\nALTER TABLE no_such_table ADD COLUMN x;"]
    monkeypatch.setattr(cat, "_MIGRATIONS", broken)
    with pytest.raises(CatalogError, match="no_such_table"):
        cat.Catalog(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    columns = {row[1] for row in db.execute("PRAGMA table_info(items)")}
    assert "duration_s" not in columns  # added by step 4, which was rolled back with step 5
    db.close()
    monkeypatch.undo()
    c = cat.Catalog(path)  # the real upgrade then goes through
    assert "duration_s" in {row[1] for row in c._db.execute("PRAGMA table_info(items)")}
    c.close()
