"""File names that are not valid UTF-8 (Latin-1 bytes from FAT sticks and old archives), end to end in
core: the lossless stored form, the catalog, discovery, hashing, decoding, thumbnails, logging,
the engine's index/search/remove. Such names reach Python as str with surrogate escapes (PEP 383),
so every test makes them from bytes with os.fsencode/os.fsdecode."""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import sys
from pathlib import Path

import pytest

from mmexplorer.core import catalog as cat
from mmexplorer.core import media, names, paths, thumbnails
from mmexplorer.core.engine import Engine

pytestmark = pytest.mark.skipif(sys.platform == "win32" or sys.platform == "darwin",
                                reason="needs a file system that takes any bytes in a name")

CAFE = b"caf\xe9"  # "café" in Latin-1: not valid UTF-8


def _fs(*parts: bytes | str) -> str:
    """A path from byte (or str) parts, as Python's os functions give it (surrogate-escaped str)."""
    return os.fsdecode(os.path.join(*[os.fsencode(p) for p in parts]))


def _photo(path: str, color=(200, 30, 30)) -> str:
    from PIL import Image

    Image.new("RGB", (64, 48), color).save(path, format="PNG")
    return path


# -- the stored form ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "plain/ascii.png",
        "ünïcødé/日本語/😀.jpg",
        os.fsdecode(b"/photos/caf\xe9.png"),
        os.fsdecode(b"\xff\xfe\x80 odd \xc3"),  # bytes that never start or finish a UTF-8 letter
        os.fsdecode(b"mixed \xc3\xa9 and \xe9"),  # valid é next to a Latin-1 é
        "with \uffff escape",
        "\uffff\uffff",
        os.fsdecode(b"\xe9\xef\xbf\xbf"),  # an escaped byte next to a literal U+FFFF
        "\ufffd already replaced",
        "lone \ud800 surrogate",  # a Windows name (UTF-16) may hold one
        "\uffffu12",  # looks like an escape, is a name
    ],
)
def test_the_stored_form_is_valid_utf8_and_gives_the_name_back(name):
    stored = names.to_stored(name)
    stored.encode("utf-8")  # SQLite, JSON and Qt can take it
    assert names.from_stored(stored) == name


def test_the_stored_form_round_trips_random_byte_names():
    rng = random.Random(8)
    alphabet = [bytes([b]) for b in range(1, 256) if b != 0x2F] + ["é".encode(), "€".encode(), "\uffff".encode()]
    for _ in range(3000):
        raw = b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        name = os.fsdecode(raw)
        stored = names.to_stored(name)
        stored.encode("utf-8")
        assert names.from_stored(stored) == name
        assert os.fsencode(names.from_stored(stored)) == raw


def test_valid_names_are_stored_unchanged_and_prefixes_stay_prefixes():
    for name in ("/home/ann/Photos/IMG_2034.JPG", "/tmp/é/ü.txt", "/x/\ufffd.png"):
        assert names.to_stored(name) == name
    root, rest = _fs(b"/media/", CAFE), os.fsdecode(b"/Fotos \xe9t\xe9/a.png")
    assert names.to_stored(root + rest).startswith(names.to_stored(root))


def test_display_path_shows_undecodable_bytes_as_replacement_characters():
    assert names.display_path(_fs(b"/p/", CAFE + b".png")) == "/p/caf\ufffd.png"
    assert names.display_path(b"/p/caf\xe9.png") == "/p/caf\ufffd.png"
    assert names.display_path(Path(_fs(b"/p/", CAFE))) == "/p/caf\ufffd"
    assert names.display_path("/p/ok é.png") == "/p/ok é.png"
    assert names.display_path("lone \ud800") == "lone \ufffd"
    json.dumps(names.display_path(_fs(CAFE)), ensure_ascii=False).encode("utf-8")


def test_file_uri_names_the_real_bytes():
    from urllib.parse import unquote_to_bytes

    path = _fs(b"/media/Fotos " + CAFE + b" 100%.png")
    uri = names.file_uri(path)
    assert uri == "file:///media/Fotos%20caf%E9%20100%25.png"
    assert unquote_to_bytes(uri[len("file://"):]) == os.fsencode(path)
    assert names.file_uri("/tmp/é.png") == "file:///tmp/%C3%A9.png"


def test_searchable_name_reads_undecodable_bytes_as_latin1():
    assert names.searchable_name(os.fsdecode(b"caf\xe9.png")) == "café.png"
    assert names.searchable_name("plain.png") == "plain.png"


# -- the catalog --------------------------------------------------------------------------------
@pytest.fixture
def catalog(tmp_path):
    c = cat.Catalog(tmp_path / "catalog.sqlite3")
    yield c
    c.close()


def _add(c: cat.Catalog, path: str, status: str = cat.INDEXED, **kw) -> int:
    with c.transaction():
        return c.upsert_item(path, modality="photo", size=1, mtime_ns=1, status=status, content_hash="h", **kw)


def test_catalog_takes_and_gives_back_names_that_are_not_utf8(catalog):
    root = _fs(b"/media/stick/Fotos ", CAFE)
    photo = _fs(b"/media/stick/Fotos ", CAFE, CAFE + b".png")
    other = "/media/stick/Fotos plain/x.png"
    with catalog.transaction():
        catalog.add_root(root)
    item = _add(catalog, photo)
    _add(catalog, other)
    _add(catalog, _fs(b"/media/stick/Fotos ", CAFE, b"kaputt \xe9.jpg"), status=cat.SKIPPED, error=f"bad: {photo}")

    assert catalog.roots() == [root]
    assert catalog.item(item).path == photo
    assert catalog.item_by_path(photo).id == item
    under = catalog.items_under([root])
    assert sorted(under) == sorted([photo, _fs(b"/media/stick/Fotos ", CAFE, b"kaputt \xe9.jpg")])
    (skipped,) = catalog.skipped()
    assert skipped.path == _fs(b"/media/stick/Fotos ", CAFE, b"kaputt \xe9.jpg")
    assert "\ufffd" in skipped.reason  # a reason is for people: a path quoted in it is shown
    assert [p for _i, p in catalog.match_names('name : "cafe"')] == [photo]  # the name index reads it as Latin-1

    moved = _fs(b"/media/stick/Fotos ", CAFE, b"\xe9t\xe9.png")
    with catalog.transaction():
        catalog.move_item(item, moved, size=1, mtime_ns=2)
    assert catalog.item(item).path == moved
    assert [p for _i, p in catalog.match_names('name : "ete"')] == [moved]
    with catalog.transaction():
        catalog.remove_root(root)
    assert catalog.roots() == []


def test_items_under_is_an_exact_prefix_match(catalog):
    _add(catalog, "/lib/Photos/a.png")
    _add(catalog, "/lib/photos/b.png")  # SQLite's LIKE alone would take it for /lib/Photos
    _add(catalog, "/lib/Photos2/c.png")
    assert list(catalog.items_under(["/lib/Photos"])) == ["/lib/Photos/a.png"]


def test_migration_3_keeps_a_literal_escape_character_already_in_the_catalog(tmp_path):
    db_path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(db_path, isolation_level=None)
    for version, script in enumerate(cat._MIGRATIONS[:2]):
        db.executescript("BEGIN;" + script + f"PRAGMA user_version={version + 1}; COMMIT;")
    odd = "/lib/odd \uffff name.png"
    db.execute(
        "INSERT INTO items(path, modality, size, mtime_ns, status) VALUES(?, 'photo', 1, 1, 'indexed')", (odd,)
    )
    db.execute("INSERT INTO roots(path, added_at) VALUES('/lib/\uffff', 0)")
    db.close()
    c = cat.Catalog(db_path)
    try:
        assert c.item(1).path == odd
        assert c.roots() == ["/lib/\uffff"]
        assert [p for _i, p in c.match_names('"odd" AND "name"')] == [odd]
    finally:
        c.close()


# -- the files themselves ------------------------------------------------------------------------
def test_discovery_hashing_decoding_and_thumbnails_take_such_names(tmp_path):
    folder = os.path.join(os.fsencode(tmp_path), b"Fotos " + CAFE)
    os.mkdir(folder)
    photo = _photo(_fs(folder, CAFE + b".png"))

    found = [str(p) for p in media.walk(str(tmp_path))]
    assert found == [photo]
    assert media.classify(Path(photo)) is not None
    assert len(media.content_hash(Path(photo))) == 32
    assert media.load_image(Path(photo)).size == (64, 48)

    cache = tmp_path / "thumbs"
    thumb = thumbnails.make_thumbnail(photo, cache, side=32)
    assert thumb.exists() and thumb.name.isascii()
    assert thumbnails.make_thumbnail(photo, cache, side=32) == thumb  # found again by its key
    assert thumbnails.cache_key(photo, mtime_ns=1, size=1, side=1) != thumbnails.cache_key(
        _fs(folder, b"caf\xe8.png"), mtime_ns=1, size=1, side=1
    )


def test_logging_such_a_name_to_the_log_file_never_fails(tmp_path, capsys):
    from mmexplorer import log as log_mod

    path = log_mod.setup_logging(tmp_path / "data")
    try:
        logging.getLogger("mmexplorer.test").warning("skipping %s", _fs(b"/x/", CAFE))
        log_mod._handler.flush()
        assert "Logging error" not in capsys.readouterr().err
        assert "caf\\udce9" in path.read_text(encoding="utf-8")
    finally:
        root = logging.getLogger("mmexplorer")
        root.removeHandler(log_mod._handler)
        log_mod._handler.close()
        log_mod._handler = None


# -- the engine ----------------------------------------------------------------------------------
def test_index_search_and_remove_a_root_whose_names_are_not_utf8(tmp_path):
    top = os.fsencode(tmp_path)
    root = _fs(top, b"Stick " + CAFE)
    os.mkdir(root)
    _photo(_fs(root, b"a " + CAFE + b".png"))
    (Path(root) / "plain.png").write_bytes(Path(_photo(str(tmp_path / "p.png"), (20, 200, 20))).read_bytes())
    note = _fs(root, b"r\xe9sum\xe9.txt")
    Path(note).write_text("The lighthouse keeper logs every passing ship in the harbour.\n", encoding="utf-8")
    Path(_fs(root, b"kaputt \xe9.jpg")).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")

    with Engine(tmp_path / "data", image_model="tiny-random") as engine:
        report = engine.index([root])
        assert (report.added, report.skipped) == (3, 1)
        (skipped,) = engine.status().skipped
        assert skipped.path == _fs(root, b"kaputt \xe9.jpg") and skipped.reason
        indexed = {p for p, row in engine.catalog.items_under([root]).items() if row.status == cat.INDEXED}
        assert indexed == {_fs(root, b"a " + CAFE + b".png"), _fs(root, "plain.png"), note}
        assert engine.space("image").ntotal == 2 and engine.space("text").ntotal == 1
        assert engine.item_by_path(note).text.startswith("The lighthouse")
        assert engine.status().roots == (root,)

        os.remove(_fs(root, b"a " + CAFE + b".png"))
        assert engine.index().removed == 1
        assert _fs(root, b"a " + CAFE + b".png") not in engine.catalog.items_under([root])
        assert engine.space("image").ntotal == 1

        assert engine.remove_root(root) == 3  # plain.png, the note, the skipped file
        assert engine.status().roots == () and engine.catalog.count_items() == 0
        assert engine.space("image").ntotal == 0 and engine.space("text").ntotal == 0


def test_data_dir_whose_name_is_not_utf8(tmp_path):
    data = _fs(os.fsencode(tmp_path), b"Biblioth\xe8que")
    lib = tmp_path / "lib"
    lib.mkdir()
    _photo(str(lib / "a.png"))
    with Engine(data, image_model="tiny-random") as engine:
        assert engine.index([str(lib)]).added == 1
    assert paths.catalog_path(Path(data)).exists()
    with Engine(data) as engine:  # the FAISS file is read back from there too
        assert engine.space("image").ntotal == 1


def test_a_latin1_file_name_is_found_by_its_words(tmp_path):
    from mmexplorer.core.engine import Engine
    from mmexplorer.core.types import TextQuery
    from mmexplorer.devtools import synth

    folder = os.fsencode(tmp_path / "lib")
    os.makedirs(folder)
    synth.render_shape("red", "circle", size=48, seed=1).save(os.fsdecode(os.path.join(folder, b"caf\xe9 terrace.png")))
    with Engine(tmp_path / "data", image_model="tiny-random", device="cpu") as engine:
        engine.index([os.fsdecode(folder)])
        results = engine.search(TextQuery("cafe terrace"), k=3)
    assert results and results[0].relevant and os.fsencode(results[0].path).endswith(b"caf\xe9 terrace.png")


def test_words_joined_by_underscores_in_a_name_are_found_one_by_one(tmp_path):
    """Hochzeit_Lena_Jannik.png holds the words hochzeit, lena and jannik, as a person reads it."""
    from mmexplorer.core.engine import Engine
    from mmexplorer.core.types import TextQuery
    from mmexplorer.devtools import synth

    lib = tmp_path / "lib"
    lib.mkdir()
    names = ["Hochzeit_Lena_Jannik.png", "IMG_0042.png", "IMG_0420.png", "Seebrücke_Ahlbeck.png", "holiday.png"]
    for i, name in enumerate(names):
        synth.render_shape("red", "circle", size=48, seed=i).save(lib / name)

    def first(engine, query):
        relevant = [r for r in engine.search(TextQuery(query), k=5) if r.relevant]
        assert relevant, f"nothing relevant for {query!r}"
        assert any(c.space == "lexical" and c.via == "name" for c in relevant[0].components)
        return [os.path.basename(r.path) for r in relevant]

    with Engine(tmp_path / "data", image_model="tiny-random", device="cpu") as engine:
        engine.index([lib])
        assert first(engine, "Hochzeit") == ["Hochzeit_Lena_Jannik.png"]
        assert first(engine, "lena jannik") == ["Hochzeit_Lena_Jannik.png"]
        assert first(engine, "Ahlbeck") == ["Seebrücke_Ahlbeck.png"]
        assert first(engine, "seebrucke") == ["Seebrücke_Ahlbeck.png"]  # accents aside, as FTS5 compares
        assert first(engine, "IMG_0042") == ["IMG_0042.png"]  # the tokens side by side, not IMG_0420
        assert first(engine, "0042") == ["IMG_0042.png"]


@pytest.mark.parametrize(
    ("name", "read_as"),
    [
        ("MeetingNotesQ3.md", ["Meeting Notes Q3"]),
        ("HTMLParser.py", ["HTML Parser"]),
        ("IMG20230714_101530.jpg", ["IMG 20230714"]),
        ("DSC01234.JPG", ["DSC 01234"]),
        ("o'brien's party.png", ["obrien"]),
        ("recipe_grandma's_lasagne.txt", ["grandmas", "grandma"]),
        ("e-mail.png", ["email"]),
        ("2023-07-14 Geburtstag.jpg", ["20230714"]),
        ("東京タワー.png", ["東京", "タワー"]),
    ],
)
def test_name_parts_reads_the_words_a_person_sees(name, read_as):
    parts = names.name_parts(name).split()
    for words in read_as:
        assert all(w in parts for w in words.split()), (name, parts)


@pytest.mark.parametrize("name", ["mp3 player.mp3", "x264.mkv", "IMG_0042.jpg", "plain name.png", "Q3.txt"])
def test_name_parts_adds_nothing_where_the_tokens_are_the_words(name):
    assert names.name_parts(name) == ""


def test_words_a_name_runs_together_are_found(tmp_path):
    """camelCase, letters against digits, apostrophes and hyphens, CJK: found as a person reads them,
    ranked below a name holding the query's own words, and a word inside another is not a match."""
    from mmexplorer.core.engine import Engine
    from mmexplorer.core.types import TextQuery
    from mmexplorer.devtools import synth

    lib = tmp_path / "lib"
    lib.mkdir()
    files = ["MeetingNotesQ3.png", "IMG20230714_101530.png", "2023-07-14 Geburtstag.png", "o'brien's party.png",
             "e-mail.png", "東京タワー.png", "concatenate.png", "meeting notes.png"]
    for i, name in enumerate(files):
        synth.render_shape("blue", "square", size=48, seed=i).save(lib / name)

    def found(engine, query):
        return [os.path.basename(r.path) for r in engine.search(TextQuery(query), k=8) if r.relevant]

    with Engine(tmp_path / "data", image_model="tiny-random", device="cpu") as engine:
        engine.index([lib])
        assert found(engine, "meeting notes") == ["meeting notes.png", "MeetingNotesQ3.png"]
        assert found(engine, "notes q3") == ["MeetingNotesQ3.png"]
        assert sorted(found(engine, "20230714")) == ["2023-07-14 Geburtstag.png", "IMG20230714_101530.png"]
        assert found(engine, "obrien") == ["o'brien's party.png"]
        assert found(engine, "email") == ["e-mail.png"]
        assert found(engine, "東京") == ["東京タワー.png"]
        assert found(engine, "cat") == []
        # a rename keeps the words in step (the catalog's triggers)
        os.rename(lib / "e-mail.png", lib / "PostBox.png")
        engine.index([lib])
        assert found(engine, "email") == []
        assert found(engine, "post box") == ["PostBox.png"]


def test_migration_6_reads_the_names_already_in_the_catalog(tmp_path):
    db_path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(db_path, isolation_level=None)
    for version, script in enumerate(cat._MIGRATIONS[:5]):
        db.executescript("BEGIN;" + script + f"PRAGMA user_version={version + 1}; COMMIT;")
    db.execute(
        "INSERT INTO items(path, modality, size, mtime_ns, status) VALUES('/lib/MeetingNotes.md', 'note', 1, 1, 'indexed')"
    )
    db.close()
    c = cat.Catalog(db_path)
    try:
        assert [p for _i, p in c.match_name_words('"meeting" AND "notes"')] == ["/lib/MeetingNotes.md"]
    finally:
        c.close()
